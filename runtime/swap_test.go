package runtime_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// feedSource returns the batches the test feeds it, blocking in between.
type feedSource struct{ c chan []runtime.Record }

func (s *feedSource) Open(context.Context, runtime.Env) error { return nil }
func (s *feedSource) Close(context.Context) error             { return nil }
func (s *feedSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	select {
	case recs := <-s.c:
		return recs, func(error) {}, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// taggedCount counts records per key in keyed state and emits each
// record's value prefixed with its tag (the version that processed it);
// with failOn set it fails any batch holding a value with that prefix.
type taggedCount struct {
	tag    string
	failOn string
	fail   error // New fails with it
	closed *sync.WaitGroup
}

func (f *taggedCount) Stateful() bool                  { return true }
func (f *taggedCount) Close(ctx context.Context) error { return nil }
func (f *taggedCount) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	return &taggedOp{f: f, tx: env.State.NewTxn(env.Operator)}, nil
}

type taggedOp struct {
	f  *taggedCount
	tx *state.Txn
}

func (o *taggedOp) Close(ctx context.Context) error { return nil }
func (o *taggedOp) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	if o.f.failOn != "" {
		for _, r := range in {
			if strings.HasPrefix(string(r.Value), o.f.failOn) {
				return nil, fmt.Errorf("version %s cannot process %q", o.f.tag, r.Value)
			}
		}
	}
	o.tx.Begin()
	for _, r := range in {
		if _, err := o.tx.Add(state.ScopeKey, r.Key, []byte("n"), 1); err != nil {
			o.tx.Reset()
			return nil, err
		}
	}
	o.tx.Commit()
	for _, r := range in {
		r.Value = []byte(o.f.tag + ":" + string(r.Value))
		out = append(out, r)
	}
	return out, nil
}

// swapHarness runs a stateful pipeline whose operator "count" is a
// taggedCount v1, fed by the test.
type swapHarness struct {
	t    *testing.T
	p    *runtime.Pipeline
	src  *feedSource
	sink *memSink
	next int
	done chan error
	stop context.CancelFunc
}

func newSwapHarness(t *testing.T) *swapHarness {
	reg := testRegistry(nil)
	runtime.AddOperator(reg, "tagged", "test", func(*struct {
		runtime.OperatorSettings `yaml:",inline"`
	}) (runtime.OperatorFactory, error) {
		return &taggedCount{tag: "v1"}, nil
	})
	spec := parse(t, reg, `
pipeline: swap
batch: {size: 10, linger: 1ms}
source: {test: {}}
operators: [{name: count, tagged: {parallelism: 2}}]
sink: {test: {}}
state: {checkpoint_interval: 1h, query: "off"}
`)
	h := &swapHarness{t: t, src: &feedSource{c: make(chan []runtime.Record)}, sink: &memSink{}, done: make(chan error, 1)}
	var err error
	h.p, err = runtime.Build(spec, runtime.WithSource(h.src), runtime.WithSink(h.sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	h.stop = cancel
	go func() { h.done <- h.p.Run(ctx) }()
	return h
}

// feed sends n records (sequence numbers over 5 keys) in batches of 10.
func (h *swapHarness) feed(n int) {
	for n > 0 {
		var recs []runtime.Record
		for range min(n, 10) {
			recs = append(recs, runtime.Record{Key: []byte(strconv.Itoa(h.next % 5)), Value: []byte(fmt.Sprintf("%05d", h.next))})
			h.next++
			n--
		}
		h.src.c <- recs
	}
}

// feedUntil feeds until done reports true.
func (h *swapHarness) feedUntil(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		default:
			h.feed(10)
		}
	}
}

// finish stops the pipeline and checks every record arrived once, and
// that the state counted each once; it returns the tags by sequence.
func (h *swapHarness) finish() []string {
	t := h.t
	waitFor(t, "every record written", func() bool { return len(h.sink.records()) >= h.next })
	h.stop()
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	recs := h.sink.records()
	tags := make([]string, h.next)
	for _, r := range recs {
		tag, seq, _ := strings.Cut(string(r.Value), ":")
		i, err := strconv.Atoi(seq)
		if err != nil || i >= h.next {
			t.Fatalf("unexpected output %q", r.Value)
		}
		if tags[i] != "" {
			t.Fatalf("record %d written twice", i)
		}
		tags[i] = tag
	}
	if len(recs) != h.next {
		t.Fatalf("%d records written, want %d", len(recs), h.next)
	}
	st, _, err := state.Open(state.Options{Dir: h.p.Spec().DataDir + "/state"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for k := range 5 {
		v, _, ok, err := st.Lookup("count", state.ScopeKey, []byte(strconv.Itoa(k)), []byte("n"), false)
		want := (h.next + 4 - k) / 5
		if err != nil || !ok || int(binary.LittleEndian.Uint64(v)) != want {
			t.Fatalf("key %d counted %x (%v), want %d", k, v, err, want)
		}
	}
	return tags
}

// TestSwapKeepsStateAndLosesNothing: a new version swapped in while
// records flow takes over at a checkpoint: every record is processed
// once, by the old version before the swap and the new one after, and
// the new version goes on counting in the state the old one wrote.
func TestSwapKeepsStateAndLosesNothing(t *testing.T) {
	h := newSwapHarness(t)
	h.feed(300)
	done := make(chan struct{})
	var res runtime.SwapResult
	var serr error
	go func() {
		defer close(done)
		res, serr = h.p.Swap(t.Context(), "count", &taggedCount{tag: "v2"}, runtime.SwapOptions{})
	}()
	h.feedUntil(done)
	if serr != nil {
		t.Fatal(serr)
	}
	h.feed(300)
	if res.Checkpoint == 0 || res.Pause <= 0 {
		t.Fatalf("swap result %+v: want a checkpoint at its boundary", res)
	}
	tags := h.finish()
	switched := -1
	for i, tag := range tags {
		if tag == "v2" && switched < 0 {
			switched = i
		}
		if (switched >= 0) != (tag == "v2") {
			t.Fatalf("record %d processed by %s after the switch at %d", i, tag, switched)
		}
	}
	if switched < 300 || switched > h.next-300 {
		t.Fatalf("switched at record %d of %d", switched, h.next)
	}
}

// TestSwapCanaryRollsBack: a new version that fails within its canary is
// rolled back; the failed batch and all later ones are processed by the
// old version, nothing is lost or counted twice, and Swap says why.
func TestSwapCanaryRollsBack(t *testing.T) {
	h := newSwapHarness(t)
	h.feed(100)
	done := make(chan struct{})
	var serr error
	go func() {
		defer close(done)
		_, serr = h.p.Swap(t.Context(), "count", &taggedCount{tag: "v2", failOn: "0020"}, runtime.SwapOptions{Canary: 1000})
	}()
	h.feedUntil(done)
	if !errors.Is(serr, runtime.ErrRolledBack) || !strings.Contains(serr.Error(), "version v2 cannot process") {
		t.Fatalf("Swap: %v; want a rollback saying why", serr)
	}
	h.feed(100)
	tags := h.finish()
	for i, tag := range tags {
		if tag == "v2" && i >= 200 && strings.HasPrefix(fmt.Sprintf("%05d", i), "0020") {
			t.Fatalf("record %d was processed by the version that failed on it", i)
		}
	}
	if last := tags[len(tags)-1]; last != "v1" {
		t.Fatalf("the last record was processed by %s after the rollback", last)
	}
}

// TestSwapRefusesAVersionThatCannotStart: nothing changes when the new
// version's instances cannot start, or the operator does not exist.
func TestSwapRefusesAVersionThatCannotStart(t *testing.T) {
	h := newSwapHarness(t)
	h.feed(50)
	_, err := h.p.Swap(t.Context(), "count", &taggedCount{tag: "v2", fail: errors.New("bad module")}, runtime.SwapOptions{})
	if err == nil || !strings.Contains(err.Error(), "bad module") {
		t.Fatalf("Swap: %v", err)
	}
	if _, err := h.p.Swap(t.Context(), "nope", &taggedCount{tag: "v2"}, runtime.SwapOptions{}); err == nil || !strings.Contains(err.Error(), `no operator "nope"`) {
		t.Fatalf("Swap of an unknown operator: %v", err)
	}
	h.feed(50)
	for i, tag := range h.finish() {
		if tag != "v1" {
			t.Fatalf("record %d processed by %s", i, tag)
		}
	}
}

// TestRateLimit: a pipeline with a rate limit reads no faster than it
// allows (after the bucket's first second) and loses nothing.
func TestRateLimit(t *testing.T) {
	spec := parse(t, testRegistry(nil), `
pipeline: rate
batch: {size: 10, linger: 1ms}
source: {test: {}}
sink: {test: {}}
`)
	src := &memSource{recs: keyed(3000, 5), chunk: 10}
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink), runtime.WithRateLimit(2000))
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	// 2000 pass at once (the bucket starts full), the other 1000 at 2000/s.
	if took < 450*time.Millisecond {
		t.Fatalf("3000 records at 2000/s took %v", took)
	}
	if n := len(sink.records()); n != 3000 || p.Stats().Throttled == 0 {
		t.Fatalf("%d records written, %d reads throttled", n, p.Stats().Throttled)
	}
}
