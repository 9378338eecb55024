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

// streamSource is a source under test, opened, with what it returned.
type streamSource struct {
	src    runtime.Source
	acks   *inflight
	got    []runtime.Record
	closed bool
}

// openSource opens src with env (from sourceEnv, or a copy),
// and closes it when the test ends if the case has not.
func openSource(t *testing.T, src runtime.Source, env runtime.Env, acks *inflight) (*streamSource, error) {
	s := &streamSource{src: src, acks: acks}
	if err := s.src.Open(t.Context(), env); err != nil {
		return nil, fmt.Errorf("Open: %w", err)
	}
	t.Cleanup(func() {
		if !s.closed {
			s.src.Close(context.Background())
		}
	})
	return s, nil
}

// sourceEnv is the suite's base Env for src: a pipeline that checkpoints
// (checkpointingEnv) when src requires checkpoints, as the runtime would
// run it, else one that does not.
func sourceEnv(t *testing.T, acks *inflight, src runtime.Source) runtime.Env {
	env := Env(t, SuiteBatchSize)
	env.Checkpoint = acks.checkpoint
	if requiresCheckpoints(src) {
		env = checkpointingEnv(env, src)
	}
	return env
}

// requiresCheckpoints reports whether c makes a pipeline checkpoint: a
// CheckpointParticipant, unless an OptionalParticipant that says it need
// not.
func requiresCheckpoints(c any) bool {
	if _, ok := c.(runtime.CheckpointParticipant); !ok {
		return false
	}
	op, ok := c.(runtime.OptionalParticipant)
	return !ok || op.RequiresCheckpoints()
}

func (s *streamSource) close(ctx context.Context) error {
	s.closed = true
	if err := s.src.Close(ctx); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	return nil
}

// read calls Read once with ctx, and returns copies of the records and
// the ack (counted in s.acks; nil when there are no records). A context
// error of ctx's is returned as it is; any other error is the source's
// failure.
func (s *streamSource) read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	recs, ack, err := s.src.Read(ctx)
	if len(recs) > 0 && ack == nil {
		return nil, nil, errors.New("Read returned records with a nil AckFunc")
	}
	recs = cloneRecords(recs)
	s.got = append(s.got, recs...)
	if ack != nil {
		ack = s.acks.wrap(ack)
		if len(recs) == 0 {
			ack(nil) // as the runtime does
			ack = nil
		}
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return recs, ack, err
	}
	if err != nil {
		return recs, ack, fmt.Errorf("Read after %d records: %w (the runtime stops the pipeline on a Read error)", len(s.got), err)
	}
	return recs, ack, nil
}

// readUntil reads, acking each batch with nil, until done holds for the
// records returned so far or timeout passes.
func (s *streamSource) readUntil(t *testing.T, timeout time.Duration, what string, done func([]runtime.Record) bool) error {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for !done(s.got) {
		_, ack, err := s.read(ctx)
		if ack != nil {
			ack(nil)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("timed out after %v waiting for %s (%d records read)", timeout, what, len(s.got))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readAll reads until every value of want has been returned, then on for
// quietRead for records that should not come.
func (s *streamSource) readAll(t *testing.T, timeout time.Duration, want []runtime.Record) error {
	need := valueSet(want)
	err := s.readUntil(t, timeout, fmt.Sprintf("%d records", len(want)), func(got []runtime.Record) bool {
		n := 0
		for v := range valueSet(got) {
			if need[v] {
				n++
			}
		}
		return n == len(need)
	})
	if err != nil {
		// Say which: compared loosely, the missing ones and the extra.
		return errors.Join(err, compareStream(s.got, want, true, false))
	}
	return s.readQuiet(t)
}

// readQuiet reads for quietRead, acking what comes.
func (s *streamSource) readQuiet(t *testing.T) error {
	ctx, cancel := context.WithTimeout(t.Context(), quietRead)
	defer cancel()
	for ctx.Err() == nil {
		_, ack, err := s.read(ctx)
		if ack != nil {
			ack(nil)
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// readBatches reads whole batches, not acking them, until at least n
// records have come. On an error it acks what it holds with nil.
func (s *streamSource) readBatches(t *testing.T, timeout time.Duration, n int) ([]Batch, error) {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var held []Batch
	start := len(s.got)
	for len(s.got)-start < n {
		recs, ack, err := s.read(ctx)
		if ack != nil {
			held = append(held, Batch{Records: recs, Ack: ack})
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v waiting for %d records (%d read)", timeout, n, len(s.got)-start)
		}
		if err != nil {
			AckAll(held, nil)
			return nil, err
		}
	}
	return held, nil
}

// positions returns where a PositionedSource or SplitSource stands,
// setting them in env; ok is false for other sources.
func (s *streamSource) positions(env *runtime.Env) (ok bool, err error) {
	switch src := s.src.(type) {
	case runtime.SplitSource:
		sp, err := src.SplitPositions()
		if err != nil {
			return true, fmt.Errorf("SplitPositions: %w", err)
		}
		env.Splits, env.Position = sp, nil
		return true, nil
	case runtime.PositionedSource:
		pos, err := src.Position()
		if err != nil {
			return true, fmt.Errorf("Position: %w", err)
		}
		if pos == nil {
			pos = []byte{}
		}
		env.Position, env.Splits = pos, nil
		return true, nil
	}
	return false, nil
}

// checkpointingEnv is env for a source in a pipeline that checkpoints,
// reading from the beginning.
func checkpointingEnv(env runtime.Env, src runtime.Source) runtime.Env {
	env.Checkpointing = true
	switch src.(type) {
	case runtime.SplitSource:
		env.Splits = map[string][]byte{}
	case runtime.PositionedSource:
		env.Position = []byte{}
	}
	return env
}

func sourceCases(newSource func(*testing.T) runtime.Source, srv Server) []streamCase {
	return []streamCase{
		{"reads what is produced", func(t *testing.T) error { return checkSourceReads(t, newSource, srv) }},
		{"cancel while blocked", func(t *testing.T) error { return checkSourceCancel(t, newSource, srv) }},
		{"resume from checkpoint", func(t *testing.T) error { return checkSourceResume(t, newSource, srv) }},
		{"nack and redelivery", func(t *testing.T) error { return checkSourceRedelivery(t, newSource, srv) }},
		{"reconnect after restart", func(t *testing.T) error { return checkSourceRestart(t, newSource, srv) }},
		{"checkpoint participation", func(t *testing.T) error { return checkSourceParticipant(t, newSource, srv) }},
	}
}

func checkSourceReads(t *testing.T, newSource func(*testing.T) runtime.Source, srv Server) error {
	recs := streamRecords("reads", 0, 40, 3)
	acks := &inflight{}
	src := newSource(t)
	s, err := openSource(t, src, sourceEnv(t, acks, src), acks)
	if err != nil {
		return err
	}
	srv.Produce(t, recs[:20])
	srv.Produce(t, recs[20:])
	if err := s.readAll(t, srv.timeout(), recs); err != nil {
		return err
	}
	if err := compareStream(s.got, recs, false, srv.Ordered); err != nil {
		return err
	}
	return s.close(t.Context())
}

func checkSourceCancel(t *testing.T, newSource func(*testing.T) runtime.Source, srv Server) error {
	acks := &inflight{}
	src := newSource(t)
	s, err := openSource(t, src, sourceEnv(t, acks, src), acks)
	if err != nil {
		return err
	}
	blocked := func(ctx context.Context, cancel context.CancelFunc, how string) error {
		done := make(chan error, 1)
		go func() {
			recs, ack, err := s.read(ctx)
			if ack != nil {
				ack(nil)
			}
			if err == nil || len(recs) > 0 {
				err = fmt.Errorf("%d records, error %v, with nothing produced", len(recs), err)
			}
			done <- err
		}()
		if cancel != nil {
			cancel()
		}
		select {
		case err := <-done:
			if !errors.Is(err, ctx.Err()) {
				return fmt.Errorf("Read %s = %w, want %v", how, err, ctx.Err())
			}
			return nil
		case <-time.After(5 * time.Second):
			return fmt.Errorf("Read did not return within 5s %s", how)
		}
	}
	ctx, stop := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer stop()
	if err := blocked(ctx, nil, "when its deadline passed"); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := blocked(ctx, cancel, "when cancelled"); err != nil {
		return err
	}
	recs := streamRecords("cancel", 0, 20, 3)
	srv.Produce(t, recs)
	if err := s.readAll(t, srv.timeout(), recs); err != nil {
		return fmt.Errorf("after cancelled Reads: %w", err)
	}
	if err := compareStream(s.got, recs, false, srv.Ordered); err != nil {
		return fmt.Errorf("after cancelled Reads: %w", err)
	}
	return s.close(t.Context())
}

func checkSourceResume(t *testing.T, newSource func(*testing.T) runtime.Source, srv Server) error {
	src := newSource(t)
	switch src.(type) {
	case runtime.PositionedSource, runtime.SplitSource:
	default:
		return skip("the source is neither a runtime.PositionedSource nor a runtime.SplitSource")
	}
	recs := streamRecords("resume", 0, 40, 3)
	acks := &inflight{}
	env := checkpointingEnv(sourceEnv(t, acks, src), src)
	s, err := openSource(t, src, env, acks)
	if err != nil {
		return err
	}
	srv.Produce(t, recs)
	if err := s.readUntil(t, srv.timeout(), "15 records", func(got []runtime.Record) bool { return len(got) >= 15 }); err != nil {
		return err
	}
	before := slices.Clone(s.got)
	if _, err := s.positions(&env); err != nil {
		return err
	}
	// Read and ack on past the position, so that progress the source
	// keeps itself is ahead of it: the position must win.
	if err := s.readUntil(t, srv.timeout(), "25 records", func(got []runtime.Record) bool { return len(got) >= 25 }); err != nil {
		return err
	}
	if err := s.close(t.Context()); err != nil {
		return err
	}
	more := streamRecords("resume", 40, 10, 3)
	srv.Produce(t, more)
	var want []runtime.Record
	had := valueSet(before)
	for _, r := range append(slices.Clone(recs), more...) {
		if !had[string(r.Value)] {
			want = append(want, r)
		}
	}
	s2, err := openSource(t, newSource(t), env, acks)
	if err != nil {
		return fmt.Errorf("reopening at the checkpointed position: %w", err)
	}
	if err := s2.readAll(t, srv.timeout(), want); err != nil {
		return fmt.Errorf("reopened at the checkpointed position: %w", err)
	}
	if err := compareStream(s2.got, want, false, srv.Ordered); err != nil {
		return fmt.Errorf("reopened at the checkpointed position (after %d of %d records): %w", len(before), len(recs)+len(more), err)
	}
	return s2.close(t.Context())
}

func checkSourceRedelivery(t *testing.T, newSource func(*testing.T) runtime.Source, srv Server) error {
	recs := streamRecords("nack", 0, 40, 3)
	acks := &inflight{}
	src := newSource(t)
	env := sourceEnv(t, acks, src)
	s, err := openSource(t, src, env, acks)
	if err != nil {
		return err
	}
	srv.Produce(t, recs)
	if err := s.readUntil(t, srv.timeout(), "15 records", func(got []runtime.Record) bool { return len(got) >= 15 }); err != nil {
		return err
	}
	acked := valueSet(s.got)
	if env.Checkpointing {
		// The pipeline checkpoints: it restarts from its last checkpoint
		// after giving up on a batch, so take one of what was acked.
		if err := s.checkpoint(t.Context(), 1, &env); err != nil {
			return err
		}
	}
	held, err := s.readBatches(t, srv.timeout(), 1)
	if err != nil {
		return err
	}
	var nacked []string
	for _, b := range held {
		b.Ack(errors.New("the pipeline gave up on the batch"))
		nacked = append(nacked, Values(b.Records)...)
	}
	if err := s.close(t.Context()); err != nil {
		return err
	}
	more := streamRecords("nack", 40, 10, 3)
	srv.Produce(t, more)
	var want []runtime.Record
	for _, r := range append(slices.Clone(recs), more...) {
		if !acked[string(r.Value)] {
			want = append(want, r)
		}
	}
	s2, err := openSource(t, newSource(t), env, acks)
	if err != nil {
		return fmt.Errorf("reopening: %w", err)
	}
	if err := s2.readAll(t, srv.timeout(), want); err != nil {
		return fmt.Errorf("reopened after a nack of %s: %w", list(nacked), err)
	}
	got := s2.got
	if srv.DupsAllowed {
		// Acked records may come again: they are not compared.
		got = slices.DeleteFunc(slices.Clone(got), func(r runtime.Record) bool { return acked[string(r.Value)] })
	}
	if err := compareStream(got, want, srv.DupsAllowed, srv.Ordered); err != nil {
		return fmt.Errorf("reopened after a nack of %s: %w", list(nacked), err)
	}
	return s2.close(t.Context())
}

// checkpoint takes checkpoint id of a source at a quiescent point, as
// the runtime does: positions, then prepare and complete when the source
// is a CheckpointParticipant. It sets in env what the next Open of the
// pipeline would be given: the positions and the prepared handle.
func (s *streamSource) checkpoint(ctx context.Context, id uint64, env *runtime.Env) error {
	if _, err := s.positions(env); err != nil {
		return err
	}
	p, ok := s.src.(runtime.CheckpointParticipant)
	if !ok {
		return nil
	}
	h, err := p.PrepareCheckpoint(ctx, id)
	if err != nil {
		return fmt.Errorf("PrepareCheckpoint(%d): %w", id, err)
	}
	if err := p.CompleteCheckpoint(ctx, id, h); err != nil {
		return fmt.Errorf("CompleteCheckpoint(%d): %w", id, err)
	}
	env.Prepared = nil
	if h != nil {
		env.Prepared = &runtime.Prepared{Checkpoint: id, Handle: h}
	}
	return nil
}

func checkSourceRestart(t *testing.T, newSource func(*testing.T) runtime.Source, srv Server) error {
	if srv.Restart == nil {
		return skip("Server.Restart is nil: no private server instance to restart")
	}
	recs := streamRecords("restart", 0, 30, 3)
	acks := &inflight{}
	src := newSource(t)
	s, err := openSource(t, src, sourceEnv(t, acks, src), acks)
	if err != nil {
		return err
	}
	srv.Produce(t, recs[:20])
	if err := s.readUntil(t, srv.timeout(), "5 records", func(got []runtime.Record) bool { return len(got) >= 5 }); err != nil {
		return err
	}
	srv.Restart(t)
	srv.Produce(t, recs[20:])
	if err := s.readAll(t, srv.timeout(), recs); err != nil {
		return fmt.Errorf("after a restart: %w", err)
	}
	if err := compareStream(s.got, recs, srv.DupsAllowed, srv.Ordered); err != nil {
		return fmt.Errorf("after a restart: %w", err)
	}
	return s.close(t.Context())
}

func checkSourceParticipant(t *testing.T, newSource func(*testing.T) runtime.Source, srv Server) error {
	src := newSource(t)
	p, ok := src.(runtime.CheckpointParticipant)
	if !ok {
		return skip("the source is not a runtime.CheckpointParticipant")
	}
	recs := streamRecords("participant", 0, 40, 3)
	acks := &inflight{}
	env := checkpointingEnv(sourceEnv(t, acks, src), src)
	s, err := openSource(t, src, env, acks)
	if err != nil {
		return err
	}
	srv.Produce(t, recs)
	ctx := t.Context()
	if err := s.readUntil(t, srv.timeout(), "10 records", func(got []runtime.Record) bool { return len(got) >= 10 }); err != nil {
		return err
	}
	h1, err := p.PrepareCheckpoint(ctx, 1)
	if err != nil {
		return fmt.Errorf("PrepareCheckpoint(1): %w", err)
	}
	for i := range 2 {
		if err := p.CompleteCheckpoint(ctx, 1, h1); err != nil {
			return fmt.Errorf("CompleteCheckpoint(1), call %d: %w", i+1, err)
		}
	}
	if err := s.readUntil(t, srv.timeout(), "20 records", func(got []runtime.Record) bool { return len(got) >= 20 }); err != nil {
		return err
	}
	before := valueSet(s.got)
	reopen := env
	if _, err := s.positions(&reopen); err != nil {
		return err
	}
	h2, err := p.PrepareCheckpoint(ctx, 2)
	if err != nil {
		return fmt.Errorf("PrepareCheckpoint(2): %w", err)
	}
	// Checkpoint 2 is durable but the pipeline stopped before completing
	// it: the next source is handed it at Open.
	if err := s.close(ctx); err != nil {
		return err
	}
	reopen.Prepared = &runtime.Prepared{Checkpoint: 2, Handle: h2}
	s2, err := openSource(t, newSource(t), reopen, acks)
	if err != nil {
		return fmt.Errorf("reopening with checkpoint 2 prepared: %w", err)
	}
	var want []runtime.Record
	for _, r := range recs {
		if !before[string(r.Value)] {
			want = append(want, r)
		}
	}
	if err := s2.readAll(t, srv.timeout(), want); err != nil {
		return fmt.Errorf("reopened with checkpoint 2 prepared: %w", err)
	}
	got := s2.got
	if srv.DupsAllowed {
		got = slices.DeleteFunc(slices.Clone(got), func(r runtime.Record) bool { return before[string(r.Value)] })
	}
	if err := compareStream(got, want, srv.DupsAllowed, srv.Ordered); err != nil {
		return fmt.Errorf("reopened with checkpoint 2 prepared: %w", err)
	}
	return s2.close(ctx)
}
