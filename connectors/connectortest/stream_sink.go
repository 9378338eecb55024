package connectortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// streamSink is a sink under test, opened.
type streamSink struct {
	sink   runtime.Sink
	p      runtime.CheckpointParticipant // nil when the sink is none
	next   uint64                        // the next checkpoint id
	last   *runtime.Prepared             // the last checkpoint completed, with a handle
	closed bool
}

// sinkEnv is the suite's base Env for sink: Checkpointing set when it is
// a CheckpointParticipant, as the runtime sets it.
func sinkEnv(t *testing.T, sink runtime.Sink) runtime.Env {
	env := Env(t, SuiteBatchSize)
	_, env.Checkpointing = sink.(runtime.CheckpointParticipant)
	return env
}

// openSink opens sink with env, and closes it when the test ends if the
// case has not (ignoring the error then).
func openSink(t *testing.T, sink runtime.Sink, env runtime.Env) (*streamSink, error) {
	s := &streamSink{sink: sink, next: 1}
	s.p, _ = sink.(runtime.CheckpointParticipant)
	if env.Prepared != nil {
		s.next = env.Prepared.Checkpoint + 1
	}
	if err := sink.Open(t.Context(), env); err != nil {
		return nil, fmt.Errorf("Open: %w", err)
	}
	t.Cleanup(func() {
		if !s.closed {
			s.sink.Close(context.Background())
		}
	})
	return s, nil
}

func (s *streamSink) close(ctx context.Context) error {
	s.closed = true
	if err := s.sink.Close(ctx); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	return nil
}

// write calls Write with copies of recs, overwritten once it returns (as
// the runtime reuses its buffers: the sink must not keep them).
func (s *streamSink) write(ctx context.Context, recs []runtime.Record) error {
	b := cloneRecords(recs)
	err := s.sink.Write(ctx, b)
	for i := range b {
		for j := range b[i].Value {
			b[i].Value[j] = 'X'
		}
	}
	return err
}

// writeRetry writes recs until it succeeds or timeout passes, retrying
// what failed as the runtime does: the failed records of a
// *runtime.BatchError and every later record of their keys, else the
// whole batch. A rejected record is a failure.
func (s *streamSink) writeRetry(t *testing.T, timeout time.Duration, recs []runtime.Record) error {
	deadline := time.Now().Add(timeout)
	var last error
	for len(recs) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("Write still failing after %v: %w", timeout, last)
		}
		err := s.write(t.Context(), recs)
		if err == nil {
			return nil
		}
		if t.Context().Err() != nil {
			return err
		}
		if errors.Is(err, runtime.ErrRejected) {
			return fmt.Errorf("Write rejected a good record: %w", err)
		}
		if errors.Is(err, runtime.ErrFatal) {
			return fmt.Errorf("Write: %w", err)
		}
		last = err
		var be *runtime.BatchError
		if errors.As(err, &be) {
			if err := checkBatchError(be, len(recs)); err != nil {
				return err
			}
			recs = retried(recs, be.Failed)
		}
		if err := pause(t); err != nil {
			return err
		}
	}
	return nil
}

// checkBatchError checks a BatchError's indexes are valid for a batch of
// n records.
func checkBatchError(be *runtime.BatchError, n int) error {
	if len(be.Failed) == 0 || len(be.Errs) != len(be.Failed) {
		return fmt.Errorf("BatchError with %d indexes and %d errors, want one error per failed index and at least one: %v", len(be.Failed), len(be.Errs), be)
	}
	for i, f := range be.Failed {
		if f < 0 || f >= n || i > 0 && f <= be.Failed[i-1] {
			return fmt.Errorf("BatchError indexes %v out of range or order for a batch of %d (runtime.ErrInvalidBatchError)", be.Failed, n)
		}
	}
	return nil
}

// retried returns the records the runtime writes again after a partial
// failure: those that failed and every later record of a key with one
// failed before it.
func retried(recs []runtime.Record, failed []int) []runtime.Record {
	bad := map[string]bool{}
	var out []runtime.Record
	for i := range recs {
		if slices.Contains(failed, i) || bad[string(recs[i].Key)] {
			bad[string(recs[i].Key)] = true
			out = append(out, recs[i])
		}
	}
	return out
}

// commit takes a checkpoint of a CheckpointParticipant (prepare, then
// complete), as the runtime does once everything written is in a
// durable checkpoint. Nothing for other sinks.
func (s *streamSink) commit(ctx context.Context) error {
	if s.p == nil {
		return nil
	}
	id := s.next
	s.next++
	h, err := s.p.PrepareCheckpoint(ctx, id)
	if err != nil {
		return fmt.Errorf("PrepareCheckpoint(%d): %w", id, err)
	}
	if err := s.p.CompleteCheckpoint(ctx, id, h); err != nil {
		return fmt.Errorf("CompleteCheckpoint(%d): %w", id, err)
	}
	s.completed(id, h)
	return nil
}

func (s *streamSink) completed(id uint64, h []byte) {
	s.last = nil
	if h != nil {
		s.last = &runtime.Prepared{Checkpoint: id, Handle: h}
	}
}

// present returns the values of want that are in got.
func present(got, want []runtime.Record) []string {
	have := valueSet(got)
	var out []string
	for i := range want {
		if have[string(want[i].Value)] {
			out = append(out, string(want[i].Value))
		}
	}
	return out
}

// commitRetry writes recs with writeRetry and commits them as commit
// does, until timeout: a failed CompleteCheckpoint is called again with
// the same handle (as the runtime does), a failed PrepareCheckpoint
// writes the records again and prepares a new checkpoint (as the runtime
// would after it restarted the pipeline).
func (s *streamSink) commitRetry(t *testing.T, timeout time.Duration, recs []runtime.Record) error {
	deadline := time.Now().Add(timeout)
	for {
		err := s.writeRetry(t, time.Until(deadline), recs)
		if err != nil || s.p == nil {
			return err
		}
		id := s.next
		s.next++
		h, err := s.p.PrepareCheckpoint(t.Context(), id)
		if err != nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("PrepareCheckpoint(%d) still failing after %v: %w", id, timeout, err)
			}
			if err := pause(t); err != nil {
				return err
			}
			continue
		}
		for {
			err := s.p.CompleteCheckpoint(t.Context(), id, h)
			if err == nil {
				s.completed(id, h)
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CompleteCheckpoint(%d) still failing after %v: %w", id, timeout, err)
			}
			if err := pause(t); err != nil {
				return err
			}
		}
	}
}

// pause waits a retry's backoff, or returns the test's context error.
func pause(t *testing.T) error {
	backoff := time.NewTimer(20 * time.Millisecond)
	defer backoff.Stop()
	select {
	case <-backoff.C:
		return nil
	case <-t.Context().Done():
		return t.Context().Err()
	}
}

// waitWritten waits until Written holds every record of want, then
// compares it with want (order per key; duplicates only when dups).
func waitWritten(t *testing.T, srv Server, want []runtime.Record, dups bool) error {
	need := valueSet(want)
	var got []runtime.Record
	err := waitUntil(t, srv.timeout(), fmt.Sprintf("%d records in Written", len(want)), func() bool {
		got = srv.Written(t)
		n := 0
		for v := range valueSet(got) {
			if need[v] {
				n++
			}
		}
		return n == len(need)
	})
	if cmp := compareStream(got, want, dups, true); cmp != nil {
		return errors.Join(err, fmt.Errorf("Written: %w", cmp))
	}
	return err
}

func sinkCases(newSink func(*testing.T) runtime.Sink, srv Server) []streamCase {
	return []streamCase{
		{"writes arrive", func(t *testing.T) error { return checkSinkWrites(t, newSink, srv) }},
		{"several batches", func(t *testing.T) error { return checkSinkBatches(t, newSink, srv) }},
		{"partial failure", func(t *testing.T) error { return checkSinkRejected(t, newSink, srv) }},
		{"reconnect after restart", func(t *testing.T) error { return checkSinkRestart(t, newSink, srv) }},
		{"checkpoint participation", func(t *testing.T) error { return checkSinkParticipant(t, newSink, srv) }},
		{"crash recovery", func(t *testing.T) error { return checkSinkRecovery(t, newSink, srv) }},
	}
}

func checkSinkWrites(t *testing.T, newSink func(*testing.T) runtime.Sink, srv Server) error {
	return writeBatches(t, newSink, srv, [][]runtime.Record{streamRecords("writes", 0, 10, 3)})
}

func checkSinkBatches(t *testing.T, newSink func(*testing.T) runtime.Sink, srv Server) error {
	return writeBatches(t, newSink, srv, [][]runtime.Record{
		streamRecords("batches", 0, 5, 3), streamRecords("batches", 5, 1, 3), {},
		streamRecords("batches", 6, 20, 3), streamRecords("batches", 26, 7, 3),
	})
}

// writeBatches writes each batch, commits, and checks Written.
func writeBatches(t *testing.T, newSink func(*testing.T) runtime.Sink, srv Server, batches [][]runtime.Record) error {
	sink := newSink(t)
	s, err := openSink(t, sink, sinkEnv(t, sink))
	if err != nil {
		return err
	}
	var want []runtime.Record
	for i, b := range batches {
		if err := s.write(t.Context(), b); err != nil {
			return fmt.Errorf("Write of batch %d (%d records): %w", i, len(b), err)
		}
		want = append(want, b...)
	}
	if err := s.commit(t.Context()); err != nil {
		return err
	}
	if err := waitWritten(t, srv, want, false); err != nil {
		return err
	}
	return s.close(t.Context())
}

func checkSinkRejected(t *testing.T, newSink func(*testing.T) runtime.Sink, srv Server) error {
	if srv.Reject == nil {
		return skip("Server.Reject is nil: no record the server refuses for good")
	}
	sink := newSink(t)
	s, err := openSink(t, sink, sinkEnv(t, sink))
	if err != nil {
		return err
	}
	good := streamRecords("partial", 0, 4, 2)
	bad := srv.Reject()
	if bad.Key == nil {
		bad.Key = []byte("rejected")
	}
	batch := []runtime.Record{good[0], good[1], bad, good[2], good[3]}
	err = s.write(t.Context(), batch)
	var be *runtime.BatchError
	switch {
	case err == nil:
		return errors.New("Write of a batch with a rejected record returned nil")
	case !errors.As(err, &be):
		return fmt.Errorf("Write of a batch with a rejected record = %v (%T), want a *runtime.BatchError", err, err)
	}
	if err := checkBatchError(be, len(batch)); err != nil {
		return err
	}
	if !slices.Equal(be.Failed, []int{2}) {
		return fmt.Errorf("BatchError.Failed = %v, want [2] (the rejected record alone): %v", be.Failed, be)
	}
	if !errors.Is(be.Errs[0], runtime.ErrRejected) {
		return fmt.Errorf("the rejected record's error %q does not match runtime.ErrRejected (wrap it with runtime.Rejected): the runtime would retry it forever", be.Errs[0])
	}
	if err := s.commit(t.Context()); err != nil {
		return err
	}
	if err := waitWritten(t, srv, good, false); err != nil {
		return err
	}
	return s.close(t.Context())
}

func checkSinkRestart(t *testing.T, newSink func(*testing.T) runtime.Sink, srv Server) error {
	if srv.Restart == nil {
		return skip("Server.Restart is nil: no private server instance to restart")
	}
	sink := newSink(t)
	env := sinkEnv(t, sink)
	s, err := openSink(t, sink, env)
	if err != nil {
		return err
	}
	first, second := streamRecords("restart", 0, 10, 3), streamRecords("restart", 10, 10, 3)
	if err := s.write(t.Context(), first); err != nil {
		return fmt.Errorf("Write before the restart: %w", err)
	}
	if err := s.commit(t.Context()); err != nil {
		return fmt.Errorf("before the restart: %w", err)
	}
	srv.Restart(t)
	deadline := time.Now().Add(srv.timeout())
	for {
		err := s.commitRetry(t, time.Until(deadline), second)
		if err == nil {
			break
		}
		if !errors.Is(err, runtime.ErrFatal) || time.Now().After(deadline) {
			return fmt.Errorf("after the restart: %w", err)
		}
		// The runtime stops the pipeline and runs it again from its last
		// checkpoint: a new sink, given that checkpoint's handle, and
		// what came after it written again.
		s.sink.Close(t.Context())
		s.closed = true
		env.Prepared = s.last
		next := s.next
		if s, err = openSink(t, newSink(t), env); err != nil {
			return fmt.Errorf("reopening after a fatal error: %w", err)
		}
		s.next = next
	}
	if err := waitWritten(t, srv, append(first, second...), srv.DupsAllowed); err != nil {
		return fmt.Errorf("after the restart: %w", err)
	}
	return s.close(t.Context())
}

func checkSinkParticipant(t *testing.T, newSink func(*testing.T) runtime.Sink, srv Server) error {
	sink := newSink(t)
	if _, ok := sink.(runtime.CheckpointParticipant); !ok {
		return skip("the sink is not a runtime.CheckpointParticipant")
	}
	if !requiresCheckpoints(sink) {
		return skip("the sink is configured without two-phase commit (an OptionalParticipant that requires no checkpoints): its records are visible once written")
	}
	s, err := openSink(t, sink, sinkEnv(t, sink))
	if err != nil {
		return err
	}
	ctx := t.Context()
	a, b, c := streamRecords("txn-a", 0, 6, 3), streamRecords("txn-b", 0, 6, 3), streamRecords("txn-c", 0, 6, 3)
	if err := s.write(ctx, a); err != nil {
		return fmt.Errorf("Write: %w", err)
	}
	h1, err := s.p.PrepareCheckpoint(ctx, 1)
	if err != nil {
		return fmt.Errorf("PrepareCheckpoint(1): %w", err)
	}
	if got := present(srv.Written(t), a); len(got) > 0 {
		return fmt.Errorf("%d records in Written after PrepareCheckpoint, before CompleteCheckpoint: %s", len(got), list(got))
	}
	if err := s.p.CompleteCheckpoint(ctx, 1, h1); err != nil {
		return fmt.Errorf("CompleteCheckpoint(1): %w", err)
	}
	if err := waitWritten(t, srv, a, false); err != nil {
		return fmt.Errorf("after CompleteCheckpoint: %w", err)
	}
	if err := s.p.CompleteCheckpoint(ctx, 1, h1); err != nil {
		return fmt.Errorf("CompleteCheckpoint(1) again: %w", err)
	}
	if err := s.write(ctx, b); err != nil {
		return fmt.Errorf("Write: %w", err)
	}
	h2, err := s.p.PrepareCheckpoint(ctx, 2)
	if err != nil {
		return fmt.Errorf("PrepareCheckpoint(2): %w", err)
	}
	if err := s.p.AbortCheckpoint(ctx, 2, h2); err != nil {
		return fmt.Errorf("AbortCheckpoint(2): %w", err)
	}
	if err := s.write(ctx, c); err != nil {
		return fmt.Errorf("Write after an abort: %w", err)
	}
	s.next = 3
	if err := s.commit(ctx); err != nil {
		return fmt.Errorf("after an abort: %w", err)
	}
	// Once c is there, b would be too had the abort not dropped it.
	if err := waitWritten(t, srv, append(slices.Clone(a), c...), false); err != nil {
		return fmt.Errorf("after aborting checkpoint 2 and completing 3: %w", err)
	}
	return s.close(ctx)
}

func checkSinkRecovery(t *testing.T, newSink func(*testing.T) runtime.Sink, srv Server) error {
	sink := newSink(t)
	if _, ok := sink.(runtime.CheckpointParticipant); !ok {
		return skip("the sink is not a runtime.CheckpointParticipant")
	}
	if !requiresCheckpoints(sink) {
		return skip("the sink is configured without two-phase commit (an OptionalParticipant that requires no checkpoints): its records are visible once written")
	}
	env := sinkEnv(t, sink)
	s, err := openSink(t, sink, env)
	if err != nil {
		return err
	}
	ctx := t.Context()
	d, e := streamRecords("crash-d", 0, 8, 3), streamRecords("crash-e", 0, 4, 3)
	if err := s.write(ctx, d); err != nil {
		return fmt.Errorf("Write: %w", err)
	}
	h, err := s.p.PrepareCheckpoint(ctx, 1)
	if err != nil {
		return fmt.Errorf("PrepareCheckpoint(1): %w", err)
	}
	// The process dies here: s is not closed (openSink closes it when
	// the test ends), and checkpoint 1 is durable but not completed.
	env.Prepared = &runtime.Prepared{Checkpoint: 1, Handle: h}
	s2, err := openSink(t, newSink(t), env)
	if err != nil {
		return fmt.Errorf("reopening with checkpoint 1 prepared: %w", err)
	}
	if err := waitWritten(t, srv, d, false); err != nil {
		return fmt.Errorf("after reopening with checkpoint 1 prepared: %w", err)
	}
	if err := s2.p.CompleteCheckpoint(ctx, 1, h); err != nil {
		return fmt.Errorf("CompleteCheckpoint(1) after the Open that completed it: %w", err)
	}
	if err := s2.write(ctx, e); err != nil {
		return fmt.Errorf("Write after recovery: %w", err)
	}
	if err := s2.commit(ctx); err != nil {
		return fmt.Errorf("after recovery: %w", err)
	}
	if err := waitWritten(t, srv, append(slices.Clone(d), e...), false); err != nil {
		return fmt.Errorf("after recovery and checkpoint 2: %w", err)
	}
	return s2.close(ctx)
}
