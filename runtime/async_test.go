package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime"
)

// echoTarget is an async target made for these tests of the runtime's
// request machinery (capacity, ordering, timeouts, retries, delivery): it
// answers each request with its "q" field after a random delay of up to
// maxDelay. It talks to no server; the real targets are tested against
// theirs in connectors/asyncio.
type echoTarget struct {
	maxDelay time.Duration
	hangN    atomic.Int64 // the first hangN attempts wait for ctx
	fails    atomic.Int64 // the first fails attempts fail

	cur, peak atomic.Int64
	calls     atomic.Int64
}

type echoConfig struct {
	Name string `yaml:"name" required:"true"`
}

var echoTargets sync.Map // name -> *echoTarget

func (t *echoTarget) Open(context.Context, runtime.Env) error { return nil }
func (t *echoTarget) Close(context.Context) error             { return nil }
func (t *echoTarget) Check(req *runtime.AsyncRequest) error {
	if _, ok := req.Fields["q"]; !ok {
		return errors.New("no q field")
	}
	return nil
}

func (t *echoTarget) Do(ctx context.Context, req *runtime.AsyncRequest) (runtime.AsyncResponse, error) {
	t.calls.Add(1)
	n := t.cur.Add(1)
	defer t.cur.Add(-1)
	for {
		p := t.peak.Load()
		if n <= p || t.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if t.hangN.Add(-1) >= 0 {
		<-ctx.Done()
		return runtime.AsyncResponse{}, ctx.Err()
	}
	if t.fails.Add(-1) >= 0 {
		return runtime.AsyncResponse{}, errors.New("connection refused")
	}
	if t.maxDelay > 0 {
		select {
		case <-time.After(rand.N(t.maxDelay)):
		case <-ctx.Done():
			return runtime.AsyncResponse{}, ctx.Err()
		}
	}
	q, _ := req.String("q")
	return runtime.AsyncResponse{Code: 200, Body: []byte(q)}, nil
}

// enrichOp submits one request per record, with the record's value as
// both the query and the context, and emits "value=answer" for each
// result (status as text when it is not 0). failResults makes its first
// results calls fail.
type enrichOp struct {
	failResults *atomic.Int64
	extra       int // requests submitted per record beyond the first
	refusals    *atomic.Int64
}

func (o *enrichOp) Process(context.Context, []runtime.Record, []runtime.Record) ([]runtime.Record, error) {
	return nil, errors.New("enrichOp takes only ProcessAsync")
}
func (o *enrichOp) Close(context.Context) error { return nil }

func (o *enrichOp) ProcessAsync(ctx context.Context, in *runtime.Batch, s runtime.AsyncSession, out *runtime.Batch) error {
	if res := s.Results(); len(res) > 0 && o.failResults != nil && o.failResults.Add(-1) >= 0 {
		return errors.New("handling results failed")
	}
	var r runtime.Record
	for i := 0; i < in.Len(); i++ {
		in.View(i, &r)
		for k := 0; k <= o.extra; k++ {
			req, _ := abi.AppendAsyncRequest(nil, &abi.AsyncRequest{Target: "echo", Context: r.Value})
			// AppendAsyncRequest knows no "q": add it by re-encoding.
			v, _ := abi.DecodeValue(req)
			m := v.(map[string]any)
			m["q"] = string(r.Value)
			req, _ = abi.AppendValue(nil, m)
			if _, status, msg := s.Submit(req); status != 0 {
				if status == abi.StatusCapacity && o.refusals != nil {
					o.refusals.Add(1)
					continue
				}
				return fmt.Errorf("submit: %d %s", status, msg)
			}
		}
	}
	for _, res := range s.Results() {
		v := string(res.Body)
		if res.Status != 0 {
			v = strconv.Itoa(int(res.Status)) + ":" + res.Error
		}
		out.Append(&runtime.Record{Value: []byte(string(res.Context) + "=" + v)})
	}
	return nil
}

type enrichFactory struct{ op *enrichOp }

func (f *enrichFactory) New(context.Context, runtime.OperatorEnv) (runtime.Operator, error) {
	return f.op, nil
}
func (f *enrichFactory) Close(context.Context) error { return nil }

func asyncRegistry(op *enrichOp) *runtime.Registry {
	reg := testRegistry(nil)
	runtime.AddAsyncTarget(reg, "echo", "test echo", func(c *echoConfig) (runtime.AsyncTarget, error) {
		t, ok := echoTargets.Load(c.Name)
		if !ok {
			return nil, fmt.Errorf("no echo target %q", c.Name)
		}
		return t.(*echoTarget), nil
	})
	runtime.AddOperator(reg, "enrich", "async test operator", func(*struct {
		runtime.OperatorSettings `yaml:",inline"`
	}) (runtime.OperatorFactory, error) {
		return &enrichFactory{op: op}, nil
	})
	return reg
}

func asyncPipeline(t *testing.T, op *enrichOp, target *echoTarget, async string) *runtime.Spec {
	t.Helper()
	echoTargets.Store(t.Name(), target)
	t.Cleanup(func() { echoTargets.Delete(t.Name()) })
	return parse(t, asyncRegistry(op), fmt.Sprintf(`
pipeline: async
source: {test: }
operators:
  - enrich:
      async:
%s
        targets:
          echo: {echo: {name: %q}}
sink: {test: }
`, async, t.Name()))
}

func numbered(n int) []runtime.Record {
	recs := make([]runtime.Record, n)
	for i := range recs {
		recs[i].Value = []byte(fmt.Sprintf("r%05d", i))
	}
	return recs
}

// TestAsyncOrdered: with latencies varying from 0 to 5 ms, every record's
// result arrives once, in the order of the records, and the source is
// acknowledged for all of it.
func TestAsyncOrdered(t *testing.T) {
	checkNoLeaks(t)
	target := &echoTarget{maxDelay: 5 * time.Millisecond}
	spec := asyncPipeline(t, &enrichOp{}, target, "        mode: ordered\n        capacity: 50")
	src := &memSource{recs: numbered(2000), chunk: 100}
	sink := runAll(t, spec, src)
	got := sink.records()
	if len(got) != 2000 {
		t.Fatalf("%d records, want 2000", len(got))
	}
	for i, r := range got {
		want := fmt.Sprintf("r%05d=r%05d", i, i)
		if string(r.Value) != want {
			t.Fatalf("record %d: %q, want %q (ordered mode)", i, r.Value, want)
		}
	}
	if _, acked, nacked := src.counts(); acked != 20 || nacked != 0 {
		t.Fatalf("acked %d, nacked %d; want 20, 0", acked, nacked)
	}
	if p := target.peak.Load(); p > 50 {
		t.Fatalf("%d requests at once, more than the capacity of 50", p)
	} else if p < 10 {
		t.Fatalf("only %d requests at once: the requests did not overlap", p)
	}
}

// TestAsyncUnordered: every result arrives once, and with varying
// latencies not all in order.
func TestAsyncUnordered(t *testing.T) {
	checkNoLeaks(t)
	target := &echoTarget{maxDelay: 5 * time.Millisecond}
	spec := asyncPipeline(t, &enrichOp{}, target, "        mode: unordered\n        capacity: 50")
	sink := runAll(t, spec, &memSource{recs: numbered(2000), chunk: 100})
	seen := map[string]int{}
	inOrder := true
	for i, r := range sink.records() {
		seen[string(r.Value)]++
		if string(r.Value) != fmt.Sprintf("r%05d=r%05d", i, i) {
			inOrder = false
		}
	}
	for i := range 2000 {
		if k := fmt.Sprintf("r%05d=r%05d", i, i); seen[k] != 1 {
			t.Fatalf("%s seen %d times", k, seen[k])
		}
	}
	if inOrder {
		t.Fatal("unordered mode delivered 2000 results of random latency in order")
	}
}

// TestAsyncCapacityBackpressure: requests that never answer fill the
// capacity; the operator then takes no more input, so the source stops
// being read (backpressure) while nothing is acknowledged.
func TestAsyncCapacityBackpressure(t *testing.T) {
	target := &echoTarget{}
	target.hangN.Store(1 << 40)
	spec := asyncPipeline(t, &enrichOp{}, target, "        capacity: 10\n        timeout: 1h")
	spec.Shutdown = 50 * time.Millisecond // the requests never end: give up draining them
	src := &memSource{recs: numbered(100000), chunk: 100}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&memSink{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "10 requests in flight", func() bool { return target.cur.Load() == 10 })
	reads, _, _ := src.counts()
	// Let the pipeline run on; the reads stop at what the queues hold.
	waitFor(t, "the reads to stop", func() bool {
		r1, _, _ := src.counts()
		time.Sleep(50 * time.Millisecond)
		r2, _, _ := src.counts()
		return r1 == r2
	})
	r, acked, _ := src.counts()
	if r >= 1000 || acked != 0 {
		t.Fatalf("%d reads (%d when the capacity filled), %d acked: backpressure did not reach the source", r, reads, acked)
	}
	if c := target.calls.Load(); c != 10 {
		t.Fatalf("%d requests started, want the capacity (10)", c)
	}
	cancel()
	if err := <-done; !errors.Is(err, runtime.ErrDrainTimeout) {
		t.Fatalf("Run: %v, want the drain timeout", err)
	}
}

// TestAsyncTimeoutAndRetry: a first attempt that hangs times out and the
// second succeeds; a request whose every attempt fails gets an error
// result after the attempts allowed.
func TestAsyncTimeoutAndRetry(t *testing.T) {
	target := &echoTarget{}
	target.hangN.Store(1)
	spec := asyncPipeline(t, &enrichOp{}, target, "        capacity: 1\n        timeout: 50ms\n        retry: {attempts: 2, backoff: 1ms}")
	sink := runAll(t, spec, &memSource{recs: numbered(3), chunk: 3})
	var got []string
	for _, r := range sink.records() {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != "[r00000=r00000 r00001=r00001 r00002=r00002]" {
		t.Fatalf("got %q", got)
	}
	if c := target.calls.Load(); c != 4 {
		t.Fatalf("%d attempts, want 4 (one retried)", c)
	}

	target = &echoTarget{}
	target.hangN.Store(1 << 40)
	spec = asyncPipeline(t, &enrichOp{}, target, "        timeout: 20ms\n        retry: {attempts: 3, backoff: 1ms}")
	sink = runAll(t, spec, &memSource{recs: numbered(1), chunk: 1})
	if r := sink.records(); len(r) != 1 || !bytes.HasPrefix(r[0].Value, []byte("r00000=-7:timed out after 20ms (attempt 3 of 3)")) {
		t.Fatalf("got %v", sink.records())
	}

	target = &echoTarget{}
	target.fails.Store(1 << 40)
	spec = asyncPipeline(t, &enrichOp{}, target, "        retry: {attempts: 2, backoff: 1ms, on: [timeout]}")
	sink = runAll(t, spec, &memSource{recs: numbered(1), chunk: 1})
	if r := sink.records(); len(r) != 1 || string(r[0].Value) != "r00000=-1:connection refused" || target.calls.Load() != 1 {
		t.Fatalf("got %v after %d attempts (errors are not retried when retry.on has only timeout)", sink.records(), target.calls.Load())
	}
}

// TestAsyncResultsRetried: a call handling results that fails is retried
// with the same results, which then arrive once.
func TestAsyncResultsRetried(t *testing.T) {
	var fails atomic.Int64
	fails.Store(2)
	spec := asyncPipeline(t, &enrichOp{failResults: &fails}, &echoTarget{}, "        capacity: 5")
	spec.OnError.Backoff = time.Millisecond
	sink := runAll(t, spec, &memSource{recs: numbered(20), chunk: 20})
	seen := map[string]int{}
	for _, r := range sink.records() {
		seen[string(r.Value)]++
	}
	if len(seen) != 20 {
		t.Fatalf("%d distinct results, want 20: %v", len(seen), seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s delivered %d times", k, n)
		}
	}
}

// TestAsyncOverCapacity: an operator that submits two requests per record
// is given records for its capacity and gets StatusCapacity for the extra
// requests, not a crash.
func TestAsyncOverCapacity(t *testing.T) {
	var refusals atomic.Int64
	target := &echoTarget{maxDelay: time.Millisecond}
	spec := asyncPipeline(t, &enrichOp{extra: 1, refusals: &refusals}, target, "        capacity: 4")
	sink := runAll(t, spec, &memSource{recs: numbered(40), chunk: 40})
	if n := len(sink.records()); n < 40 || n > 80 {
		t.Fatalf("%d results", n)
	}
	if refusals.Load() == 0 {
		t.Fatal("no submission was refused for capacity")
	}
	if p := target.peak.Load(); p > 4 {
		t.Fatalf("%d requests at once, capacity 4", p)
	}
}

// TestAsyncConfigErrors: an undeclared kind and bad settings are config
// errors naming the setting.
func TestAsyncConfigErrors(t *testing.T) {
	reg := asyncRegistry(&enrichOp{})
	_, err := runtime.Parse([]byte(`
pipeline: bad
source: {test: }
operators:
  - enrich:
      async:
        capacity: 0
        retry: {on: [sometimes]}
        targets:
          db: {nosuchkind: {}}
sink: {test: }
`), reg)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"operators[0].enrich.async.capacity", "async.retry.on", `"sometimes"`, "operators[0].enrich.async.targets.db.nosuchkind", "unknown async target"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// batchEcho is echoTarget answering batches too (one DoBatch per batch),
// recording their sizes.
type batchEcho struct {
	echoTarget
	mu    sync.Mutex
	sizes []int
}

func (t *batchEcho) BatchKey(req *runtime.AsyncRequest) (string, bool) { return "q", true }

func (t *batchEcho) DoBatch(ctx context.Context, reqs []*runtime.AsyncRequest) ([]runtime.AsyncResponse, []error, error) {
	t.mu.Lock()
	t.sizes = append(t.sizes, len(reqs))
	t.mu.Unlock()
	resps := make([]runtime.AsyncResponse, len(reqs))
	for i, r := range reqs {
		q, _ := r.String("q")
		resps[i] = runtime.AsyncResponse{Code: 200, Body: []byte(q)}
	}
	return resps, make([]error, len(reqs)), nil
}

func asyncRegistryWith(op *enrichOp, kind string, build func(name string) (runtime.AsyncTarget, error)) *runtime.Registry {
	reg := asyncRegistry(op)
	runtime.AddAsyncTarget(reg, kind, "test target", func(c *echoConfig) (runtime.AsyncTarget, error) { return build(c.Name) })
	return reg
}

// TestAsyncCache: 2000 records asking 10 distinct questions reach the
// target at most once per question (identical requests in flight wait for
// the first); the rest are answered from the cache, correctly.
func TestAsyncCache(t *testing.T) {
	target := &echoTarget{maxDelay: 2 * time.Millisecond}
	echoTargets.Store(t.Name(), target)
	defer echoTargets.Delete(t.Name())
	spec := parse(t, asyncRegistry(&enrichOp{}), fmt.Sprintf(`
pipeline: cached
source: {test: }
operators:
  - enrich:
      async:
        capacity: 100
        targets:
          echo:
            echo: {name: %q}
            cache: {ttl: 1m, max_entries: 100}
sink: {test: }
`, t.Name()))
	recs := make([]runtime.Record, 2000)
	for i := range recs {
		recs[i].Value = []byte(fmt.Sprintf("q%d", i%10))
	}
	sink := runAll(t, spec, &memSource{recs: recs, chunk: 200})
	got := sink.records()
	if len(got) != 2000 {
		t.Fatalf("%d records", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprintf("q%d=q%d", i%10, i%10); string(r.Value) != want {
			t.Fatalf("record %d: %q, want %q", i, r.Value, want)
		}
	}
	if c := target.calls.Load(); c > 10 {
		t.Fatalf("%d calls to the target for 10 distinct requests", c)
	}
}

// TestAsyncBatch: requests are sent in batches of at most batch.max, and
// every result is its own request's.
func TestAsyncBatch(t *testing.T) {
	target := &batchEcho{}
	echoTargets.Store(t.Name(), &target.echoTarget)
	defer echoTargets.Delete(t.Name())
	reg := asyncRegistryWith(&enrichOp{}, "becho", func(string) (runtime.AsyncTarget, error) { return target, nil })
	spec := parse(t, reg, `
pipeline: batched
source: {test: }
operators:
  - enrich:
      async:
        capacity: 200
        targets:
          echo:
            becho: {name: x}
            batch: {max: 50, linger: 5ms}
sink: {test: }
`)
	sink := runAll(t, spec, &memSource{recs: numbered(1000), chunk: 250})
	got := sink.records()
	if len(got) != 1000 {
		t.Fatalf("%d records", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprintf("r%05d=r%05d", i, i); string(r.Value) != want {
			t.Fatalf("record %d: %q, want %q", i, r.Value, want)
		}
	}
	target.mu.Lock()
	defer target.mu.Unlock()
	total := 0
	for _, n := range target.sizes {
		if n > 50 {
			t.Fatalf("a batch of %d, over batch.max", n)
		}
		total += n
	}
	if total != 1000 || len(target.sizes) > 100 || target.calls.Load() != 0 {
		t.Fatalf("%d requests in %d batches, %d single calls: want 1000 in batches of up to 50", total, len(target.sizes), target.calls.Load())
	}
	t.Logf("%d batches for 1000 requests", len(target.sizes))

	// A target that cannot batch refuses a batch block when the pipeline starts.
	echoTargets.Store(t.Name(), &echoTarget{})
	reg2 := asyncRegistry(&enrichOp{})
	spec2 := parse(t, reg2, fmt.Sprintf(`
pipeline: nobatch
source: {test: }
operators:
  - enrich:
      async:
        targets:
          echo:
            echo: {name: %q}
            batch: {max: 10}
sink: {test: }
`, t.Name()))
	p, err := runtime.Build(spec2, runtime.WithSource(&memSource{recs: numbered(1), chunk: 1}), runtime.WithSink(&memSink{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "cannot batch requests") {
		t.Fatalf("Run: %v", err)
	}
}

// headTarget holds the request for "r00000" until release is closed and
// answers the others at once.
type headTarget struct {
	echoTarget
	release chan struct{}
}

func (t *headTarget) Do(ctx context.Context, req *runtime.AsyncRequest) (runtime.AsyncResponse, error) {
	if q, _ := req.String("q"); q == "r00000" {
		select {
		case <-t.release:
		case <-ctx.Done():
			return runtime.AsyncResponse{}, ctx.Err()
		}
	}
	return t.echoTarget.Do(ctx, req)
}

// TestAsyncOrderedBuffer: in ordered mode a slow first request does not
// stop the others (capacity bounds the running requests only) until the
// results held for their turn fill the buffer; then the instance waits,
// and once the first answers everything arrives in order.
func TestAsyncOrderedBuffer(t *testing.T) {
	target := &headTarget{release: make(chan struct{})}
	reg := asyncRegistryWith(&enrichOp{}, "head", func(string) (runtime.AsyncTarget, error) { return target, nil })
	spec := parse(t, reg, `
pipeline: buffered
source: {test: }
operators:
  - enrich:
      async:
        mode: ordered
        capacity: 10
        buffer: 40
        targets:
          echo: {head: {name: x}}
sink: {test: }
`)
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(&memSource{recs: numbered(500), chunk: 50}), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(t.Context()) }()
	// Requests go on past the slow one until 40 results are held (the
	// buffer): the instance stops taking input only then. calls counts
	// the others, not the slow one, which has not answered yet.
	waitFor(t, "requests past the slow one", func() bool { return target.calls.Load() >= 40 })
	waitFor(t, "the buffer to fill", func() bool {
		c1 := target.calls.Load()
		time.Sleep(20 * time.Millisecond)
		return target.calls.Load() == c1
	})
	if c := target.calls.Load(); c > 1+40+10 {
		t.Fatalf("%d requests started while the first was held: more than capacity and buffer allow", c)
	}
	if n := len(sink.records()); n != 0 {
		t.Fatalf("%d results delivered before the first (ordered mode)", n)
	}
	close(target.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, r := range sink.records() {
		if want := fmt.Sprintf("r%05d=r%05d", i, i); string(r.Value) != want {
			t.Fatalf("record %d: %q", i, r.Value)
		}
	}
	if n := len(sink.records()); n != 500 {
		t.Fatalf("%d records", n)
	}
}

// TestAsyncInFlightBytes: the bytes of the requests an instance keeps are
// bounded: past async.max_in_flight_bytes a submit answers -3, with the
// setting named.
func TestAsyncInFlightBytes(t *testing.T) {
	target := &echoTarget{}
	target.hangN.Store(1 << 40)
	spec := asyncPipeline(t, &enrichOp{}, target, "        capacity: 100\n        timeout: 1h\n        max_context: 64KiB\n        max_request: 64KiB\n        max_in_flight_bytes: 100KiB")
	spec.Shutdown = 50 * time.Millisecond
	recs := make([]runtime.Record, 20)
	for i := range recs {
		recs[i].Value = bytes.Repeat([]byte{'a' + byte(i)}, 10<<10)
	}
	p, err := runtime.Build(spec, runtime.WithSource(&memSource{recs: recs, chunk: 20}), runtime.WithSink(&memSink{}))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "submit: -3") || !strings.Contains(err.Error(), "async.max_in_flight_bytes (102400)") {
		t.Fatalf("Run: %v", err)
	}
	// Each request holds 2 copies of the 10KiB value (context and q): 4 fit.
	if c := target.calls.Load(); c > 5 {
		t.Fatalf("%d requests of 20KiB started under a bound of 100KiB", c)
	}
}
