package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// memSource is an in-memory source for engine tests: it returns its records
// in chunks and records every acknowledgement. With endless set it blocks
// after its records instead of returning io.EOF.
type memSource struct {
	recs    []runtime.Record
	chunk   int
	endless bool

	mu     sync.Mutex
	next   int
	acked  []int // chunk start offsets acknowledged with nil
	nacked []int
	reads  int
	ackErr []error
}

func (s *memSource) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *memSource) Close(ctx context.Context) error                 { return nil }

func (s *memSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	s.mu.Lock()
	if s.next >= len(s.recs) {
		s.mu.Unlock()
		if s.endless {
			<-ctx.Done()
			return nil, nil, ctx.Err()
		}
		return nil, nil, io.EOF
	}
	start := s.next
	end := min(start+s.chunk, len(s.recs))
	s.next = end
	s.reads++
	s.mu.Unlock()
	out := append([]runtime.Record(nil), s.recs[start:end]...)
	return out, func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.nacked = append(s.nacked, start)
			s.ackErr = append(s.ackErr, err)
		} else {
			s.acked = append(s.acked, start)
		}
	}, nil
}

func (s *memSource) counts() (reads, acked, nacked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads, len(s.acked), len(s.nacked)
}

// memSink collects what it is given. failFirst makes the first N writes fail;
// failIf fails any write containing a matching record; block makes Write
// wait until ctx is done.
type memSink struct {
	failFirst int
	partial   bool // report failures as a BatchError for odd indexes
	block     bool

	mu     sync.Mutex
	writes int
	got    []runtime.Record
	closed bool
}

func (s *memSink) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *memSink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *memSink) Write(ctx context.Context, recs []runtime.Record) error {
	if s.block {
		<-ctx.Done()
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.writes <= s.failFirst {
		if s.partial && len(recs) > 1 {
			be := &runtime.BatchError{}
			for i := range recs {
				if i%2 == 1 {
					be.Failed = append(be.Failed, i)
					be.Errs = append(be.Errs, errors.New("rejected"))
				} else {
					s.got = append(s.got, recs[i].Clone())
				}
			}
			return be
		}
		return fmt.Errorf("write %d: connection refused", s.writes)
	}
	for i := range recs {
		s.got = append(s.got, recs[i].Clone())
	}
	return nil
}

func (s *memSink) records() []runtime.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]runtime.Record(nil), s.got...)
}

// funcOp is a native operator for engine tests.
type funcOp struct {
	fn func(r runtime.Record) ([]runtime.Record, error)
}

func (o *funcOp) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	for _, r := range in {
		rs, err := o.fn(r)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}
func (o *funcOp) Close(ctx context.Context) error { return nil }

type funcFactory struct {
	fn func(r runtime.Record) ([]runtime.Record, error)
}

func (f *funcFactory) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	return &funcOp{fn: f.fn}, nil
}
func (f *funcFactory) Close(ctx context.Context) error { return nil }

type opConfig struct {
	runtime.OperatorSettings `yaml:",inline"`
	Fn                       string `yaml:"fn" required:"true" oneof:"upper|fail_bad|route_alerts|route_nowhere|tag_instance" doc:"which test function"`
}

type noConfig struct{}

// testRegistry registers placeholder source and sink names (tests replace
// them with WithSource/WithSink), a "collect" sink per name in sinks, and
// the test operators.
func testRegistry(sinks map[string]*memSink) *runtime.Registry {
	r := runtime.NewRegistry()
	runtime.AddSource(r, "test", "replaced in tests", func(*noConfig) (runtime.Source, error) { return &memSource{}, nil })
	runtime.AddSink(r, "test", "replaced in tests", func(*noConfig) (runtime.Sink, error) { return &memSink{}, nil })
	type named struct {
		Name string `yaml:"name" required:"true"`
	}
	runtime.AddSink(r, "collect", "a named memSink", func(c *named) (runtime.Sink, error) {
		s, ok := sinks[c.Name]
		if !ok {
			return nil, fmt.Errorf("no test sink %q", c.Name)
		}
		return s, nil
	})
	runtime.AddOperator(r, "func", "test operators", func(c *opConfig) (runtime.OperatorFactory, error) {
		switch c.Fn {
		case "upper":
			return &funcFactory{fn: func(r runtime.Record) ([]runtime.Record, error) {
				r.Value = bytes.ToUpper(r.Value)
				return []runtime.Record{r}, nil
			}}, nil
		case "fail_bad":
			return &funcFactory{fn: func(r runtime.Record) ([]runtime.Record, error) {
				if bytes.HasPrefix(r.Value, []byte("bad")) {
					return nil, fmt.Errorf("cannot process %q", r.Value)
				}
				return []runtime.Record{r}, nil
			}}, nil
		case "route_alerts":
			return &funcFactory{fn: func(r runtime.Record) ([]runtime.Record, error) {
				if bytes.Contains(r.Value, []byte("alert")) {
					r.Output = "alerts"
				}
				return []runtime.Record{r}, nil
			}}, nil
		case "route_nowhere":
			return &funcFactory{fn: func(r runtime.Record) ([]runtime.Record, error) {
				r.Output = "nowhere"
				return []runtime.Record{r}, nil
			}}, nil
		}
		return nil, fmt.Errorf("unknown fn %q", c.Fn)
	})
	return r
}

func keyed(n, keys int) []runtime.Record {
	recs := make([]runtime.Record, n)
	for i := range recs {
		recs[i] = runtime.Record{Key: []byte(fmt.Sprintf("key-%d", i%keys)), Value: []byte(fmt.Sprintf("value %d", i)), Timestamp: int64(i)}
	}
	return recs
}

func parse(t *testing.T, reg *runtime.Registry, yaml string) *runtime.Spec {
	t.Helper()
	spec, err := runtime.Parse([]byte(yaml), reg)
	if err != nil {
		t.Fatal(err)
	}
	spec.DataDir = t.TempDir()
	return spec
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkNoLeaks fails the test if goroutines started during it are still
// running once it ends.
func checkNoLeaks(t *testing.T) {
	before := goruntime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for goruntime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := goruntime.Stack(buf, true)
				t.Fatalf("goroutines leaked: %d before, %d after\n%s", before, goruntime.NumGoroutine(), buf[:n])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// runAll builds spec with src and a memSink, runs it to the end, failing t
// on an error, and returns the sink.
func runAll(t *testing.T, spec *runtime.Spec, src runtime.Source) *memSink {
	t.Helper()
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return sink
}
