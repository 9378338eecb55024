package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// failFactory builds operators that fail a whole call when fail returns an
// error for its batch, and otherwise pass the records through. Each call
// takes at least delay. calls counts every Process call.
type failFactory struct {
	fail  func(in []runtime.Record) error
	delay time.Duration
	calls atomic.Int64
}

func (f *failFactory) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	return &failOp{f: f}, nil
}
func (f *failFactory) Close(ctx context.Context) error { return nil }

type failOp struct{ f *failFactory }

func (o *failOp) Close(ctx context.Context) error { return nil }
func (o *failOp) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	o.f.calls.Add(1)
	if o.f.delay > 0 {
		time.Sleep(o.f.delay) // the operator's own work, which the budget measures
	}
	if err := o.f.fail(in); err != nil {
		return nil, err
	}
	return append(out, in...), nil
}

// timeoutError is a deadline-type failure, as the Wasm host reports a call
// stopped at its deadline.
type timeoutError struct{ msg string }

func (e timeoutError) Error() string { return e.msg }
func (e timeoutError) Timeout() bool { return true }

// failOnBad fails a batch holding a record whose value starts with "bad";
// distinct names each bad record in the error, as a guest that reports
// which record it choked on; otherwise every bad record fails alike, as a
// trap does.
func failOnBad(distinct bool) func([]runtime.Record) error {
	return func(in []runtime.Record) error {
		for _, r := range in {
			if bytes.HasPrefix(r.Value, []byte("bad")) {
				if distinct {
					return fmt.Errorf("cannot process %q", r.Value)
				}
				return errors.New("guest trapped: unreachable")
			}
		}
		return nil
	}
}

// TestIsolationIsBounded guards issue #8 item 12: dead-letter bisection
// was unbounded. A batch-level failure (every call fails alike: a
// dependency is down) was bisected into 2,001 calls that dead-lettered
// every good record and returned exit 0; a deadline-type failure was
// bisected call after call at the deadline each. Now a batch-level failure
// is recognised after the first split and a single record, isolation has a
// call and a time budget, and what is not isolated gets
// on_error.batch_action: the pipeline stops, or the records are
// dead-lettered as one batch, never silently passed.
func TestIsolationIsBounded(t *testing.T) {
	const n = 1000
	down := func([]runtime.Record) error { return errors.New("calling the pricing service: connection refused") }
	cases := []struct {
		name     string
		policy   string
		fail     func([]runtime.Record) error
		delay    time.Duration
		bad      map[int]bool
		maxCalls int64 // Process calls, retries included
		wantErr  string
		dead     int // records dead-lettered
		out      int // records written by the sink
	}{
		{name: "dependency down stops", policy: "", fail: down,
			maxCalls: 1 + 1 + 3, wantErr: "batch failed as a whole: both halves"},
		{name: "dependency down dead-letters one batch", policy: ", batch_action: dead_letter", fail: down,
			maxCalls: 1 + 1 + 3, dead: n},
		{name: "traps alike in both halves are still isolated", policy: "", fail: failOnBad(false),
			bad: map[int]bool{10: true, 900: true}, maxCalls: 60, dead: 2, out: n - 2},
		{name: "call budget stops", policy: ", isolate_calls: 10", fail: failOnBad(true),
			bad: everyRecord(n), maxCalls: 1 + 1 + 10, wantErr: "ran out of its budget after 10 calls"},
		{name: "call budget dead-letters the rest", policy: ", isolate_calls: 10, batch_action: dead_letter", fail: failOnBad(true),
			bad: everyRecord(n), maxCalls: 1 + 1 + 10, dead: n},
		{name: "deadline-type failures meet the time budget", policy: ", isolate_timeout: 100ms, batch_action: dead_letter",
			fail: func(in []runtime.Record) error {
				if err := failOnBad(true)(in); err != nil {
					return timeoutError{fmt.Sprintf("call exceeded its deadline: %v", err)}
				}
				return nil
			},
			delay: 20 * time.Millisecond, bad: map[int]bool{500: true}, maxCalls: 1 + 1 + 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkNoLeaks(t)
			dlq := &memSink{}
			reg := testRegistry(map[string]*memSink{"dlq": dlq})
			f := &failFactory{fail: c.fail, delay: c.delay}
			runtime.AddOperator(reg, "failing", "fails by its test's rule", func(*struct {
				runtime.OperatorSettings `yaml:",inline"`
			}) (runtime.OperatorFactory, error) {
				return f, nil
			})
			spec := parse(t, reg, fmt.Sprintf(`
pipeline: isolate
batch: {size: %d, linger: 1ms}
on_error: {retries: 1, backoff: 1ms, action: dead_letter, dead_letter: {collect: {name: dlq}}%s}
source: {test: {}}
operators: [{failing: {}}]
sink: {test: {}}
`, n, c.policy))
			src := &memSource{recs: badRecords(n, c.bad), chunk: n}
			sink := &memSink{}
			p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = p.Run(t.Context())
			took := time.Since(start)
			if calls := f.calls.Load(); calls > c.maxCalls {
				t.Errorf("%d operator calls, want at most %d", calls, c.maxCalls)
			}
			_, acked, nacked := src.counts()
			if c.wantErr != "" {
				var se *runtime.StageError
				if !errors.As(err, &se) || se.Kind != runtime.KindOperator || !errors.Is(err, runtime.ErrBatchFailure) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Run = %v, want an operator StageError wrapping ErrBatchFailure with %q", err, c.wantErr)
				}
				if acked != 0 || nacked != 1 {
					t.Fatalf("acked %d, nacked %d: the failed batch must be given back", acked, nacked)
				}
				if d := len(dlq.records()); d != 0 {
					t.Fatalf("%d records dead-lettered though the pipeline stopped", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			dead, out := dlq.records(), sink.records()
			if c.dead > 0 && len(dead) != c.dead || c.out > 0 && len(out) != c.out || len(dead)+len(out) != n {
				t.Fatalf("dead-lettered %d (want %d), written %d (want %d), of %d", len(dead), c.dead, len(out), c.out, n)
			}
			for _, r := range out {
				if bytes.HasPrefix(r.Value, []byte("bad")) {
					t.Fatalf("a failing record was written: %q", r.Value)
				}
			}
			if c.delay > 0 && took > 100*time.Millisecond+10*c.delay {
				t.Fatalf("isolation took %v, past its 100ms budget", took)
			}
			if c.delay > 0 && len(dead) < 2 {
				t.Fatalf("dead-lettered %d records: the time budget was not reached", len(dead))
			}
			if acked != 1 || nacked != 0 {
				t.Fatalf("acked %d, nacked %d", acked, nacked)
			}
		})
	}
}

func everyRecord(n int) map[int]bool {
	m := make(map[int]bool, n)
	for i := range n {
		m[i] = true
	}
	return m
}
