package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// checkKeyOrder asserts that, per key, records arrive in source order
// (values carry the source index).
func checkKeyOrder(t *testing.T, got []runtime.Record) {
	t.Helper()
	last := map[string]int{}
	for _, r := range got {
		var i int
		if _, err := fmt.Sscanf(strings.ToLower(string(r.Value)), "value %d", &i); err != nil {
			t.Fatalf("unexpected value %q", r.Value)
		}
		if prev, ok := last[string(r.Key)]; ok && prev >= i {
			t.Fatalf("key %s: record %d arrived after %d", r.Key, i, prev)
		}
		last[string(r.Key)] = i
	}
}

func TestPipelineParallelChain(t *testing.T) {
	checkNoLeaks(t)
	for _, par := range []int{1, 3} {
		t.Run(fmt.Sprintf("parallelism=%d", par), func(t *testing.T) {
			spec := parse(t, testRegistry(nil), fmt.Sprintf(`
pipeline: chain
batch: {size: 64, linger: 1ms}
source: {test: {}}
operators:
  - func: {fn: upper, parallelism: %d}
  - name: second
    func: {fn: fail_bad, parallelism: 2}
sink: {test: {}}
`, par))
			src := &memSource{recs: keyed(5000, 37), chunk: 100}
			sink := &memSink{}
			p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := sink.records()
			if len(got) != 5000 {
				t.Fatalf("sink got %d records, want 5000", len(got))
			}
			for _, r := range got {
				if !bytes.HasPrefix(r.Value, []byte("VALUE ")) {
					t.Fatalf("record not transformed: %q", r.Value)
				}
			}
			checkKeyOrder(t, got)
			reads, acked, nacked := src.counts()
			if acked != reads || nacked != 0 {
				t.Fatalf("acks: %d of %d reads acked, %d nacked", acked, reads, nacked)
			}
			st := p.Stats()
			if st.RecordsIn != 5000 || st.RecordsOut != 5000 || st.Operators[1].Name != "second" {
				t.Fatalf("stats: %+v", st)
			}
		})
	}
}

func TestSinkFailsMidStream(t *testing.T) {
	checkNoLeaks(t)
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("partial=%v", partial), func(t *testing.T) {
			spec := parse(t, testRegistry(nil), `
pipeline: flaky
batch: {size: 50, linger: 1ms}
on_error: {backoff: 1ms, max_backoff: 2ms}
source: {test: {}}
operators: [{func: {fn: upper, parallelism: 2}}]
sink: {test: {}}
`)
			src := &memSource{recs: keyed(2000, 11), chunk: 70}
			sink := &memSink{failFirst: 4, partial: partial}
			p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := sink.records()
			seen := map[string]bool{}
			for _, r := range got {
				seen[string(r.Value)] = true
			}
			if len(seen) != 2000 {
				t.Fatalf("sink has %d distinct records, want 2000 (none lost)", len(seen))
			}
			if !partial {
				if len(got) != 2000 {
					t.Fatalf("sink got %d records, want 2000", len(got))
				}
				checkKeyOrder(t, got)
			}
			if p.Stats().SinkRetries < 4 {
				t.Fatalf("want at least 4 sink retries, got %d", p.Stats().SinkRetries)
			}
			if _, acked, nacked := src.counts(); nacked != 0 || acked == 0 {
				t.Fatalf("acked %d, nacked %d", acked, nacked)
			}
		})
	}
}

func badRecords(n int, bad map[int]bool) []runtime.Record {
	recs := keyed(n, 7)
	for i := range bad {
		recs[i].Value = []byte(fmt.Sprintf("bad %d", i))
	}
	return recs
}

func TestOperatorFailureStops(t *testing.T) {
	checkNoLeaks(t)
	spec := parse(t, testRegistry(nil), `
pipeline: stopper
batch: {size: 10, linger: 1ms}
on_error: {retries: 2, backoff: 1ms, action: stop}
source: {test: {}}
operators: [{func: {fn: fail_bad}}]
sink: {test: {}}
`)
	src := &memSource{recs: badRecords(100, map[int]bool{55: true}), chunk: 10}
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(t.Context())
	var se *runtime.StageError
	if !errors.As(err, &se) || se.Kind != runtime.KindOperator || !strings.Contains(err.Error(), `cannot process "bad 55"`) {
		t.Fatalf("Run = %v, want an operator StageError naming the record", err)
	}
	if p.Stats().OperatorRetries != 2 {
		t.Fatalf("retries = %d, want 2", p.Stats().OperatorRetries)
	}
	// Everything up to the failing batch may be written; the failing batch
	// must be negatively acknowledged, never acknowledged.
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, a := range src.acked {
		if a == 50 {
			t.Fatal("the failing batch was acknowledged")
		}
	}
	if len(src.nacked) == 0 {
		t.Fatal("the failing batch was not negatively acknowledged")
	}
	for _, r := range sink.records() {
		if bytes.HasPrefix(r.Value, []byte("bad")) {
			t.Fatal("a failing record reached the sink")
		}
	}
}

func TestOperatorFailureDeadLetters(t *testing.T) {
	checkNoLeaks(t)
	dlq := &memSink{}
	spec := parse(t, testRegistry(map[string]*memSink{"dlq": dlq}), `
pipeline: dlq
batch: {size: 100, linger: 1ms}
on_error:
  retries: 1
  backoff: 1ms
  action: dead_letter
  dead_letter: {collect: {name: dlq}}
source: {test: {}}
operators: [{func: {fn: fail_bad, parallelism: 2}}]
sink: {test: {}}
`)
	bad := map[int]bool{3: true, 250: true, 251: true, 999: true}
	src := &memSource{recs: badRecords(1000, bad), chunk: 100}
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.records()); n != 1000-len(bad) {
		t.Fatalf("sink got %d records, want %d", n, 1000-len(bad))
	}
	dead := dlq.records()
	if len(dead) != len(bad) {
		t.Fatalf("dead-letter sink got %d records, want %d", len(dead), len(bad))
	}
	for _, r := range dead {
		var i int
		if _, err := fmt.Sscanf(string(r.Value), "bad %d", &i); err != nil || !bad[i] {
			t.Fatalf("unexpected dead record %q", r.Value)
		}
		var msg, comp string
		for _, h := range r.Headers {
			switch h.Name {
			case runtime.HeaderError:
				msg = string(h.Value)
			case runtime.HeaderComponent:
				comp = string(h.Value)
			}
		}
		if !strings.Contains(msg, "cannot process") || comp != "operators[0].func" {
			t.Fatalf("dead record headers: error %q component %q", msg, comp)
		}
	}
	if _, acked, nacked := src.counts(); acked != 10 || nacked != 0 {
		t.Fatalf("acked %d, nacked %d; want 10, 0", acked, nacked)
	}
	if st := p.Stats(); st.DeadLettered != int64(len(bad)) {
		t.Fatalf("stats dead-lettered = %d", st.DeadLettered)
	}
}

func TestNamedOutputs(t *testing.T) {
	alerts := &memSink{}
	spec := parse(t, testRegistry(map[string]*memSink{"alerts": alerts}), `
pipeline: outs
source: {test: {}}
operators: [{func: {fn: route_alerts, parallelism: 2}}]
sink: {test: {}}
outputs:
  alerts: {collect: {name: alerts}}
`)
	recs := keyed(300, 5)
	for i := 0; i < 300; i += 3 {
		recs[i].Value = []byte(fmt.Sprintf("value %d alert", i))
	}
	src := &memSource{recs: recs, chunk: 30}
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a, s := len(alerts.records()), len(sink.records()); a != 100 || s != 200 {
		t.Fatalf("alerts got %d (want 100), sink got %d (want 200)", a, s)
	}
	checkKeyOrder(t, alerts.records())
}

func TestUnconnectedOutputStops(t *testing.T) {
	spec := parse(t, testRegistry(nil), `
pipeline: nowhere
source: {test: {}}
operators: [{func: {fn: route_nowhere}}]
sink: {test: {}}
`)
	p, err := runtime.Build(spec, runtime.WithSource(&memSource{recs: keyed(10, 2), chunk: 5}), runtime.WithSink(&memSink{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err == nil || !strings.Contains(err.Error(), `output "nowhere", which the pipeline does not connect`) {
		t.Fatalf("Run = %v", err)
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	checkNoLeaks(t)
	spec := parse(t, testRegistry(nil), `
pipeline: drain
batch: {size: 1000, linger: 1h}
source: {test: {}}
operators: [{func: {fn: upper, parallelism: 2}}]
sink: {test: {}}
`)
	// The linger of an hour means records only move when shutdown flushes.
	src := &memSource{recs: keyed(500, 9), chunk: 50, endless: true}
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "all records read", func() bool { return p.Stats().RecordsIn == 500 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil (drained)", err)
	}
	if n := len(sink.records()); n != 500 {
		t.Fatalf("sink got %d records after drain, want 500", n)
	}
	checkKeyOrder(t, sink.records())
	if reads, acked, nacked := src.counts(); acked != reads || nacked != 0 {
		t.Fatalf("acked %d of %d, nacked %d", acked, reads, nacked)
	}
}

func TestShutdownTimeoutNacks(t *testing.T) {
	checkNoLeaks(t)
	spec := parse(t, testRegistry(nil), `
pipeline: stuck
shutdown_timeout: 50ms
batch: {size: 10, linger: 1ms}
source: {test: {}}
sink: {test: {}}
`)
	src := &memSource{recs: keyed(100, 3), chunk: 10, endless: true}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&memSink{block: true}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "records read", func() bool { return p.Stats().RecordsIn > 0 })
	cancel()
	if err := <-done; !errors.Is(err, runtime.ErrDrainTimeout) {
		t.Fatalf("Run = %v, want ErrDrainTimeout", err)
	}
	reads, acked, nacked := src.counts()
	if acked != 0 || nacked != reads {
		t.Fatalf("reads %d acked %d nacked %d: every read batch must be nacked", reads, acked, nacked)
	}
}

func TestSpecReportsEveryProblem(t *testing.T) {
	reg := testRegistry(nil)
	_, err := runtime.Parse([]byte(`
pipeline: "bad name!"
batch: {size: 0, lingr: 5ms}
source: {tset: {}}
operators:
  - func: {fn: upper, parallelism: 0, paralelism: 2}
  - func: {fn: uper}
  - name: x
sink: {test: {}, collect: {}}
on_error: {action: dead_letter, retries: many}
`), reg)
	var ce *runtime.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Parse = %v, want *ConfigError", err)
	}
	want := []string{
		`pipeline: "bad name!" is not a valid name`,
		`batch.lingr: unknown field (did you mean "linger"?)`,
		`batch.size: must be at least 1`,
		`source.tset: unknown source (did you mean "test"?)`,
		`operators[0].func.paralelism: unknown field (did you mean "parallelism"?)`,
		`operators[1].func.fn: "uper" is not one of upper, fail_bad, route_alerts, route_nowhere, tag_instance (did you mean "upper"?)`,
		`operators[2]: no operator given`,
		`sink: give exactly one sink, found 2 keys`,
		`on_error.retries: want an integer, found "many"`,
		`on_error.dead_letter: required when on_error.action is dead_letter`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing problem %q in:\n%s", w, msg)
		}
	}
	if !strings.Contains(msg, "line 3:") {
		t.Errorf("problems carry no line numbers:\n%s", msg)
	}
}

func TestKeyGroupStable(t *testing.T) {
	// Key groups are persisted with keyed state: these values must never
	// change.
	for _, c := range []struct {
		key  string
		want int
	}{{"", 38}, {"a", 91}, {"user-42", 13}, {"hello world", 85}} {
		if got := runtime.KeyGroup([]byte(c.key), 128); got != c.want {
			t.Errorf("KeyGroup(%q, 128) = %d, want %d", c.key, got, c.want)
		}
	}
	seen := map[int]int{}
	for i := 0; i < 12800; i++ {
		seen[runtime.KeyGroup([]byte(fmt.Sprintf("user-%d", i)), 128)]++
	}
	for g := 0; g < 128; g++ {
		if seen[g] < 50 || seen[g] > 150 {
			t.Fatalf("key group %d got %d of 12800 keys: poor spread", g, seen[g])
		}
	}
}
