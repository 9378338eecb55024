package connectortest

import (
	"context"
	"errors"
	"fmt"
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
