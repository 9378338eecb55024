package runtime_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// txnSink is a transactional sink in memory: Write stages records in the
// open transaction, PrepareCheckpoint closes it under the checkpoint's id,
// CompleteCheckpoint makes it visible (once, however often it is called).
// It stands for a Kafka-style two-phase sink; the Kafka connector's tests
// run the real thing.
type txnSink struct {
	mu        sync.Mutex
	open      []runtime.Record
	prepared  map[uint64][]runtime.Record
	committed []runtime.Record
	completes []uint64 // every CompleteCheckpoint call's id
	env       runtime.Env
	opened    int
}

func (s *txnSink) Open(ctx context.Context, env runtime.Env) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.env = env
	s.opened++
	if s.prepared == nil {
		s.prepared = map[uint64][]runtime.Record{}
	}
	return nil
}

func (s *txnSink) Close(ctx context.Context) error { return nil }

func (s *txnSink) Write(ctx context.Context, recs []runtime.Record) error {
	time.Sleep(time.Millisecond) // a write's round trip, so that checkpoints fall due while records flow
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range recs {
		s.open = append(s.open, recs[i].Clone())
	}
	return nil
}

func (s *txnSink) PrepareCheckpoint(ctx context.Context, id uint64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.open) == 0 {
		return nil, nil
	}
	s.prepared[id] = s.open
	s.open = nil
	return []byte("txn-" + strconv.FormatUint(id, 10)), nil
}

func (s *txnSink) CompleteCheckpoint(ctx context.Context, id uint64, handle []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.completes = append(s.completes, id)
	if handle == nil {
		return nil
	}
	if string(handle) != "txn-"+strconv.FormatUint(id, 10) {
		return fmt.Errorf("handle %q for checkpoint %d", handle, id)
	}
	s.committed = append(s.committed, s.prepared[id]...)
	delete(s.prepared, id)
	return nil
}

func (s *txnSink) AbortCheckpoint(ctx context.Context, id uint64, handle []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.prepared, id)
	return nil
}

// TestParticipantMakesAStatelessPipelineCheckpoint: a sink that takes part
// in checkpoints gets them without any operator keeping state; every record
// is committed once, through prepare and complete, and the handle of the
// last checkpoint comes back at the next Open.
func TestParticipantMakesAStatelessPipelineCheckpoint(t *testing.T) {
	reg := testRegistry(nil)
	spec := parse(t, reg, `
pipeline: txn
batch: {size: 10, linger: 1ms}
source: {test: {}}
operators: [{func: {fn: upper}}]
sink: {test: {}}
state: {checkpoint_interval: 10ms, query: "off"}
`)
	sink := &txnSink{}
	src := &memSource{recs: keyed(2000, 7), chunk: 10}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Checkpoints < 2 {
		t.Fatalf("%d checkpoints in a stateless pipeline with a participant; want several", st.Checkpoints)
	}
	if len(sink.committed) != 2000 || len(sink.open) != 0 || len(sink.prepared) != 0 {
		t.Fatalf("committed %d, open %d, prepared %d; want 2000, 0, 0", len(sink.committed), len(sink.open), len(sink.prepared))
	}
	if !sink.env.Checkpointing || sink.env.Prepared != nil {
		t.Fatalf("first run: Checkpointing %v, Prepared %v", sink.env.Checkpointing, sink.env.Prepared)
	}
	last := sink.completes[len(sink.completes)-1]

	// The next run is handed the last checkpoint's handle, to complete
	// again (harmlessly) after a crash. The source resumes past the
	// records, so nothing is written twice.
	p, err = runtime.Build(spec, runtime.WithSource(&memSource{chunk: 10}), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	pr := sink.env.Prepared
	if pr == nil {
		t.Fatal("second run: no prepared handle at Open")
	}
	if pr.Checkpoint > last || string(pr.Handle) != "txn-"+strconv.FormatUint(pr.Checkpoint, 10) {
		t.Fatalf("second run: prepared %+v, last completed checkpoint %d", pr, last)
	}
	if len(sink.committed) != 2000 {
		t.Fatalf("committed %d after the second run", len(sink.committed))
	}
}

// failingPrepareSink fails its prepare: the checkpoint is aborted and the
// pipeline stops with a state error; nothing prepared is completed.
type failingPrepareSink struct{ txnSink }

func (s *failingPrepareSink) PrepareCheckpoint(ctx context.Context, id uint64) ([]byte, error) {
	return nil, errors.New("broker unavailable")
}

func TestFailedPrepareStopsThePipeline(t *testing.T) {
	spec := parse(t, testRegistry(nil), `
pipeline: txnfail
batch: {size: 10, linger: 1ms}
source: {test: {}}
sink: {test: {}}
state: {checkpoint_interval: 10ms, query: "off"}
`)
	sink := &failingPrepareSink{}
	p, err := runtime.Build(spec, runtime.WithSource(&memSource{recs: keyed(50, 3), chunk: 10}), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(t.Context())
	var se *runtime.StageError
	if !errors.As(err, &se) || se.Kind != runtime.KindState || !errors.Is(err, runtime.ErrCheckpoint) {
		t.Fatalf("Run: %v; want a state error wrapping ErrCheckpoint", err)
	}
	if len(sink.committed) != 0 || len(sink.completes) != 0 {
		t.Fatalf("completed %v after a failed prepare", sink.completes)
	}
}

// TestAcksWaitForTheCheckpoint: in a pipeline with keyed state, a source
// whose position is not checkpointed (a broker that forgets acknowledged
// messages) is acknowledged only once a checkpoint covering its records
// has committed; without state, when the sinks have written them.
func TestAcksWaitForTheCheckpoint(t *testing.T) {
	for _, stateful := range []bool{true, false} {
		t.Run(fmt.Sprintf("stateful=%v", stateful), func(t *testing.T) {
			reg := testRegistry(nil)
			runtime.AddOperator(reg, "count", "keyed counter", func(*struct {
				runtime.OperatorSettings `yaml:",inline"`
			}) (runtime.OperatorFactory, error) {
				return countFactory{}, nil
			})
			op := "func: {fn: upper}"
			if stateful {
				op = "count: {}"
			}
			spec := parse(t, reg, fmt.Sprintf(`
pipeline: acks
batch: {size: 5, linger: 1ms}
source: {test: {}}
operators: [{name: op, %s}]
sink: {test: {}}
state: {checkpoint_interval: 20ms, query: "off"}
`, op))
			var p *runtime.Pipeline
			src := &checkingSource{recs: keyed(100, 4), chunk: 5, checkpoints: func() int64 { return p.Stats().Checkpoints }}
			sink := &memSink{}
			var err error
			p, err = runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			src.mu.Lock()
			defer src.mu.Unlock()
			if len(src.acks) != 20 {
				t.Fatalf("%d batches acknowledged, want 20", len(src.acks))
			}
			early := 0
			for _, a := range src.acks {
				if a.err != nil {
					t.Fatalf("batch %d nacked: %v", a.batch, a.err)
				}
				if a.checkpointsAtAck <= a.checkpointsAtRead {
					early++
				}
			}
			if stateful && early > 0 {
				t.Fatalf("%d of 20 batches acknowledged before a checkpoint covered them", early)
			}
			if !stateful && p.Stats().Checkpoints != 0 {
				t.Fatalf("a stateless pipeline checkpointed")
			}
		})
	}
}

// checkingSource records, for each batch, how many checkpoints had been
// taken when it was read and when it was acknowledged.
type checkingSource struct {
	recs        []runtime.Record
	chunk       int
	checkpoints func() int64

	mu   sync.Mutex
	next int
	acks []ackSeen
}

type ackSeen struct {
	batch                               int
	checkpointsAtRead, checkpointsAtAck int64
	err                                 error
}

func (s *checkingSource) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *checkingSource) Close(ctx context.Context) error                 { return nil }

func (s *checkingSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= len(s.recs) {
		return nil, nil, io.EOF
	}
	start := s.next
	s.next = min(start+s.chunk, len(s.recs))
	at := s.checkpoints()
	return slices.Clone(s.recs[start:s.next]), func(err error) {
		n := s.checkpoints()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.acks = append(s.acks, ackSeen{batch: start / s.chunk, checkpointsAtRead: at, checkpointsAtAck: n, err: err})
	}, nil
}

// splitSource is a SplitSource of splits "a" and "b", each a counter of
// records read. Env.Checkpoint is called from another goroutine when the
// test releases split "b", as a rebalance would.
type splitSource struct {
	limit int // records per split

	mu       sync.Mutex
	env      runtime.Env
	pos      map[string]int
	held     map[string]bool
	paused   map[string]bool // being released: not read, still held
	unacked  int
	released chan struct{}
	settled  map[string]int // positions when a split was released, with what was unacked then
	resumed  map[string]int // the positions Open was given
}

func (s *splitSource) Open(ctx context.Context, env runtime.Env) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.env = env
	s.pos = map[string]int{}
	s.held = map[string]bool{"a": true, "b": true}
	s.paused = map[string]bool{}
	s.settled = map[string]int{}
	s.resumed = map[string]int{}
	for name, b := range env.Splits {
		s.pos[name] = int(binary.BigEndian.Uint64(b))
		s.resumed[name] = s.pos[name]
	}
	return nil
}

func (s *splitSource) Close(ctx context.Context) error { return nil }

func (s *splitSource) SplitPositions() (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for name := range s.held {
		out[name] = binary.BigEndian.AppendUint64(nil, uint64(s.pos[name]))
	}
	return out, nil
}

func (s *splitSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	s.mu.Lock()
	var recs []runtime.Record
	for _, name := range []string{"a", "b"} {
		if s.held[name] && !s.paused[name] && s.pos[name] < s.limit {
			recs = append(recs, runtime.Record{Key: []byte(name), Value: []byte(strconv.Itoa(s.pos[name]))})
			s.pos[name]++
		}
	}
	if len(recs) == 0 {
		s.mu.Unlock()
		<-ctx.Done() // all read: wait, as a consumer does
		return nil, nil, ctx.Err()
	}
	s.unacked++
	s.mu.Unlock()
	return recs, func(error) {
		s.mu.Lock()
		s.unacked--
		s.mu.Unlock()
	}, nil
}

// release lets go of split name: stop reading it, settle, then drop it.
func (s *splitSource) release(ctx context.Context, name string) error {
	s.mu.Lock()
	s.paused[name] = true
	s.mu.Unlock()
	if err := s.env.Checkpoint(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settled[name] = s.unacked
	delete(s.held, name)
	return nil
}

// TestSplitsAreCheckpointedAndSettled: split positions are kept in the
// checkpoint (those of splits released too), handed back at Open, and a
// source's Env.Checkpoint returns only once everything it read is written.
func TestSplitsAreCheckpointedAndSettled(t *testing.T) {
	reg := testRegistry(nil)
	runtime.AddOperator(reg, "count", "keyed counter", func(*struct {
		runtime.OperatorSettings `yaml:",inline"`
	}) (runtime.OperatorFactory, error) {
		return countFactory{}, nil
	})
	spec := parse(t, reg, `
pipeline: splits
batch: {size: 4, linger: 1ms}
source: {test: {}}
operators: [{name: count, count: {}}]
sink: {test: {}}
state: {checkpoint_interval: 1h, query: "off"}
`)
	src := &splitSource{limit: 50}
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "split b read to its end", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.pos["b"] == 50
	})
	if err := src.release(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if src.settled["b"] != 0 {
		t.Fatalf("Env.Checkpoint returned with %d batches unacknowledged", src.settled["b"])
	}
	if p.Stats().Checkpoints == 0 {
		t.Fatal("Env.Checkpoint took no checkpoint in a stateful pipeline")
	}
	waitFor(t, "split a read to its end", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.pos["a"] == 50
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(sink.records()); n != 100 {
		t.Fatalf("sink got %d records, want 100", n)
	}
	// The next run gets both splits' positions, b's though it was
	// released: it reads nothing again.
	src2 := &splitSource{limit: 50}
	p, err = runtime.Build(spec, runtime.WithSource(src2), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "the second run to open", func() bool {
		src2.mu.Lock()
		defer src2.mu.Unlock()
		return src2.pos != nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := src2.resumed; got["a"] != 50 || got["b"] != 50 {
		t.Fatalf("second run resumed at %v, want a and b at 50", got)
	}
	if n := len(sink.records()); n != 100 {
		t.Fatalf("sink got %d records after the second run, want 100", n)
	}
}

// rejectingSink refuses records whose value starts with "huge" for good
// (runtime.Rejected) and writes the others.
type rejectingSink struct {
	memSink
	attempts map[string]int
}

func (s *rejectingSink) Write(ctx context.Context, recs []runtime.Record) error {
	be := &runtime.BatchError{}
	var ok []runtime.Record
	for i, r := range recs {
		if s.attempts == nil {
			s.attempts = map[string]int{}
		}
		s.attempts[string(r.Value)]++
		if len(r.Value) >= 4 && string(r.Value[:4]) == "huge" {
			be.Failed = append(be.Failed, i)
			be.Errs = append(be.Errs, runtime.Rejected(fmt.Errorf("record of %d bytes over the broker's limit", len(r.Value))))
			continue
		}
		ok = append(ok, r)
	}
	if err := s.memSink.Write(ctx, ok); err != nil {
		return err
	}
	if len(be.Failed) > 0 {
		return be
	}
	return nil
}

// TestRejectedRecordsGoToTheFailurePolicy: a record the destination
// refuses is not retried; it is dead-lettered at once, and the others of
// its batch are written once.
func TestRejectedRecordsGoToTheFailurePolicy(t *testing.T) {
	spec := parse(t, testRegistry(nil), `
pipeline: reject
batch: {size: 10, linger: 1ms}
source: {test: {}}
sink: {test: {}}
on_error: {action: dead_letter, dead_letter: {test: {}}}
`)
	var recs []runtime.Record
	for i := range 30 {
		v := fmt.Sprintf("v%d", i)
		if i%7 == 3 {
			v = fmt.Sprintf("huge%d", i)
		}
		recs = append(recs, runtime.Record{Key: []byte(strconv.Itoa(i % 3)), Value: []byte(v)})
	}
	sink, dlq := &rejectingSink{}, &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(&memSource{recs: recs, chunk: 10}), runtime.WithSink(sink), runtime.WithDeadLetter(dlq))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	dead := dlq.records()
	if len(dead) != 4 {
		t.Fatalf("%d records dead-lettered, want the 4 huge ones", len(dead))
	}
	for _, r := range dead {
		if s := string(r.Value); s[:4] != "huge" || sink.attempts[s] != 1 {
			t.Fatalf("dead-lettered %q after %d attempts; want huge records, tried once", s, sink.attempts[s])
		}
	}
	if n := len(sink.records()); n != 26 {
		t.Fatalf("sink wrote %d, want 26", n)
	}
	if st := p.Stats(); st.SinkRetries != 0 || st.DeadLettered != 4 || st.RecordsOut != 26 {
		t.Fatalf("stats: %d retries, %d dead, %d out", st.SinkRetries, st.DeadLettered, st.RecordsOut)
	}

	// Without a dead-letter sink, a refused record stops the pipeline.
	spec = parse(t, testRegistry(nil), `
pipeline: reject-stop
batch: {size: 10, linger: 1ms}
source: {test: {}}
sink: {test: {}}
`)
	p, err = runtime.Build(spec, runtime.WithSource(&memSource{recs: recs, chunk: 10}), runtime.WithSink(&rejectingSink{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); !errors.Is(err, runtime.ErrRejected) {
		t.Fatalf("Run: %v; want ErrRejected", err)
	}
}

// TestConnectorMetricsAreBounded: a component's metrics appear in Stats,
// and registrations past MaxConnectorSeries share a discarded series.
func TestConnectorMetricsAreBounded(t *testing.T) {
	spec := parse(t, testRegistry(nil), `
pipeline: metrics
source: {test: {}}
sink: {test: {}}
`)
	src := &metricSource{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&memSink{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if len(st.Connectors) != runtime.MaxConnectorSeries {
		t.Fatalf("%d series, want %d", len(st.Connectors), runtime.MaxConnectorSeries)
	}
	if m := st.Connectors[0]; m.Name != "lag" || !m.Gauge || m.Value != 7 || m.Labels[1] != "p0" {
		t.Fatalf("first series %+v", m)
	}
	if src.env.Metrics.Dropped() != 10 {
		t.Fatalf("dropped %d registrations, want 10", src.env.Metrics.Dropped())
	}
}

type metricSource struct{ env runtime.Env }

func (s *metricSource) Open(ctx context.Context, env runtime.Env) error {
	s.env = env
	for i := range runtime.MaxConnectorSeries + 10 {
		env.Metrics.Gauge("lag", "partition", "p"+strconv.Itoa(i)).Set(7)
	}
	return nil
}
func (s *metricSource) Close(ctx context.Context) error { return nil }
func (s *metricSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	return nil, nil, io.EOF
}

// outcomeSource is an OutcomeSource over fixed records, recording each
// record's outcome by value.
type outcomeSource struct {
	recs  []runtime.Record
	chunk int

	mu   sync.Mutex
	next int
	got  map[string]runtime.Outcome
	errs int
}

func (s *outcomeSource) Open(context.Context, runtime.Env) error { return nil }
func (s *outcomeSource) Close(context.Context) error             { return nil }
func (s *outcomeSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	panic("the runtime must call ReadOutcomes")
}

func (s *outcomeSource) ReadOutcomes(ctx context.Context) ([]runtime.Record, runtime.OutcomeFunc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= len(s.recs) {
		return nil, nil, io.EOF
	}
	start := s.next
	s.next = min(start+s.chunk, len(s.recs))
	batch := slices.Clone(s.recs[start:s.next])
	return batch, func(outcomes []runtime.Outcome, err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.got == nil {
			s.got = map[string]runtime.Outcome{}
		}
		if err != nil {
			s.errs++
		}
		for i, o := range outcomes {
			s.got[string(batch[i].Value)] = o
		}
	}, nil
}

// failingSink fails the records whose value starts with "bad" on every
// attempt (a retryable error), writing the others.
type failingSink struct{ memSink }

func (s *failingSink) Write(ctx context.Context, recs []runtime.Record) error {
	be := &runtime.BatchError{}
	var ok []runtime.Record
	for i, r := range recs {
		if bytes.HasPrefix(r.Value, []byte("bad")) {
			be.Failed = append(be.Failed, i)
			be.Errs = append(be.Errs, errors.New("server busy"))
			continue
		}
		ok = append(ok, r)
	}
	s.memSink.Write(ctx, ok)
	if len(be.Failed) > 0 {
		return be
	}
	return nil
}

// TestPerRecordOutcomes: a source that settles messages one by one learns
// each record's outcome: written, dead-lettered (refused by the sink), or
// failed (the pipeline gave up on it); behind an operator, the batch's.
func TestPerRecordOutcomes(t *testing.T) {
	mk := func(prefix string) []runtime.Record {
		var recs []runtime.Record
		for i := range 20 {
			v := fmt.Sprintf("v%02d", i)
			if i%5 == 2 {
				v = prefix + v
			}
			recs = append(recs, runtime.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(v)})
		}
		return recs
	}
	t.Run("dead-lettered", func(t *testing.T) {
		spec := parse(t, testRegistry(nil), `
pipeline: outcomes
batch: {size: 10, linger: 1ms}
source: {test: {}}
sink: {test: {}}
on_error: {action: dead_letter, dead_letter: {test: {}}}
`)
		src := &outcomeSource{recs: mk("huge"), chunk: 10}
		p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&rejectingSink{}), runtime.WithDeadLetter(&memSink{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		for v, o := range src.got {
			want := runtime.Written
			if strings.HasPrefix(v, "huge") {
				want = runtime.DeadLettered
			}
			if o != want {
				t.Errorf("%s: %v, want %v", v, o, want)
			}
		}
		if len(src.got) != 20 || src.errs != 0 {
			t.Fatalf("%d outcomes, %d batch errors", len(src.got), src.errs)
		}
	})
	t.Run("failed", func(t *testing.T) {
		spec := parse(t, testRegistry(nil), `
pipeline: outcomes-failed
batch: {size: 10, linger: 1ms}
source: {test: {}}
sink: {test: {}}
on_error: {sink_retries: 1, backoff: 1ms}
`)
		src := &outcomeSource{recs: mk("bad"), chunk: 10}
		p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&failingSink{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(t.Context()); err == nil {
			t.Fatal("Run succeeded with records the sink never took")
		}
		for v, o := range src.got {
			if strings.HasPrefix(v, "bad") && o != runtime.Failed {
				t.Errorf("%s: %v, want failed", v, o)
			}
			if !strings.HasPrefix(v, "bad") && o != runtime.Written && o != runtime.Failed {
				t.Errorf("%s: %v, want written (or failed, if the pipeline stopped first)", v, o)
			}
		}
		written := 0
		for _, o := range src.got {
			if o == runtime.Written {
				written++
			}
		}
		if written == 0 {
			t.Fatal("no record of a failed batch is reported written, though the sink wrote them")
		}
	})
	t.Run("behind an operator", func(t *testing.T) {
		spec := parse(t, testRegistry(nil), `
pipeline: outcomes-op
batch: {size: 10, linger: 1ms}
source: {test: {}}
operators: [{func: {fn: upper}}]
sink: {test: {}}
`)
		src := &outcomeSource{recs: mk("x"), chunk: 10}
		p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&memSink{}))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		for v, o := range src.got {
			if o != runtime.Written {
				t.Errorf("%s: %v, want written", v, o)
			}
		}
		if len(src.got) != 20 {
			t.Fatalf("%d outcomes", len(src.got))
		}
	})
}

// TestDeferredAcksAreBounded: acknowledgements held for the next
// checkpoint make one fall due once there are too many, even under a
// long checkpoint_interval, and every batch is acknowledged after one.
func TestDeferredAcksAreBounded(t *testing.T) {
	reg := testRegistry(nil)
	runtime.AddOperator(reg, "count", "keyed counter", func(*struct {
		runtime.OperatorSettings `yaml:",inline"`
	}) (runtime.OperatorFactory, error) {
		return countFactory{}, nil
	})
	spec := parse(t, reg, `
pipeline: bounded
batch: {size: 1, linger: 1ms}
source: {test: {}}
operators: [{name: op, count: {}}]
sink: {test: {}}
state: {checkpoint_interval: 1h, query: "off"}
`)
	var p *runtime.Pipeline
	src := &checkingSource{recs: keyed(3000, 4), chunk: 1, checkpoints: func() int64 { return p.Stats().Checkpoints }}
	var err error
	p, err = runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&memSink{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	// 3000 batches, 1024 held at most: at least two checkpoints before the
	// last one at the end.
	if n := p.Stats().Checkpoints; n < 3 {
		t.Fatalf("%d checkpoints under a 1h interval for 3000 held acknowledgements; want at least 3", n)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, a := range src.acks {
		if a.err != nil || a.checkpointsAtAck <= a.checkpointsAtRead {
			t.Fatalf("batch %d acknowledged with %v before a checkpoint covered it", a.batch, a.err)
		}
	}
	if len(src.acks) != 3000 {
		t.Fatalf("%d acknowledgements, want 3000", len(src.acks))
	}
}
