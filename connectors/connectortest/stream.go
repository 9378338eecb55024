package connectortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// This file holds the suites for unbounded sources and sinks: connectors
// for brokers, run against their real server. Each case is a function
// that returns what it found wrong as an error (RunStreamSourceSuite and
// RunStreamSinkSuite fail the subtest with it), so that the cases can be
// checked on broken implementations too.

// Server is the real server a connector under test talks to, as the
// connector's test describes it to RunStreamSourceSuite and
// RunStreamSinkSuite.
//
// Every case is a subtest, and the suite calls newSource or newSink,
// Produce and Written with that subtest's *testing.T: a Server must give
// each test a destination of its own (a topic, queue or subject named
// after t.Name()), or the cases see each other's records. Its funcs fail
// t themselves on an error of the server's own client.
type Server struct {
	// Produce puts recs where the source reads them, in order, with the
	// server's own client (not the connector). The source suite needs it.
	Produce func(t *testing.T, recs []runtime.Record)
	// Written returns every record that has arrived where the sink
	// writes, as a reader that sees only committed data would (with the
	// server's own client), in order per key. Records need only Value
	// set; the suite compares values. The sink suite needs it.
	Written func(t *testing.T) []runtime.Record
	// Restart kills the server instance the test owns and starts it again
	// with its data, returning once it accepts connections. Nil: the
	// reconnect cases are skipped, saying why.
	Restart func(t *testing.T)
	// Reject, when set, returns a record the server refuses for good (too
	// large, say), for the sink's partial-failure case.
	Reject func() runtime.Record
	// Ordered says the source returns each key's records in the order
	// they were produced (records of one key share a split).
	Ordered bool
	// DupsAllowed says the connector is at-least-once where the suite
	// disconnects it or redelivers: records may then arrive more than
	// once. Without it, a duplicate fails the case.
	DupsAllowed bool
	// Timeout bounds each wait: for records to arrive, for a restarted
	// server to be usable again. Zero means 30s.
	Timeout time.Duration
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

// quietRead is how long the suite reads on after the last record it
// expects, for records that should not come.
const quietRead = 300 * time.Millisecond

// streamCase is one case of a stream suite.
type streamCase struct {
	name string
	run  func(t *testing.T) error
}

// skipError is returned by a case that does not apply to the connector.
type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

func skip(format string, args ...any) error { return &skipError{fmt.Sprintf(format, args...)} }

func runCases(t *testing.T, cases []streamCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run(t)
			var s *skipError
			if errors.As(err, &s) {
				t.Skip(s.reason)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// RunStreamSourceSuite runs the conformance cases for an unbounded source,
// each a subtest opening fresh sources with newSource (called once per
// source the case opens, unopened) against srv, which must set Produce.
// A case produces only once its first source is open (Open returned), so
// a source may start at the newest message when it has no progress; the
// records produced while no source is open (between a Close and the next
// Open) must be kept for it, as a consumer group or durable subscription
// keeps them. The cases:
//
//   - reads what is produced: every record, values compared, none extra,
//     none twice, and each key's in order when srv.Ordered;
//   - cancel while blocked: a Read waiting on nothing returns the
//     context's error promptly, when its deadline passes and when it is
//     cancelled, and records produced afterwards are all returned by the
//     next Reads;
//   - resume from a checkpoint: with Env.Checkpointing set and reading
//     from the beginning, part is read and acked, Position (a
//     PositionedSource) or SplitPositions (a SplitSource) is taken,
//     more is read and acked, and a source opened with that position
//     returns exactly the records after it (skipped for other sources);
//   - nack and redelivery: part is read and acked, then one batch is
//     acked with an error, and a source opened again with the same
//     DataDir returns the nacked records and the rest, and the acked ones
//     again only when srv.DupsAllowed. It resumes from its own committed
//     progress (no checkpoint positions) unless the source requires
//     checkpoints: then, as the runtime would restart it from its last
//     checkpoint, one is taken after the acked part (positions, prepare,
//     complete) and the new source is given its positions and handle;
//   - reconnect: srv.Restart while reading, and every record produced
//     before and after it is returned; Read must not fail meanwhile (the
//     runtime stops the pipeline on a Read error) (skipped without
//     Restart);
//   - checkpoint participation, for a source that is a
//     CheckpointParticipant: prepare and complete checkpoint 1 (complete
//     twice), prepare checkpoint 2 and close without completing it, then
//     a source opened with Env.Prepared set to it (and the position of
//     checkpoint 2) opens without error and returns the records after
//     checkpoint 2, those before it again only when srv.DupsAllowed.
//
// A case that expects an exact set of records reads on for 300ms after
// the last one for records that should not come. Env.Metrics is nil (the
// runtime's own is not available outside it); Env.Checkpoint waits until
// every batch returned has been acked. A source that requires checkpoints
// (a CheckpointParticipant, unless an OptionalParticipant that says it
// need not) is opened with Env.Checkpointing set and reads from the
// beginning (an empty Position, or empty Splits), as in a pipeline that
// checkpoints; other sources without Env.Checkpointing.
func RunStreamSourceSuite(t *testing.T, newSource func(t *testing.T) runtime.Source, srv Server) {
	if srv.Produce == nil {
		t.Fatal("Server.Produce is nil: the source suite needs it")
	}
	runCases(t, sourceCases(newSource, srv))
}

// RunStreamSinkSuite runs the conformance cases for a sink that writes to
// a server, each a subtest opening fresh sinks with newSink against srv,
// which must set Written. A sink that is a CheckpointParticipant is
// opened with Env.Checkpointing set, and the suite prepares and completes
// a checkpoint after its writes, as the runtime does, before it looks for
// them in Written. Write is given copies of the suite's records that are
// overwritten once it returns, as the runtime reuses its buffers. The
// cases:
//
//   - writes arrive: one batch, all of it, in order per key, once;
//   - several batches, an empty one among them;
//   - partial failure (when srv.Reject is set): a batch of good records
//     around a Reject() record returns a *runtime.BatchError naming that
//     index alone, with an error matching runtime.ErrRejected, and the
//     good records arrive;
//   - reconnect (when srv.Restart is set): srv.Restart between two
//     writes; the second is written again while it fails, as the runtime
//     retries it (the failed records of a *BatchError, else the batch),
//     until the timeout, and nothing is lost (duplicates only when
//     srv.DupsAllowed); a Write error matching runtime.ErrFatal is not
//     retried: as the runtime restarts the pipeline, the sink is closed
//     (its error ignored), a new one opened with the same DataDir and
//     Env.Prepared set to the last completed checkpoint's handle, and the
//     records after it written again;
//   - checkpoint participation (a CheckpointParticipant): records written
//     and prepared are not in Written before CompleteCheckpoint, are
//     after it, and a second CompleteCheckpoint changes nothing; records
//     of an aborted checkpoint never arrive;
//   - crash recovery (a CheckpointParticipant): records are written and
//     prepared, then the sink is dropped without Close (Close may commit;
//     the suite closes it only when the case ends, after its checks, and
//     ignores that error: the server may have fenced it off); a sink
//     opened with the same DataDir and Env.Prepared set to the handle
//     makes them arrive exactly once, and completing the handle again
//     changes nothing.
func RunStreamSinkSuite(t *testing.T, newSink func(t *testing.T) runtime.Sink, srv Server) {
	if srv.Written == nil {
		t.Fatal("Server.Written is nil: the sink suite needs it")
	}
	runCases(t, sinkCases(newSink, srv))
}

// streamRecords returns n records with values "<prefix>-<from+i>" and
// keys "k0" to "k<keys-1>" in turn.
func streamRecords(prefix string, from, n, keys int) []runtime.Record {
	recs := make([]runtime.Record, n)
	for i := range recs {
		j := from + i
		recs[i] = runtime.Record{
			Key:       fmt.Appendf(nil, "k%d", j%keys),
			Value:     fmt.Appendf(nil, "%s-%d", prefix, j),
			Timestamp: 1700000000000 + int64(j),
		}
	}
	return recs
}

// compareStream checks got against want (whose values are distinct):
// every value of want is in got and nothing else is; a value twice only
// when dups; and when ordered, the first occurrences of each key's
// values in want's order (the key taken from want).
func compareStream(got, want []runtime.Record, dups, ordered bool) error {
	index := make(map[string]int, len(want))
	for i := range want {
		index[string(want[i].Value)] = i
	}
	seen := make(map[string]int, len(got))
	var extra, twice []string
	last := map[string]int{} // key → index in want of its last first occurrence
	var disorder []string
	for i := range got {
		v := string(got[i].Value)
		j, ok := index[v]
		if !ok {
			extra = append(extra, v)
			continue
		}
		if seen[v]++; seen[v] > 1 {
			if !dups {
				twice = append(twice, v)
			}
			continue
		}
		if k := string(want[j].Key); ordered {
			if p, ok := last[k]; ok && p > j {
				disorder = append(disorder, fmt.Sprintf("%s after %s", v, want[p].Value))
			}
			last[k] = j
		}
	}
	var missing []string
	for i := range want {
		if seen[string(want[i].Value)] == 0 {
			missing = append(missing, string(want[i].Value))
		}
	}
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("%d of %d records missing: %s", len(missing), len(want), list(missing)))
	}
	if len(extra) > 0 {
		errs = append(errs, fmt.Errorf("%d records not expected: %s", len(extra), list(extra)))
	}
	if len(twice) > 0 {
		errs = append(errs, fmt.Errorf("%d records more than once (the server is not at-least-once here: Server.DupsAllowed is false): %s", len(twice), list(twice)))
	}
	if len(disorder) > 0 {
		errs = append(errs, fmt.Errorf("records of a key out of order (Server.Ordered): %s", list(disorder)))
	}
	return errors.Join(errs...)
}

func list(s []string) string {
	if len(s) > 8 {
		return strings.Join(s[:8], " ") + fmt.Sprintf(" … (%d more)", len(s)-8)
	}
	return strings.Join(s, " ")
}

// valueSet returns the set of recs' values.
func valueSet(recs []runtime.Record) map[string]bool {
	m := make(map[string]bool, len(recs))
	for i := range recs {
		m[string(recs[i].Value)] = true
	}
	return m
}

// waitUntil polls cond every 25ms (cond may ask a real server) until it
// returns true, and returns an error naming what when it has not after
// timeout or when the test ends. It is WaitFor for the cases, which
// return their failures.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			return fmt.Errorf("test ended while waiting for %s", what)
		}
	}
	return nil
}

// inflight counts the batches a source returned that are not acked yet,
// and is the Env.Checkpoint the suite gives sources: it waits until none
// is.
type inflight struct{ n atomic.Int64 }

func (f *inflight) wrap(ack runtime.AckFunc) runtime.AckFunc {
	f.n.Add(1)
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			ack(err)
			f.n.Add(-1)
		})
	}
}

func (f *inflight) checkpoint(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for f.n.Load() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

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
