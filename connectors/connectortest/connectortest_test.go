package connectortest_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

// memSink is a correct sink that keeps copies in memory.
type memSink struct {
	mu   sync.Mutex
	recs []runtime.Record
}

func (s *memSink) Open(context.Context, runtime.Env) error { return nil }
func (s *memSink) Write(_ context.Context, recs []runtime.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range recs {
		s.recs = append(s.recs, recs[i].Clone())
	}
	return nil
}
func (s *memSink) Close(context.Context) error { return nil }

// memSource is a correct bounded source over a slice.
type memSource struct {
	all   []runtime.Record
	batch int
}

func (s *memSource) Open(_ context.Context, env runtime.Env) error {
	s.batch = env.BatchSize
	return nil
}

func (s *memSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if len(s.all) == 0 {
		return nil, nil, io.EOF
	}
	n := min(s.batch, len(s.all))
	out := make([]runtime.Record, n)
	for i := range out {
		out[i] = s.all[i].Clone()
	}
	s.all = s.all[n:]
	return out, func(error) {}, nil
}

func (s *memSource) Close(context.Context) error { return nil }

func TestSuitesPassForCorrectComponents(t *testing.T) {
	connectortest.RunSinkSuite(t, func(t *testing.T) (runtime.Sink, func() []runtime.Record) {
		s := &memSink{}
		return s, func() []runtime.Record { return s.recs }
	})
	connectortest.RunSourceSuite(t, func(t *testing.T) (runtime.Source, []runtime.Record) {
		var recs []runtime.Record
		for i := range 20 {
			recs = append(recs, runtime.Record{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i)), Timestamp: int64(i + 1)})
		}
		return &memSource{all: append([]runtime.Record(nil), recs...)}, recs
	})
}

func TestDecodeAndDocs(t *testing.T) {
	type cfg struct {
		Name  string `yaml:"name" default:"x" doc:"A name."`
		Count int    `yaml:"count" required:"true" doc:"A count."`
	}
	register := func(r *runtime.Registry) {
		runtime.AddSource(r, "mem", "In memory.", func(*cfg) (runtime.Source, error) { return &memSource{}, nil })
	}
	connectortest.CheckDocs(t, register)
	c := connectortest.MustDecodeSource[cfg](t, register, "mem", "{count: 3}")
	if c.Name != "x" || c.Count != 3 {
		t.Errorf("decoded %+v", *c)
	}
	_, err := connectortest.DecodeSource[cfg](t, register, "mem", "{}")
	if got := connectortest.ConfigProblems(t, err); len(got) != 1 || got[0] != "source.mem.count: required" {
		t.Errorf("problems %q", got)
	}
}
