package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// partialSink fails, on its first write, the records whose index in the
// batch failed returns, as a *BatchError, and writes the others; later
// writes succeed. It keeps every record written, in arrival order.
type partialSink struct {
	failed func(n int) []int

	mu     sync.Mutex
	writes int
	got    []runtime.Record
}

func (s *partialSink) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *partialSink) Close(ctx context.Context) error                 { return nil }
func (s *partialSink) Write(ctx context.Context, recs []runtime.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	var failed []int
	if s.writes == 1 {
		failed = s.failed(len(recs))
	}
	be := &runtime.BatchError{Failed: failed}
	skip := map[int]bool{}
	for _, i := range failed {
		skip[i] = true
		be.Errs = append(be.Errs, errors.New("rejected"))
	}
	for i, r := range recs {
		if !skip[i] {
			s.got = append(s.got, r.Clone())
		}
	}
	if len(failed) > 0 {
		return be
	}
	return nil
}

func (s *partialSink) records() []runtime.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]runtime.Record(nil), s.got...)
}

// TestSinkPartialFailureKeepsKeyOrder guards issue #8 item 13: after a
// partial failure only the failed records were retried, so a key's later
// records, already written, reached the sink before its failed one. Now
// every later record of a key with a failed record is written again after
// it: reading each key's records by their last write, they are in order,
// none is missing, and each is counted once.
func TestSinkPartialFailureKeepsKeyOrder(t *testing.T) {
	checkNoLeaks(t)
	const n = 100
	spec := parse(t, testRegistry(nil), fmt.Sprintf(`
pipeline: partial
batch: {size: %d, linger: 1ms}
on_error: {backoff: 1ms}
source: {test: {}}
sink: {test: {}}
`, n))
	// Every seventh record fails once; each key has later records.
	sink := &partialSink{failed: func(n int) []int {
		var f []int
		for i := 0; i < n; i += 7 {
			f = append(f, i)
		}
		return f
	}}
	src := &memSource{recs: keyed(n, 3), chunk: n}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := sink.records()
	last := map[string]int{} // value -> index of its last write
	for i, r := range got {
		last[string(r.Value)] = i
	}
	if len(last) != n {
		t.Fatalf("the sink holds %d distinct records, want %d", len(last), n)
	}
	var final []runtime.Record
	for i, r := range got {
		if last[string(r.Value)] == i {
			final = append(final, r)
		}
	}
	checkKeyOrder(t, final)
	if st := p.Stats(); st.RecordsOut != n || st.SinkRetries != 1 {
		t.Fatalf("records out %d (want %d, each once), sink retries %d (want 1)", st.RecordsOut, n, st.SinkRetries)
	}
}

// TestSinkInvalidBatchErrorStops guards issue #8 item 13: failed indexes
// outside the batch were dropped, so the records they stood for were lost
// with exit 0. A BatchError that does not describe the batch stops the
// pipeline with a sink error, and nothing is acknowledged.
func TestSinkInvalidBatchErrorStops(t *testing.T) {
	for _, c := range []struct {
		name   string
		failed func(n int) []int
		want   string
	}{
		{"index past the end", func(n int) []int { return []int{1, n} }, "index 10 of a batch of 10"},
		{"negative index", func(n int) []int { return []int{-1} }, "index -1 of a batch of 10"},
		{"indexes not increasing", func(n int) []int { return []int{3, 3} }, "not increasing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkNoLeaks(t)
			spec := parse(t, testRegistry(nil), `
pipeline: invalid
batch: {size: 10, linger: 1ms}
on_error: {backoff: 1ms}
source: {test: {}}
sink: {test: {}}
`)
			src := &memSource{recs: keyed(10, 3), chunk: 10}
			p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&partialSink{failed: c.failed}))
			if err != nil {
				t.Fatal(err)
			}
			err = p.Run(t.Context())
			var se *runtime.StageError
			if !errors.As(err, &se) || se.Kind != runtime.KindSink || !errors.Is(err, runtime.ErrInvalidBatchError) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run = %v, want a sink StageError wrapping ErrInvalidBatchError with %q", err, c.want)
			}
			if _, acked, nacked := src.counts(); acked != 0 || nacked != 1 {
				t.Fatalf("acked %d, nacked %d: the batch must be given back", acked, nacked)
			}
		})
	}
}
