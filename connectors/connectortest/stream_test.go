package connectortest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// The types below are in-memory stand-ins for a broker and its
// connectors, used only to test the stream suites: a correct source and
// sink the suites must pass, and flawed ones (a flaw names the bug) whose
// bugs the suites' checks must report.

// memBroker is an in-memory stand-in for a broker: a log sources read, the
// offsets their groups committed, what sinks committed, and the
// transactions sinks prepared. Safe for concurrent use.
type memBroker struct {
	mu       sync.Mutex
	log      []runtime.Record
	changed  chan struct{} // closed and replaced when log or epoch change
	epoch    int           // bumped by a restart: connections break
	groups   map[string]int
	written  []runtime.Record
	prepared map[string][]runtime.Record // by handle
}

// maxValue is the largest value memBroker takes from a sink.
const maxValue = 64

func (b *memBroker) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// memServer hands each test a memBroker of its own, by test name.
type memServer struct{ brokers sync.Map }

func (m *memServer) broker(t *testing.T) *memBroker {
	v, _ := m.brokers.LoadOrStore(t.Name(), &memBroker{changed: make(chan struct{}),
		groups: map[string]int{}, prepared: map[string][]runtime.Record{}})
	return v.(*memBroker)
}

// server describes m as a Server with every optional part set.
func (m *memServer) server(timeout time.Duration) Server {
	return Server{
		Produce: func(t *testing.T, recs []runtime.Record) {
			b := m.broker(t)
			b.mu.Lock()
			defer b.mu.Unlock()
			for i := range recs {
				b.log = append(b.log, recs[i].Clone())
			}
			b.notify()
		},
		Written: func(t *testing.T) []runtime.Record {
			b := m.broker(t)
			b.mu.Lock()
			defer b.mu.Unlock()
			return cloneRecords(b.written)
		},
		Restart: func(t *testing.T) {
			b := m.broker(t)
			b.mu.Lock()
			defer b.mu.Unlock()
			b.epoch++
			b.notify()
		},
		Reject:  func() runtime.Record { return runtime.Record{Value: make([]byte, maxValue+1)} },
		Ordered: true,
		Timeout: timeout,
	}
}

// Flaws of the stand-in connectors.
const (
	flawNone             = ""
	flawLoseOnCancel     = "drops the next record after a cancelled Read"
	flawIgnorePosition   = "resumes from its own progress, not Env.Position"
	flawCommitOnNack     = "commits a nacked batch"
	flawFailOnRestart    = "fails Read when the connection breaks"
	flawReadTwice        = "returns every record twice"
	flawCompleteOnce     = "fails CompleteCheckpoint for a handle already completed"
	flawWriteTwice       = "writes every record twice"
	flawRejectWhole      = "fails the whole batch for a rejected record"
	flawRejectRetryable  = "reports a rejected record without ErrRejected"
	flawLoseAfterRestart = "drops the first Write after the connection breaks"
	flawVisibleAtPrepare = "commits at PrepareCheckpoint"
	flawAbortCommits     = "commits at AbortCheckpoint"
	flawIgnorePrepared   = "does not complete Env.Prepared at Open"
	flawCompleteTwice    = "commits again when completed again"
)

// memSource reads a memBroker's log from an offset, returning batches of
// at most Env.BatchSize, and commits the offset of its group (its
// DataDir) as batches are acked in order; a nacked batch holds the
// commit back. Read reconnects when the broker restarts.
type memSource struct {
	srv  *memServer
	t    *testing.T
	flaw string

	b         *memBroker
	group     string
	max       int
	epoch     int
	skipNext  bool
	mu        sync.Mutex
	pos       int         // next offset to read
	unsettled []*memBatch // in read order
	completed map[string]bool
}

type memBatch struct {
	end   int
	acked bool
}

func (s *memSource) Open(ctx context.Context, env runtime.Env) error {
	s.b = s.srv.broker(s.t)
	s.group, s.max = env.DataDir, env.BatchSize
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.epoch = s.b.epoch
	if env.Prepared != nil {
		off, err := strconv.Atoi(string(env.Prepared.Handle))
		if err != nil {
			return fmt.Errorf("decoding the prepared handle: %w", err)
		}
		s.b.groups[s.group] = max(s.b.groups[s.group], off)
	}
	var pos []byte
	switch {
	case s.flaw == flawIgnorePosition:
		s.pos = s.b.groups[s.group]
		return nil
	case env.Splits != nil:
		pos = env.Splits["p0"]
	case env.Position != nil:
		pos = env.Position
	default:
		s.pos = s.b.groups[s.group]
		return nil
	}
	if len(pos) > 0 {
		off, err := strconv.Atoi(string(pos))
		if err != nil {
			return fmt.Errorf("decoding the position: %w", err)
		}
		s.pos = off
	}
	return nil
}

func (s *memSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	for {
		s.b.mu.Lock()
		if s.b.epoch != s.epoch {
			if s.flaw == flawFailOnRestart {
				s.b.mu.Unlock()
				return nil, nil, errors.New("connection reset")
			}
			s.epoch = s.b.epoch
		}
		s.mu.Lock()
		if s.skipNext && s.pos < len(s.b.log) {
			s.pos++
			s.skipNext = false
		}
		if s.pos < len(s.b.log) {
			end := min(s.pos+s.max, len(s.b.log))
			recs := cloneRecords(s.b.log[s.pos:end])
			s.pos = end
			batch := &memBatch{end: end}
			s.unsettled = append(s.unsettled, batch)
			s.mu.Unlock()
			s.b.mu.Unlock()
			if s.flaw == flawReadTwice {
				recs = append(recs, cloneRecords(recs)...)
			}
			return recs, func(err error) { s.settle(batch, err) }, nil
		}
		s.mu.Unlock()
		changed := s.b.changed
		s.b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			if s.flaw == flawLoseOnCancel {
				s.mu.Lock()
				s.skipNext = true
				s.mu.Unlock()
			}
			return nil, nil, ctx.Err()
		}
	}
}

// settle records an ack and commits the offset past the batches acked
// in order.
func (s *memSource) settle(batch *memBatch, err error) {
	s.mu.Lock()
	batch.acked = err == nil || s.flaw == flawCommitOnNack
	off := -1
	for len(s.unsettled) > 0 && s.unsettled[0].acked {
		off = s.unsettled[0].end
		s.unsettled = s.unsettled[1:]
	}
	s.mu.Unlock()
	if off >= 0 {
		s.commit(off)
	}
}

// commit commits off for the source's group. Called without s.mu held
// (Read takes b.mu, then s.mu).
func (s *memSource) commit(off int) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.groups[s.group] = max(s.b.groups[s.group], off)
}

func (s *memSource) position() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []byte(strconv.Itoa(s.pos))
}

func (s *memSource) Close(ctx context.Context) error { return nil }

// positionedSource is a memSource that is a PositionedSource and a
// CheckpointParticipant: a checkpoint's handle is the offset, committed
// for its group when the checkpoint completes.
type positionedSource struct{ *memSource }

func (s positionedSource) Position() ([]byte, error) { return s.position(), nil }

func (s positionedSource) PrepareCheckpoint(ctx context.Context, id uint64) ([]byte, error) {
	return s.position(), nil
}

func (s positionedSource) CompleteCheckpoint(ctx context.Context, id uint64, handle []byte) error {
	off, err := strconv.Atoi(string(handle))
	if err != nil {
		return fmt.Errorf("decoding handle %q: %w", handle, err)
	}
	s.mu.Lock()
	again := s.completed[string(handle)]
	if s.completed == nil {
		s.completed = map[string]bool{}
	}
	s.completed[string(handle)] = true
	s.mu.Unlock()
	if again && s.flaw == flawCompleteOnce {
		return errors.New("no such checkpoint")
	}
	s.commit(off)
	return nil
}

func (s positionedSource) AbortCheckpoint(ctx context.Context, id uint64, handle []byte) error {
	return nil
}

// splitSource is a memSource that is a SplitSource of one split, "p0".
type splitSource struct{ *memSource }

func (s splitSource) SplitPositions() (map[string][]byte, error) {
	return map[string][]byte{"p0": s.position()}, nil
}

// memSink writes to a memBroker's committed records. Its first Write after
// the broker restarted fails (the connection broke; it reconnects), and a
// value over maxValue is rejected.
type memSink struct {
	srv  *memServer
	t    *testing.T
	flaw string

	b       *memBroker
	id      string
	epoch   int
	txn     bool
	fatal   bool // a broken connection aborts the transaction: Write fails with ErrFatal
	pending []runtime.Record
}

func (s *memSink) Open(ctx context.Context, env runtime.Env) error {
	s.b, s.id = s.srv.broker(s.t), env.DataDir
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.epoch = s.b.epoch
	if s.txn && env.Prepared != nil && s.flaw != flawIgnorePrepared {
		s.complete(string(env.Prepared.Handle))
	}
	return nil
}

func (s *memSink) Write(ctx context.Context, recs []runtime.Record) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.b.epoch != s.epoch {
		s.epoch = s.b.epoch
		if s.flaw == flawLoseAfterRestart {
			return nil
		}
		if s.fatal {
			s.pending = nil
			return runtime.Fatal(errors.New("the transaction was aborted: connection reset"))
		}
		return errors.New("connection reset")
	}
	var be runtime.BatchError
	for i := range recs {
		if len(recs[i].Value) > maxValue {
			err := fmt.Errorf("value of %d bytes, over %d", len(recs[i].Value), maxValue)
			switch s.flaw {
			case flawRejectWhole:
				return err
			case flawRejectRetryable:
			default:
				err = runtime.Rejected(err)
			}
			be.Failed, be.Errs = append(be.Failed, i), append(be.Errs, err)
			continue
		}
		n := 1
		if s.flaw == flawWriteTwice {
			n = 2
		}
		for range n {
			if s.txn {
				s.pending = append(s.pending, recs[i].Clone())
			} else {
				s.b.written = append(s.b.written, recs[i].Clone())
			}
		}
	}
	if len(be.Failed) > 0 {
		return &be
	}
	return nil
}

// complete commits the transaction prepared as handle, if it is still
// prepared. Called with b.mu held.
func (s *memSink) complete(handle string) {
	recs, ok := s.b.prepared[handle]
	if !ok && s.flaw != flawCompleteTwice {
		return
	}
	s.b.written = append(s.b.written, recs...)
	if s.flaw == flawCompleteTwice {
		s.b.prepared[handle] = recs
		return
	}
	delete(s.b.prepared, handle)
}

func (s *memSink) Close(ctx context.Context) error { return nil }

// txnSink is a memSink that is a CheckpointParticipant: what it writes is
// a transaction, prepared at a checkpoint and committed when it
// completes.
type txnSink struct{ *memSink }

func (s txnSink) PrepareCheckpoint(ctx context.Context, id uint64) ([]byte, error) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	h := fmt.Sprintf("%s/%d", s.id, id)
	s.b.prepared[h], s.pending = s.pending, nil
	if s.flaw == flawVisibleAtPrepare {
		s.complete(h)
	}
	return []byte(h), nil
}

func (s txnSink) CompleteCheckpoint(ctx context.Context, id uint64, handle []byte) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.complete(string(handle))
	return nil
}

func (s txnSink) AbortCheckpoint(ctx context.Context, id uint64, handle []byte) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.flaw == flawAbortCommits {
		s.complete(string(handle))
		return nil
	}
	delete(s.b.prepared, string(handle))
	return nil
}

func (m *memServer) newPositioned(flaw string) func(*testing.T) runtime.Source {
	return func(t *testing.T) runtime.Source { return positionedSource{&memSource{srv: m, t: t, flaw: flaw}} }
}

func (m *memServer) newSplit(flaw string) func(*testing.T) runtime.Source {
	return func(t *testing.T) runtime.Source { return splitSource{&memSource{srv: m, t: t, flaw: flaw}} }
}

func (m *memServer) newPlainSink(flaw string) func(*testing.T) runtime.Sink {
	return func(t *testing.T) runtime.Sink { return &memSink{srv: m, t: t, flaw: flaw} }
}

func (m *memServer) newTxnSink(flaw string) func(*testing.T) runtime.Sink {
	return func(t *testing.T) runtime.Sink { return txnSink{&memSink{srv: m, t: t, flaw: flaw, txn: true}} }
}

// TestStreamSuitesPass runs the suites on the correct stand-ins: every
// case applies to them and passes.
func TestStreamSuitesPass(t *testing.T) {
	m := &memServer{}
	srv := m.server(0)
	t.Run("positioned participant source", func(t *testing.T) { RunStreamSourceSuite(t, m.newPositioned(flawNone), srv) })
	t.Run("split source", func(t *testing.T) { RunStreamSourceSuite(t, m.newSplit(flawNone), srv) })
	t.Run("sink", func(t *testing.T) { RunStreamSinkSuite(t, m.newPlainSink(flawNone), srv) })
	t.Run("transactional sink", func(t *testing.T) { RunStreamSinkSuite(t, m.newTxnSink(flawNone), srv) })
}

// TestStreamSinkRestartFatal: a transactional sink whose transaction a
// restart aborts (Write fails with ErrFatal) passes the reconnect case
// the way the runtime would run it: a new sink completes the last
// checkpoint and the records after it are written again, once.
func TestStreamSinkRestartFatal(t *testing.T) {
	m := &memServer{}
	opened := 0
	newSink := func(t *testing.T) runtime.Sink {
		opened++
		return txnSink{&memSink{srv: m, t: t, txn: true, fatal: true}}
	}
	if err := checkSinkRestart(t, newSink, m.server(0)); err != nil {
		t.Fatal(err)
	}
	if opened != 2 {
		t.Fatalf("%d sinks opened, want 2: the fatal error reopens one", opened)
	}
}

// TestStreamChecksCatchFlaws runs each check on a stand-in with one flaw
// and requires the check to report it.
func TestStreamChecksCatchFlaws(t *testing.T) {
	m := &memServer{}
	srv := m.server(500 * time.Millisecond)
	type check func(*testing.T) error
	src := func(f func(*testing.T, func(*testing.T) runtime.Source, Server) error, newSource func(*testing.T) runtime.Source) check {
		return func(t *testing.T) error { return f(t, newSource, srv) }
	}
	sink := func(f func(*testing.T, func(*testing.T) runtime.Sink, Server) error, newSink func(*testing.T) runtime.Sink) check {
		return func(t *testing.T) error { return f(t, newSink, srv) }
	}
	for _, c := range []struct {
		flaw  string
		check check
		want  string // in the error
	}{
		{flawReadTwice, src(checkSourceReads, m.newPositioned(flawReadTwice)), "more than once"},
		{flawLoseOnCancel, src(checkSourceCancel, m.newPositioned(flawLoseOnCancel)), "1 of 20 records missing"},
		{flawIgnorePosition, src(checkSourceResume, m.newPositioned(flawIgnorePosition)), "missing"},
		{flawIgnorePosition + " (split)", src(checkSourceResume, m.newSplit(flawIgnorePosition)), "missing"},
		{flawCommitOnNack, src(checkSourceRedelivery, m.newSplit(flawCommitOnNack)), "missing"},
		{flawFailOnRestart, src(checkSourceRestart, m.newPositioned(flawFailOnRestart)), "runtime stops the pipeline on a Read error"},
		{flawCompleteOnce, src(checkSourceParticipant, m.newPositioned(flawCompleteOnce)), "CompleteCheckpoint(1), call 2"},
		{flawWriteTwice, sink(checkSinkWrites, m.newPlainSink(flawWriteTwice)), "more than once"},
		{flawWriteTwice + " (batches)", sink(checkSinkBatches, m.newTxnSink(flawWriteTwice)), "more than once"},
		{flawRejectWhole, sink(checkSinkRejected, m.newPlainSink(flawRejectWhole)), "want a *runtime.BatchError"},
		{flawRejectRetryable, sink(checkSinkRejected, m.newTxnSink(flawRejectRetryable)), "does not match runtime.ErrRejected"},
		{flawLoseAfterRestart, sink(checkSinkRestart, m.newPlainSink(flawLoseAfterRestart)), "10 of 20 records missing"},
		{flawVisibleAtPrepare, sink(checkSinkParticipant, m.newTxnSink(flawVisibleAtPrepare)), "before CompleteCheckpoint"},
		{flawAbortCommits, sink(checkSinkParticipant, m.newTxnSink(flawAbortCommits)), "not expected"},
		{flawCompleteTwice, sink(checkSinkParticipant, m.newTxnSink(flawCompleteTwice)), "more than once"},
		{flawIgnorePrepared, sink(checkSinkRecovery, m.newTxnSink(flawIgnorePrepared)), "timed out"},
		{flawCompleteTwice + " (recovery)", sink(checkSinkRecovery, m.newTxnSink(flawCompleteTwice)), "more than once"},
	} {
		t.Run(c.flaw, func(t *testing.T) {
			err := c.check(t)
			if err == nil {
				t.Fatalf("the check passed a connector that %s", c.flaw)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("the check failed with %q, want an error containing %q", err, c.want)
			}
			var s *skipError
			if errors.As(err, &s) {
				t.Fatalf("the check skipped: %v", err)
			}
		})
	}
}

// TestStreamChecksSkip: cases that do not apply say why, rather than
// passing: no Restart, no Reject, a sink or source without the optional
// interfaces.
func TestStreamChecksSkip(t *testing.T) {
	m := &memServer{}
	srv := m.server(0)
	srv.Restart, srv.Reject = nil, nil
	plainSource := func(t *testing.T) runtime.Source { return &memSource{srv: m, t: t} }
	for name, check := range map[string]func(*testing.T) error{
		"source restart":     func(t *testing.T) error { return checkSourceRestart(t, m.newPositioned(flawNone), srv) },
		"source resume":      func(t *testing.T) error { return checkSourceResume(t, plainSource, srv) },
		"source participant": func(t *testing.T) error { return checkSourceParticipant(t, m.newSplit(flawNone), srv) },
		"sink restart":       func(t *testing.T) error { return checkSinkRestart(t, m.newTxnSink(flawNone), srv) },
		"sink reject":        func(t *testing.T) error { return checkSinkRejected(t, m.newTxnSink(flawNone), srv) },
		"sink participant":   func(t *testing.T) error { return checkSinkParticipant(t, m.newPlainSink(flawNone), srv) },
		"sink recovery":      func(t *testing.T) error { return checkSinkRecovery(t, m.newPlainSink(flawNone), srv) },
	} {
		t.Run(name, func(t *testing.T) {
			var s *skipError
			if err := check(t); !errors.As(err, &s) || s.reason == "" {
				t.Fatalf("check = %v, want a skip with a reason", err)
			}
		})
	}
	// A plain source still passes what applies to it.
	if err := checkSourceRedelivery(t, plainSource, srv); err != nil {
		t.Fatalf("redelivery of a plain source: %v", err)
	}
}

// TestCompareStream checks the comparison every case ends with.
func TestCompareStream(t *testing.T) {
	want := streamRecords("v", 0, 6, 2) // keys k0 k1 k0 k1 k0 k1
	pick := func(is ...int) []runtime.Record {
		out := make([]runtime.Record, len(is))
		for j, i := range is {
			out[j] = want[i]
		}
		return out
	}
	extra := append(pick(0, 1, 2, 3, 4, 5), runtime.Record{Value: []byte("other")})
	for _, c := range []struct {
		name          string
		got           []runtime.Record
		dups, ordered bool
		wantErr       string // "" for none
	}{
		{"equal", pick(0, 1, 2, 3, 4, 5), false, true, ""},
		{"other keys interleaved", pick(1, 3, 5, 0, 2, 4), false, true, ""},
		{"missing", pick(0, 1, 2, 3, 5), false, true, "1 of 6 records missing: v-4"},
		{"extra", extra, false, true, "1 records not expected: other"},
		{"twice", pick(0, 1, 2, 3, 4, 5, 2), false, true, "1 records more than once"},
		{"twice allowed", pick(0, 1, 2, 3, 2, 4, 5), true, true, ""},
		{"out of order", pick(2, 0, 1, 3, 4, 5), false, true, "v-0 after v-2"},
		{"out of order, unordered", pick(2, 0, 1, 3, 4, 5), false, false, ""},
		{"redelivered from earlier", pick(0, 2, 0, 4, 1, 3, 5), true, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := compareStream(c.got, want, c.dups, c.ordered)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("compareStream: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("compareStream = %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
}
