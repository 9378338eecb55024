package runtime_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// posSource is a positioned source for engine tests: it returns n records,
// one per Read, then blocks until its Read is cancelled. On the first
// cancelled Read it returns the records in buffered along with ctx.Err(),
// as Source allows (records it had already taken in). Its position is the
// number of records returned.
type posSource struct {
	n        int
	buffered []runtime.Record

	mu          sync.Mutex
	next        int
	returned    int
	interrupted int // Reads that ended because their context was cancelled
	acked       int
	nacked      int
}

func (s *posSource) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *posSource) Close(ctx context.Context) error                 { return nil }

func (s *posSource) Position() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return binary.BigEndian.AppendUint64(nil, uint64(s.returned)), nil
}

func (s *posSource) ack(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.nacked++
	} else {
		s.acked++
	}
}

func (s *posSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	s.mu.Lock()
	if s.next < s.n {
		s.next++
		s.returned++
		s.mu.Unlock()
		return []runtime.Record{{Key: []byte(fmt.Sprint(s.next % 3)), Value: []byte(fmt.Sprintf("value %d", s.next))}}, s.ack, nil
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interrupted++
	if recs := s.buffered; len(recs) > 0 {
		s.buffered = nil
		s.returned += len(recs)
		return recs, s.ack, ctx.Err()
	}
	return nil, nil, ctx.Err()
}

func (s *posSource) state() (returned, interrupted, acked, nacked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.returned, s.interrupted, s.acked, s.nacked
}

// blockFactory builds stateful operators whose Process blocks until its
// context ends: a stuck operator that holds up a checkpoint.
type blockFactory struct{}

func (blockFactory) Stateful() bool                  { return true }
func (blockFactory) Close(ctx context.Context) error { return nil }
func (blockFactory) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	return blockOp{}, nil
}

type blockOp struct{}

func (blockOp) Close(ctx context.Context) error { return nil }
func (blockOp) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// stateRegistry is testRegistry with the stateful test operators: "count"
// (countFactory) and "block" (blockFactory).
func stateRegistry(sinks map[string]*memSink) *runtime.Registry {
	reg := testRegistry(sinks)
	type settings struct {
		runtime.OperatorSettings `yaml:",inline"`
	}
	runtime.AddOperator(reg, "count", "keyed counter", func(*settings) (runtime.OperatorFactory, error) {
		return countFactory{}, nil
	})
	runtime.AddOperator(reg, "block", "blocks until stopped", func(*settings) (runtime.OperatorFactory, error) {
		return blockFactory{}, nil
	})
	return reg
}

// TestHardStopDuringCheckpoint guards issue #8 item 10: a hard stop (the
// shutdown timeout passing) while a checkpoint waits for its flush to drain
// left the flush marker in the read queue, and giving back what sat there
// dereferenced its nil ack group: the process panicked (exit 2) and lost its
// error and every deferred Close. Run must return the drain-timeout error
// and give every read batch back.
func TestHardStopDuringCheckpoint(t *testing.T) {
	checkNoLeaks(t)
	spec := parse(t, stateRegistry(nil), `
pipeline: hardstop
shutdown_timeout: 50ms
queue_depth: 1
batch: {size: 1, linger: 1ms}
source: {test: {}}
operators: [{block: {}}]
sink: {test: {}}
state: {checkpoint_interval: 10ms, query: "off"}
`)
	// Record 1 blocks the operator, record 2 fills its queue, record 3 holds
	// the batcher: the checkpoint's flush stays in the read queue.
	src := &posSource{n: 3}
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "a Read interrupted for the checkpoint", func() bool {
		_, interrupted, _, _ := src.state()
		return interrupted > 0
	})
	cancel()
	if err := <-done; !errors.Is(err, runtime.ErrDrainTimeout) {
		t.Fatalf("Run = %v, want ErrDrainTimeout", err)
	}
	returned, _, acked, nacked := src.state()
	if acked != 0 || nacked != returned {
		t.Fatalf("returned %d batches, acked %d, nacked %d: every batch must be given back", returned, acked, nacked)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !sink.closed {
		t.Fatal("the sink was not closed")
	}
}

// TestCheckpointInterruptKeepsBufferedRecords guards issue #8 item 11: a
// positioned source whose Read, cancelled for a checkpoint, returns the
// records it had buffered together with ctx.Err() follows the Source
// contract; the pipeline failed it as a source error (exit 4) because it
// decided by the record count. The interrupt is recognised by its cause:
// the records go on, the checkpoint is taken, and reading resumes.
func TestCheckpointInterruptKeepsBufferedRecords(t *testing.T) {
	checkNoLeaks(t)
	spec := parse(t, stateRegistry(nil), `
pipeline: interrupt
batch: {size: 10, linger: 1ms}
source: {test: {}}
operators: [{count: {}}]
sink: {test: {}}
state: {checkpoint_interval: 20ms, query: "off"}
`)
	src := &posSource{n: 1, buffered: keyed(5, 2)}
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "the buffered records written and a checkpoint taken", func() bool {
		select {
		case err := <-done:
			done <- err
			return true
		default:
		}
		st := p.Stats()
		return st.Acked == 2 && st.Checkpoints > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil: the interrupted source followed the contract", err)
	}
	if n := len(sink.records()); n != 6 {
		t.Fatalf("sink got %d records, want 6 (1 read, 5 returned with the interrupt)", n)
	}
	if _, _, acked, nacked := src.state(); acked != 2 || nacked != 0 {
		t.Fatalf("acked %d, nacked %d; want 2, 0", acked, nacked)
	}
}

// TestDrainTimerAndRunEndTogether guards issue #8 item 14: the
// shutdown-timeout timer recorded its failure while Run, ending at the same
// moment, read it: a data race (caught by go test -race, which CI runs).
// Timeouts from 0 to 2ms in 20µs steps make the two meet at some stops;
// Run must return either a clean drain or the drain-timeout error.
func TestDrainTimerAndRunEndTogether(t *testing.T) {
	checkNoLeaks(t)
	for i := range 100 {
		spec := parse(t, testRegistry(nil), fmt.Sprintf(`
pipeline: timer
shutdown_timeout: %dus
batch: {size: 10, linger: 1ms}
source: {test: {}}
sink: {test: {}}
`, 1+20*i))
		src := &memSource{recs: keyed(10, 2), chunk: 10, endless: true}
		p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&memSink{}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		waitFor(t, "the records written", func() bool { return p.Stats().RecordsOut == 10 })
		cancel()
		if err := <-done; err != nil && !errors.Is(err, runtime.ErrDrainTimeout) {
			t.Fatalf("stop %d: Run = %v, want nil or ErrDrainTimeout", i, err)
		}
	}
}
