package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime/internal/confyaml"
)

// Async I/O (abi/SPEC.md section 5.2): an operator submits requests to the
// targets its pipeline file declares during a call and gets their results
// in a later call, while other records go on. The runtime owns the
// requests: it starts them when the call that submitted them succeeds,
// bounds them (capacity per instance, timeout per attempt, retries), and
// delivers their results to the operator's instance, or to its replacement.
//
// Each request holds a reference on the source batches of the records the
// call that submitted it was handling, so those are acknowledged only once
// its result has been handled and what the operator emitted from it
// written; a checkpoint, which waits until everything read is
// acknowledged, so waits for the requests in flight.

// KindAsync is the kind of async targets in the Registry.
const KindAsync Kind = 10

// AsyncSettings is an operator's async block.
type AsyncSettings struct {
	Mode             string               `yaml:"mode" default:"ordered" oneof:"ordered|unordered" doc:"ordered delivers each instance's results in the order their requests were submitted (a result waits for every earlier one, as Flink's orderedWait); unordered delivers them as they complete."`
	Capacity         int                  `yaml:"capacity" default:"100" doc:"Requests one instance may have running. The instance is given at most as many input records per call as it has room for; when it is full it takes no input until results free room, which slows the stages before it (backpressure)."`
	Buffer           int                  `yaml:"buffer" doc:"Completed results one instance may hold before they are delivered (in ordered mode a result waits for every earlier one): when it is full the instance takes no input, as when capacity is. Default 10 times capacity."`
	BufferBytes      ByteSize             `yaml:"buffer_bytes" default:"64MiB" doc:"Bytes of bodies and contexts of the results one instance may hold before they are delivered; past it the instance takes no input."`
	Timeout          time.Duration        `yaml:"timeout" default:"5s" doc:"Longest one attempt of a request may take; past it the attempt is cancelled and counts as a timeout."`
	Retry            AsyncRetry           `yaml:"retry"`
	MaxRequest       ByteSize             `yaml:"max_request" default:"1MiB" doc:"Largest request async_submit takes (a larger one gets status -3)."`
	MaxInFlightBytes ByteSize             `yaml:"max_in_flight_bytes" default:"16MiB" doc:"Most bytes of requests one instance may have submitted and not yet completed (the host keeps them until then); past it async_submit answers -3."`
	MaxContext       ByteSize             `yaml:"max_context" default:"64KiB" doc:"Largest context a request may carry back to its result."`
	MaxResult        ByteSize             `yaml:"max_result" default:"4MiB" doc:"Largest body a result may carry: a larger response is an error result."`
	Targets          map[string]yaml.Node `yaml:"targets" required:"true" doc:"The targets the operator may send requests to, each 'NAME: {kind: {settings}}' (kinds: see the async targets in this reference). A request naming anything else is refused."`
}

// AsyncRetry is the retry policy of an operator's requests.
type AsyncRetry struct {
	Attempts   int           `yaml:"attempts" default:"3" doc:"Attempts of one request, the first included; 1 never retries."`
	Backoff    time.Duration `yaml:"backoff" default:"50ms" doc:"Wait before the second attempt; it doubles each attempt up to max_backoff, with jitter. A response that says when to retry (HTTP Retry-After) waits that long instead, up to max_backoff."`
	MaxBackoff time.Duration `yaml:"max_backoff" default:"2s" doc:"Longest wait between attempts."`
	On         []string      `yaml:"on" doc:"What is retried: timeout, error (the target failed: connection refused, a server error), and for HTTP targets response statuses, as 5xx, 4xx or a code (429). Default: [timeout, error, 5xx, 429]. An error the target marks as permanent (a SQL syntax error, a command the server refuses) is never retried."`
}

// AsyncTarget serves the requests of one declared target. Open is called
// once per run before any request, Close after the last; Check and Do may be
// called concurrently.
type AsyncTarget interface {
	Open(ctx context.Context, env Env) error
	// Check validates a request when it is submitted: its fields, and
	// that the target's declaration allows it. Its error is what the guest
	// reads as the refusal's message.
	Check(req *AsyncRequest) error
	// Do performs one attempt. ctx carries the attempt's timeout. An error
	// wrapping ErrRejected is not retried.
	Do(ctx context.Context, req *AsyncRequest) (AsyncResponse, error)
	Close(ctx context.Context) error
}

// AsyncStatusTarget is implemented by targets whose response codes are
// HTTP statuses, to which the retry policy's status rules apply.
type AsyncStatusTarget interface {
	AsyncTarget
	CodesAreStatuses()
}

// AsyncRequest is one submitted request: its target, its context and its
// other fields as decoded from msgpack (nil, bool, int64, uint64, float64,
// string, []byte, []any, map[string]any).
type AsyncRequest struct {
	Target  string
	Context []byte
	Fields  map[string]any
}

// String returns the string field k, "" when absent; ok is false when it
// is present with another type.
func (r *AsyncRequest) String(k string) (string, bool) {
	v, present := r.Fields[k]
	if !present {
		return "", true
	}
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

// AsyncResponse is a successful attempt's answer.
type AsyncResponse struct {
	Code int64
	Body []byte
	// RetryAfter, when set, is how long the target asked to wait before
	// the next attempt (a 429 or 503 with Retry-After).
	RetryAfter time.Duration
}

// AddAsyncTarget registers a kind of async target, the way AddSource adds
// a source: pipeline files declare targets of it under an operator's
// async.targets as 'NAME: {name: {settings}}'. build must not do I/O.
func AddAsyncTarget[C any](r *Registry, name, summary string, build func(*C) (AsyncTarget, error)) {
	r.add(&Component{Kind: KindAsync, Name: name, Summary: summary, Config: reflect.TypeFor[C](),
		build: func(cfg any) (any, error) { return build(cfg.(*C)) }})
}

// AsyncSession is what an AsyncProcessor's call uses: the results
// delivered in it and the submission of requests.
type AsyncSession interface {
	// Results are the results this call delivers, in order.
	Results() []abi.AsyncResult
	// Submit takes one encoded request (SPEC.md section 5.2) and returns
	// its ticket, or a negative status with its message. req may be
	// reused after it returns.
	Submit(req []byte) (ticket int64, status int32, msg string)
}

// AsyncProcessor is implemented by operators that take part in async
// I/O. The runtime calls ProcessAsync instead of Process or ProcessBatch
// when the operator declares async targets.
type AsyncProcessor interface {
	ProcessAsync(ctx context.Context, in *Batch, s AsyncSession, out *Batch) error
}

// asyncSpec is a parsed async block: the settings and each target's
// component.
type asyncSpec struct {
	AsyncSettings
	retryOn retryRules
	buffer  int // Buffer, or its default
	targets map[string]*ComponentSpec
	extras  map[string]targetExtras
}

type retryRules struct {
	timeout, err bool
	classes      [6]bool // 1xx..5xx
	codes        []int64
}

func parseRetryOn(on []string) (retryRules, error) {
	var r retryRules
	if on == nil {
		on = []string{"timeout", "error", "5xx", "429"}
	}
	for _, s := range on {
		switch s = strings.ToLower(strings.TrimSpace(s)); {
		case s == "timeout":
			r.timeout = true
		case s == "error":
			r.err = true
		case len(s) == 3 && s[1:] == "xx" && s[0] >= '1' && s[0] <= '5':
			r.classes[s[0]-'0'] = true
		default:
			c, err := strconv.Atoi(s)
			if err != nil || c < 100 || c > 599 {
				return r, fmt.Errorf("%q: want timeout, error, a status class (5xx) or a status code", s)
			}
			r.codes = append(r.codes, int64(c))
		}
	}
	return r, nil
}

func (r *retryRules) code(c int64) bool {
	if c >= 100 && c <= 599 && r.classes[c/100] {
		return true
	}
	return slices.Contains(r.codes, c)
}

// decodeAsync decodes the async block of operator c, if any.
func decodeAsync(c *ComponentSpec, n *yaml.Node, reg *Registry, dir string, probs *confyaml.Problems) *asyncSpec {
	oc, ok := c.Config.(operatorConfig)
	if !ok || oc.operatorSettings().Async == nil {
		return nil
	}
	a := oc.operatorSettings().Async
	path := c.Path + ".async"
	spec := &asyncSpec{AsyncSettings: *a, targets: map[string]*ComponentSpec{}, extras: map[string]targetExtras{}}
	if a.Capacity < 1 || a.Capacity > 100000 {
		probs.Add(path+".capacity", find(n, "async.capacity"), "must be between 1 and 100000")
	}
	if a.Timeout <= 0 {
		probs.Add(path+".timeout", find(n, "async.timeout"), "must be positive")
	}
	spec.buffer = a.Buffer
	if spec.buffer == 0 {
		spec.buffer = 10 * a.Capacity
	}
	if a.Buffer < 0 || a.BufferBytes < 1 {
		probs.Add(path+".buffer", find(n, "async.buffer"), "buffer must not be negative, buffer_bytes must be positive")
	}
	if a.Retry.Attempts < 1 {
		probs.Add(path+".retry.attempts", find(n, "async.retry.attempts"), "must be at least 1")
	}
	if a.MaxRequest < 1 || a.MaxContext < 0 || a.MaxResult < 1 || a.MaxInFlightBytes < a.MaxRequest {
		probs.Add(path, find(n, "async"), "max_request and max_result must be positive, max_context not negative, max_in_flight_bytes at least max_request")
	}
	var err error
	if spec.retryOn, err = parseRetryOn(a.Retry.On); err != nil {
		probs.Add(path+".retry.on", find(n, "async.retry.on"), "%v", err)
	}
	if len(a.Targets) == 0 {
		probs.Add(path+".targets", find(n, "async"), "declare at least one target")
	}
	names := make([]string, 0, len(a.Targets))
	for name := range a.Targets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tn := a.Targets[name]
		tpath := path + ".targets." + name
		if !nameRE.MatchString(name) {
			probs.Add(tpath, &tn, "%q is not a valid target name", name)
		}
		kind, extras := splitTarget(&tn, tpath, probs)
		if tc := decodeComponent(kind, tpath, KindAsync, reg, false, dir, probs); tc != nil && !tc.bad {
			spec.targets[name] = tc
			spec.extras[name] = extras
		}
	}
	return spec
}

// asyncStage runs one operator's targets.
type asyncStage struct {
	spec     *asyncSpec
	label    string
	targets  map[string]AsyncTarget
	caches   map[string]*asyncCache
	batchers map[string]*asyncBatcher
	stats    asyncCounters
}

type asyncCounters struct {
	submitted, completed, timeouts, errors, retries, refused atomic.Int64
	cacheHits, batches, batched                              atomic.Int64
	inflight                                                 atomic.Int64
	latency                                                  latency
}

// openAsync builds and opens stage st's targets.
func (p *Pipeline) openAsync(ctx context.Context, st *opStage) error {
	spec := st.spec.async
	if spec == nil {
		return nil
	}
	as := &asyncStage{spec: spec, label: st.spec.Label, targets: map[string]AsyncTarget{},
		caches: map[string]*asyncCache{}, batchers: map[string]*asyncBatcher{}}
	for name, tc := range spec.targets {
		v, err := tc.comp.build(tc.Config)
		if err != nil {
			as.close(ctx, p)
			return fmt.Errorf("async target %s: %w", name, err)
		}
		t := v.(AsyncTarget)
		x := spec.extras[name]
		if x.batch != nil {
			bt, ok := t.(AsyncBatcher)
			if !ok {
				as.close(ctx, p)
				return fmt.Errorf("async target %s: a %s target cannot batch requests (remove its batch block)", name, tc.Name)
			}
			as.batchers[name] = &asyncBatcher{t: bt, cfg: x.batch, stats: &as.stats, open: map[string]*pendingBatch{}}
		}
		if x.cache != nil {
			as.caches[name] = newAsyncCache(x.cache)
		}
		if err := t.Open(ctx, p.env(tc.Path)); err != nil {
			as.close(ctx, p)
			return fmt.Errorf("async target %s: opening: %w", name, err)
		}
		as.targets[name] = t
	}
	st.async = as
	return nil
}

func (as *asyncStage) close(ctx context.Context, p *Pipeline) {
	for name, t := range as.targets {
		if err := t.Close(ctx); err != nil {
			p.log.Warn("closing async target", "operator", as.label, "target", name, "err", err)
		}
	}
}

// asyncInst is one operator instance's requests: it outlives the Wasm
// instance (a replacement takes the results of its predecessor's
// requests) and module swaps.
type asyncInst struct {
	st    *asyncStage
	p     *Pipeline
	ready chan struct{} // signalled when a result may be delivered

	// The worker's goroutine alone touches these.
	allow    int // requests the current call may submit
	reserved int // the room the worker gave the records of the calls in hand
	next     uint64
	staged   []*asyncReq
	results  []abi.AsyncResult // delivered by the current call
	holders  []*batch          // their holders

	mu        sync.Mutex
	pending   int                  // started, not yet delivered
	heldBytes int64                // of the results in done
	reqBytes  int64                // of the requests started and not completed, and those staged
	order     []uint64             // ordered mode: started tickets, oldest first
	done      map[uint64]*asyncReq // completed, not delivered
	closed    bool
	wg        sync.WaitGroup
}

type asyncReq struct {
	size   int64 // the request's bytes, as submitted
	ticket uint64
	req    AsyncRequest
	target AsyncTarget
	holder *batch
	res    abi.AsyncResult
}

func newAsyncInst(st *asyncStage, p *Pipeline) *asyncInst {
	return &asyncInst{st: st, p: p, ready: make(chan struct{}, 1), done: map[uint64]*asyncReq{}}
}

// room is how many more requests may be submitted.
func (a *asyncInst) room() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	spec := a.st.spec
	if len(a.done) >= spec.buffer || a.heldBytes >= int64(spec.BufferBytes) {
		return 0 // results held for their turn (ordered mode) fill the buffer
	}
	running := a.pending - len(a.done)
	return spec.Capacity - running - len(a.staged)
}

func (a *asyncInst) running() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending - len(a.done)
}

func (a *asyncInst) held() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.done)
}

// idle reports whether nothing is in flight.
func (a *asyncInst) idle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending == 0
}

// Results implements AsyncSession.
func (a *asyncInst) Results() []abi.AsyncResult { return a.results }

// Submit implements AsyncSession.
func (a *asyncInst) Submit(raw []byte) (int64, int32, string) {
	spec := a.st.spec
	refuse := func(status int32, format string, args ...any) (int64, int32, string) {
		a.st.stats.refused.Add(1)
		return int64(status), status, fmt.Sprintf(format, args...)
	}
	if len(raw) > int(spec.MaxRequest) {
		return refuse(abi.StatusTooLarge, "async request of %d bytes: more than async.max_request (%d)", len(raw), int64(spec.MaxRequest))
	}
	a.mu.Lock()
	over := a.reqBytes+int64(len(raw)) > int64(spec.MaxInFlightBytes)
	a.mu.Unlock()
	if over {
		return refuse(abi.StatusTooLarge, "async request of %d bytes: the instance's requests in flight would pass async.max_in_flight_bytes (%d)", len(raw), int64(spec.MaxInFlightBytes))
	}
	if len(a.staged) >= a.allow {
		return refuse(abi.StatusCapacity, "async capacity full: %d requests running (async.capacity %d), %d results held for delivery (async.buffer %d)", a.running(), spec.Capacity, a.held(), spec.buffer)
	}
	v, err := abi.DecodeValue(raw)
	if err != nil {
		return refuse(abi.StatusError, "async request: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return refuse(abi.StatusError, "async request: want a msgpack map, got %T", v)
	}
	req := AsyncRequest{Fields: m}
	switch t := m["target"].(type) {
	case string:
		req.Target = t
	case []byte:
		req.Target = string(t)
	default:
		return refuse(abi.StatusError, "async request: no target (a str)")
	}
	delete(m, "target")
	switch c := m["context"].(type) {
	case nil:
	case []byte:
		req.Context = c
	case string:
		req.Context = []byte(c)
	default:
		return refuse(abi.StatusError, "async request: context must be bin, got %T", c)
	}
	delete(m, "context")
	if len(req.Context) > int(spec.MaxContext) {
		return refuse(abi.StatusTooLarge, "async request context of %d bytes: more than async.max_context (%d)", len(req.Context), int64(spec.MaxContext))
	}
	t := a.st.targets[req.Target]
	if t == nil {
		return refuse(abi.StatusError, "async request to target %q, which operator %s does not declare (declared: %v)", req.Target, a.st.label, a.st.targetNames())
	}
	if err := t.Check(&req); err != nil {
		return refuse(abi.StatusError, "async request to target %s: %v", req.Target, err)
	}
	// DecodeValue's byte slices alias raw, which is guest memory.
	req.Context = cloneBytes(req.Context)
	req.Fields = deepCopy(m).(map[string]any)
	ticket := a.next
	a.next++
	a.staged = append(a.staged, &asyncReq{ticket: ticket, req: req, target: t, size: int64(len(raw))})
	a.mu.Lock()
	a.reqBytes += int64(len(raw))
	a.mu.Unlock()
	return int64(ticket), abi.StatusOK, ""
}

func (as *asyncStage) targetNames() []string {
	names := make([]string, 0, len(as.targets))
	for n := range as.targets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case []byte:
		return cloneBytes(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = deepCopy(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	}
	return v
}

// commit starts the requests the call that just succeeded submitted, each
// holding a reference on b's source batches.
func (a *asyncInst) commit(b *batch) {
	if len(a.staged) == 0 {
		return
	}
	a.mu.Lock()
	for _, r := range a.staged {
		r.holder = b.hold()
		a.pending++
		if a.st.spec.Mode == "ordered" {
			a.order = append(a.order, r.ticket)
		}
	}
	staged := a.staged
	a.staged = nil
	a.mu.Unlock()
	a.st.stats.submitted.Add(int64(len(staged)))
	a.st.stats.inflight.Add(int64(len(staged)))
	for _, r := range staged {
		a.wg.Add(1)
		go a.run(r)
	}
}

// discard drops what a failed call submitted.
func (a *asyncInst) discard() {
	a.mu.Lock()
	for _, r := range a.staged {
		a.reqBytes -= r.size
	}
	a.mu.Unlock()
	a.staged = a.staged[:0]
}

// begin starts a call: it may submit as many requests as the instance
// has room for now (results completing during the call do not take it
// back, so an operator given one record per free place never sees -6).
func (a *asyncInst) begin() {
	a.discard()
	a.allow = max(0, a.room(), a.reserved)
}

// run performs r's attempts and files its result: from the target's
// cache when it holds the answer (or another request for it is in
// flight), else through the target, the first attempt in a batch when the
// target batches.
func (a *asyncInst) run(r *asyncReq) {
	defer a.wg.Done()
	began := time.Now()
	res := abi.AsyncResult{Ticket: r.ticket, Context: r.req.Context}
	_, statusCodes := r.target.(AsyncStatusTarget)
	cache := a.st.caches[r.req.Target]
	var ckey string
	owner := false
	if cache != nil {
		if k, err := cacheKey(&r.req); err == nil {
			ckey = k
			hit, f := cache.get(k, time.Now())
			if hit == nil && f != nil {
				select {
				case <-f.done:
					if f.ok {
						hit = &f.resp
					}
				case <-a.p.runCtx.Done():
				}
			}
			if hit != nil {
				a.st.stats.cacheHits.Add(1)
				res.Code, res.Body = hit.Code, hit.Body
				a.file(r, res, began)
				return
			}
			owner = f == nil
		}
	}
	resp, ok := a.attempts(r, &res, statusCodes)
	if owner {
		cache.settle(ckey, resp, ok && res.Status == abi.StatusOK && (!statusCodes || (resp.Code >= 200 && resp.Code < 500 && resp.Code != 429)), time.Now())
	}
	a.file(r, res, began)
}

// attempts runs r's attempts as the retry policy allows, setting res; it
// returns the last response and whether the last attempt got one.
func (a *asyncInst) attempts(r *asyncReq, res *abi.AsyncResult, statusCodes bool) (AsyncResponse, bool) {
	spec := a.st.spec
	backoff := spec.Retry.Backoff
	ctx := a.p.runCtx
	batcher := a.st.batchers[r.req.Target]
	var bkey string
	if batcher != nil {
		if k, ok := batcher.t.BatchKey(&r.req); ok {
			bkey = k
		} else {
			batcher = nil
		}
	}
	for attempt := 1; ; attempt++ {
		var resp AsyncResponse
		var err error
		var timedOut bool
		if attempt == 1 && batcher != nil {
			resp, err = batcher.do(ctx, spec.Timeout, bkey, &r.req)
			timedOut = errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		} else {
			actx, cancel := context.WithTimeout(ctx, spec.Timeout)
			resp, err = r.target.Do(actx, &r.req)
			timedOut = err != nil && actx.Err() == context.DeadlineExceeded && ctx.Err() == nil
			cancel()
		}
		var retry, got bool
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			res.Status, res.Error = abi.StatusError, "the pipeline stopped before the request completed"
		case timedOut:
			res.Status, res.Error, res.Code, res.Body = abi.StatusTimeout, fmt.Sprintf("timed out after %v (attempt %d of %d)", spec.Timeout, attempt, spec.Retry.Attempts), 0, nil
			retry = spec.retryOn.timeout
		case err != nil:
			res.Status, res.Error, res.Code, res.Body = abi.StatusError, err.Error(), 0, nil
			retry = spec.retryOn.err && !errors.Is(err, ErrRejected)
		case int64(len(resp.Body)) > int64(spec.MaxResult):
			res.Status, res.Error, res.Code, res.Body = abi.StatusError, fmt.Sprintf("result of %d bytes: more than async.max_result (%d)", len(resp.Body), int64(spec.MaxResult)), resp.Code, nil
		default:
			res.Status, res.Error, res.Code, res.Body = abi.StatusOK, "", resp.Code, resp.Body
			retry = statusCodes && spec.retryOn.code(resp.Code)
			wait = resp.RetryAfter
			got = true
		}
		if !retry || attempt >= spec.Retry.Attempts || ctx.Err() != nil {
			return resp, got
		}
		a.st.stats.retries.Add(1)
		d := backoff/2 + rand.N(backoff/2+1)
		if wait > 0 {
			d = wait
		}
		if !sleepCtx(ctx, min(d, spec.Retry.MaxBackoff)) {
			res.Status, res.Error = abi.StatusError, "the pipeline stopped before the request completed"
			return resp, false
		}
		backoff = min(2*backoff, spec.Retry.MaxBackoff)
	}
}

// file records r's result and wakes its instance.
func (a *asyncInst) file(r *asyncReq, res abi.AsyncResult, began time.Time) {
	switch res.Status {
	case abi.StatusTimeout:
		a.st.stats.timeouts.Add(1)
	case abi.StatusError:
		a.st.stats.errors.Add(1)
	}
	a.st.stats.completed.Add(1)
	a.st.stats.latency.observe(time.Since(began))
	r.res = res
	a.mu.Lock()
	a.done[r.ticket] = r
	a.heldBytes += int64(len(res.Body) + len(res.Context))
	a.reqBytes -= r.size
	a.mu.Unlock()
	select {
	case a.ready <- struct{}{}:
	default:
	}
}

// take removes and returns the results that may be delivered now.
func (a *asyncInst) take() []*asyncReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*asyncReq
	if a.st.spec.Mode == "ordered" {
		n := 0
		for _, t := range a.order {
			r := a.done[t]
			if r == nil {
				break
			}
			delete(a.done, t)
			out = append(out, r)
			n++
		}
		a.order = a.order[n:]
	} else {
		for t, r := range a.done {
			delete(a.done, t)
			out = append(out, r)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ticket < out[j].ticket })
	}
	a.pending -= len(out)
	for _, r := range out {
		a.heldBytes -= int64(len(r.res.Body) + len(r.res.Context))
	}
	a.st.stats.inflight.Add(-int64(len(out)))
	return out
}

// wait blocks until a result may be ready or ctx ends.
func (a *asyncInst) wait(ctx context.Context) bool {
	select {
	case <-a.ready:
		return true
	case <-ctx.Done():
		return false
	}
}

// stop waits for the requests still running (the pipeline is stopping:
// their contexts are cancelled) and gives up their holders.
func (a *asyncInst) stop(cause error) {
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	for t, r := range a.done {
		r.holder.done(cause)
		delete(a.done, t)
	}
	a.pending = 0
}

// hold returns a batch with no records holding its own references on b's
// source batches.
func (b *batch) hold() *batch {
	c := &batch{acks: slices.Clone(b.acks), pool: b.pool}
	for _, g := range c.acks {
		g.refs.Add(1)
	}
	return c
}

// processRecords runs part through the operator as isolation does, one
// call: through Process, or for an async operator through ProcessAsync
// (so that the requests of the calls that succeed start).
func (w *opWorker) processRecords(ctx context.Context, part []Record) ([]Record, error) {
	if w.async == nil {
		return w.op.Process(ctx, part, nil)
	}
	in, out := w.p.pool.get(), new(Batch)
	defer w.p.pool.put(in)
	for i := range part {
		in.Append(&part[i])
	}
	out.Reset()
	if err := w.process(ctx, in, out); err != nil {
		return nil, err
	}
	return out.AppendViews(nil), nil // out is not pooled: the views stay valid
}

// deliver runs the results ready for the instance through it, in one call
// without records, and routes the output, which depends on the source
// batches of every result's request. It reports false when the pipeline is
// stopping.
func (w *opWorker) deliver(ctx context.Context) bool {
	a := w.async
	reqs := a.take()
	if len(reqs) == 0 {
		return true
	}
	rb := &batch{pool: w.p.pool}
	a.results = a.results[:0]
	for _, r := range reqs {
		a.results = append(a.results, r.res)
		for _, g := range r.holder.acks {
			rb.ref(g)
		}
	}
	release := func(err error) {
		for _, r := range reqs {
			r.holder.done(err)
		}
	}
	c := &w.p.stats.ops[w.stage]
	c.batches.Add(1)
	began := time.Now()
	w.cur = rb
	a.reserved = 0
	in := w.p.pool.get()
	out, err := w.processWithRetry(ctx, in)
	w.p.pool.put(in)
	a.results = a.results[:0]
	c.latency.observe(time.Since(began))
	if err != nil {
		c.failures.Add(1)
		if ctx.Err() != nil {
			rb.done(context.Cause(ctx))
			release(context.Cause(ctx))
			return false
		}
		err = fmt.Errorf("handling %d async results: %w", len(reqs), err)
		if w.p.spec.OnError.Action != "dead_letter" {
			rb.done(err)
			release(err)
			w.p.fail(&StageError{Kind: KindOperator, Component: w.st.spec.Path, Err: err})
			return false
		}
		// The results' contexts stand for their records.
		dead := make([]Record, len(reqs))
		for i, r := range reqs {
			dead[i] = w.p.deadRecord(Record{Value: r.res.Context}, w.st.spec.Path, err)
		}
		ok := w.p.sendDead(ctx, rb, dead)
		rb.done(nil)
		release(nil)
		return ok
	}
	c.out.Add(int64(out.Len()))
	c.bytesOut.Add(int64(out.KeyValueBytes()))
	ok := w.route(ctx, rb, out)
	if !ok {
		rb.done(context.Cause(ctx))
		release(context.Cause(ctx))
		return false
	}
	rb.done(nil)
	release(nil)
	return true
}

// drainAsync delivers every result still due once the input has ended.
func (w *opWorker) drainAsync(ctx context.Context) {
	a := w.async
	for !a.idle() {
		if !a.wait(ctx) || !w.deliver(ctx) {
			return
		}
	}
}
