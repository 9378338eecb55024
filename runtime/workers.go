package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Headers the runtime adds to dead-lettered records.
const (
	HeaderError     = "wasmstream.error"
	HeaderComponent = "wasmstream.component"
	HeaderPipeline  = "wasmstream.pipeline"
	HeaderFailedAt  = "wasmstream.failed_at"
)

// opWorker runs one operator instance over its input queue.
type opWorker struct {
	p     *Pipeline
	stage int
	st    *opStage
	j     int        // the instance this worker runs
	ver   *opVersion // the version of the batch in hand
	op    Operator   // its instance j
	in    *queue
	next  *targets

	views []Record // in's records, for operators that take records
	parts []*Batch // route's per-instance batches

	async *asyncInst // the instance's async requests, when the operator declares targets
	cur   *batch     // the batch whose records the current call handles
}

func (w *opWorker) run(ctx context.Context) {
	if a := w.async; a != nil {
		defer func() { a.stop(context.Cause(ctx)) }()
	}
	for {
		var b *batch
		var ok bool
		inC := w.in.c
		var ready chan struct{}
		if a := w.async; a != nil {
			ready = a.ready
			if a.room() <= 0 {
				inC = nil // full: only results free room
			}
		}
		select {
		case b, ok = <-inC:
			if !ok {
				if w.async != nil {
					w.drainAsync(ctx)
				}
				return
			}
			w.in.took(b)
		case <-ready:
			if !w.deliver(ctx) {
				return
			}
			continue
		case <-ctx.Done():
			return
		}
		if w.async == nil {
			if !w.handle(ctx, b, b.recs) {
				return
			}
			b.done(nil)
			continue
		}
		// An async operator gets at most as many records per call as it
		// has room for requests.
		n := b.recs.Len()
		for off := 0; off < n; {
			room := w.async.room()
			if room <= 0 {
				if !w.async.wait(ctx) || !w.deliver(ctx) {
					b.done(context.Cause(ctx))
					return
				}
				continue
			}
			w.async.reserved = room // the records' requests may take it, whatever completes meanwhile
			in := b.recs
			end := min(n, off+room)
			if off > 0 || end < n {
				in = w.p.pool.get()
				for i := off; i < end; i++ {
					in.AppendFrom(b.recs, i)
				}
			}
			ok := w.handle(ctx, b, in)
			if in != b.recs {
				w.p.pool.put(in)
			}
			if !ok {
				return
			}
			off = end
		}
		b.done(nil)
	}
}

// handle runs in (b's records, or some of them) through the operator and
// routes the output, applying the failure policy. It reports false, having
// given up b, when the pipeline is stopping.
func (w *opWorker) handle(ctx context.Context, b *batch, in *Batch) bool {
	c := &w.p.stats.ops[w.stage]
	c.in.Add(int64(in.Len()))
	c.bytesIn.Add(int64(in.KeyValueBytes()))
	c.batches.Add(1)
	began := time.Now()
	w.cur = b
	out, err := w.processWithRetry(ctx, in)
	c.latency.observe(time.Since(began))
	if err != nil {
		c.failures.Add(1)
		if ctx.Err() != nil {
			b.done(context.Cause(ctx))
			return false
		}
		if w.p.spec.OnError.Action != "dead_letter" {
			b.done(err)
			w.p.fail(&StageError{Kind: KindOperator, Component: w.st.spec.Path, Err: err})
			return false
		}
		w.p.log.Warn("operator batch failed; isolating failing records for the dead-letter sink",
			"operator", w.st.spec.Label, "records", in.Len(), "err", err)
		var good, dead []Record
		good, dead, err = w.isolate(ctx, in.AppendViews(nil), err)
		if ctx.Err() != nil {
			b.done(context.Cause(ctx))
			return false
		}
		if err != nil {
			b.done(err)
			w.p.fail(&StageError{Kind: KindOperator, Component: w.st.spec.Path, Err: err})
			return false
		}
		if len(dead) > 0 && !w.p.sendDead(ctx, b, dead) {
			b.done(context.Cause(ctx))
			return false
		}
		out = w.p.pool.get()
		for i := range good {
			out.Append(&good[i])
		}
	}
	c.out.Add(int64(out.Len()))
	c.bytesOut.Add(int64(out.KeyValueBytes()))
	if !w.route(ctx, b, out) {
		b.done(context.Cause(ctx))
		return false
	}
	return true
}

// processWithRetry runs in through the operator, retrying as the failure
// policy says, and returns its output, a Batch from the pool.
func (w *opWorker) processWithRetry(ctx context.Context, in *Batch) (*Batch, error) {
	pol := w.p.spec.OnError
	backoff := pol.Backoff
	var err error
	for attempt := 0; ; attempt++ {
		w.current()
		out := w.p.pool.get()
		err = w.process(ctx, in, out)
		if err == nil {
			if c := w.ver.canary; c != nil {
				c.succeeded()
			}
			return out, nil
		}
		w.p.pool.put(out)
		if c := w.ver.canary; c != nil && c.failed(err) {
			// The new version failed its trial: the old one runs the
			// batch again, as if nothing had happened.
			attempt--
			continue
		}
		if attempt >= pol.Retries || ctx.Err() != nil {
			return nil, err
		}
		w.p.stats.opRetries.Add(1)
		w.p.log.Warn("operator batch failed; retrying", "operator", w.st.spec.Label,
			"attempt", attempt+1, "of", pol.Retries, "backoff", backoff, "err", err)
		if !sleepCtx(ctx, backoff) {
			return nil, err
		}
		backoff = min(2*backoff, pol.MaxBackoff)
	}
}

// current takes the stage's running version for the next call: after a
// swap, the new one; after a rollback, the old one again, closing this
// worker's instance of the version that failed (only it used it).
func (w *opWorker) current() {
	v := w.st.version.Load()
	if w.ver != nil && w.ver != v && w.ver.rolledBack.Load() {
		w.ver.closeOp(w.j)
	}
	w.ver, w.op = v, v.ops[w.j]
}

// process runs in once: as it is for a BatchProcessor, through record
// views for any other operator, whose outputs are then copied into out.
func (w *opWorker) process(ctx context.Context, in, out *Batch) error {
	if a := w.async; a != nil {
		// Requests a failed call submitted are dropped with it; those of
		// a successful one start now, held by the records' batch.
		a.begin()
		if err := w.op.(AsyncProcessor).ProcessAsync(ctx, in, a, out); err != nil {
			a.discard()
			return err
		}
		a.commit(w.cur)
		return nil
	}
	if bp, ok := w.op.(BatchProcessor); ok {
		return bp.ProcessBatch(ctx, in, out)
	}
	w.views = in.AppendViews(w.views[:0])
	recs, err := w.op.Process(ctx, w.views, nil)
	if err != nil {
		return err
	}
	for i := range recs {
		out.Append(&recs[i])
	}
	return nil
}

// deadRecord returns a copy of r with the failure described in headers.
func (p *Pipeline) deadRecord(r Record, component string, cause error) Record {
	h := make([]Header, 0, len(r.Headers)+4)
	h = append(h, r.Headers...)
	h = append(h,
		Header{Name: HeaderError, Value: []byte(cause.Error())},
		Header{Name: HeaderComponent, Value: []byte(component)},
		Header{Name: HeaderPipeline, Value: []byte(p.spec.Name)},
		Header{Name: HeaderFailedAt, Value: strconv.AppendInt(nil, time.Now().UnixMilli(), 10)},
	)
	r.Headers = h
	r.Output = ""
	return r
}

// sendDead queues recs, derived from b, for the dead-letter sink.
func (p *Pipeline) sendDead(ctx context.Context, b *batch, recs []Record) bool {
	if p.dlq == nil {
		p.fail(errors.New("records failed and no dead-letter sink is configured"))
		return false
	}
	rb := p.pool.get()
	for i := range recs {
		rb.Append(&recs[i])
	}
	d := b.derive(rb)
	if !p.dlq.in.put(ctx, d) {
		d.done(context.Cause(ctx))
		return false
	}
	return true
}

// route sends an operator's output, derived from b, to the next stage and to
// named outputs, taking ownership of out. It reports false when the
// pipeline is stopping.
//
// When every record goes to the next stage's only instance and that stage
// does not re-key them, out is passed on as it is: a frame that a Wasm
// operator returned reaches the next one without being decoded or copied.
func (w *opWorker) route(ctx context.Context, b *batch, out *Batch) bool {
	p, next, from := w.p, w.next, w.st.spec.Path
	if out.Len() == 0 {
		p.pool.put(out)
		return true
	}
	send := func(q *queue, recs *Batch) bool {
		d := b.derive(recs)
		if !q.put(ctx, d) {
			d.done(context.Cause(ctx))
			return false
		}
		return true
	}
	if len(next.chans) == 1 && !out.HasOutputs() && next.keyBy == nil {
		return send(next.chans[0], out) // the common case: nothing to split
	}
	defer p.pool.put(out)
	parts := w.parts[:0]
	for range next.chans {
		parts = append(parts, nil)
	}
	var named map[string]*Batch
	var unconnected []Record
	var r Record
	for i := 0; i < out.Len(); i++ {
		if o := out.Output(i); o != "" {
			if _, ok := p.outs[o]; !ok {
				out.View(i, &r)
				unconnected = append(unconnected, p.deadRecord(r, from,
					fmt.Errorf("routed to output %q, which the pipeline does not connect (connected: %v)", o, p.outputNames())))
				continue
			}
			if named == nil {
				named = map[string]*Batch{}
			}
			nb := named[o]
			if nb == nil {
				nb = p.pool.get()
				named[o] = nb
			}
			nb.AppendFrom(out, i)
			continue
		}
		var j int
		if next.keyBy != nil {
			out.View(i, &r)
			j = next.route(&r)
		} else {
			j = next.part.pick(out.Key(i))
		}
		if parts[j] == nil {
			parts[j] = p.pool.get()
		}
		if next.keyBy != nil {
			parts[j].Append(&r)
		} else {
			parts[j].AppendFrom(out, i)
		}
	}
	w.parts = parts[:0]
	release := func() {
		for _, part := range parts {
			if part != nil {
				p.pool.put(part)
			}
		}
		for _, nb := range named {
			p.pool.put(nb)
		}
	}
	if len(unconnected) > 0 {
		if p.spec.OnError.Action != "dead_letter" {
			release()
			p.fail(&StageError{Kind: KindOperator, Component: from, Err: errors.New(string(headerValue(unconnected[0], HeaderError)))})
			return false
		}
		if !p.sendDead(ctx, b, unconnected) {
			release()
			return false
		}
	}
	for i, part := range parts {
		if part == nil {
			continue
		}
		parts[i] = nil
		if !send(next.chans[i], part) {
			release()
			return false
		}
	}
	for name, recs := range named {
		delete(named, name)
		if !send(p.outs[name].in, recs) {
			release()
			return false
		}
	}
	return true
}

func headerValue(r Record, name string) []byte {
	for _, h := range r.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return nil
}

// sinkWorker writes one sink's queue, coalescing queued batches up to the
// batch size and retrying failures in place, so order is kept.
type sinkWorker struct {
	p *Pipeline
	s *sinkStage
}

func (w *sinkWorker) run(ctx context.Context) {
	size := w.p.spec.Batch.Size
	var pending []*batch
	var orig []origin
	recs := make([]Record, 0, size)
	for {
		pending, recs, orig = pending[:0], recs[:0], orig[:0]
		select {
		case b, ok := <-w.s.in.c:
			if !ok {
				return
			}
			w.s.in.took(b)
			pending = append(pending, b)
			recs = b.recs.AppendViews(recs)
			orig = append(orig, b.origins...)
		case <-ctx.Done():
			return
		}
	coalesce:
		for len(recs) < size {
			select {
			case b, ok := <-w.s.in.c:
				if !ok {
					break coalesce
				}
				w.s.in.took(b)
				pending = append(pending, b)
				recs = b.recs.AppendViews(recs)
				orig = append(orig, b.origins...)
			default:
				break coalesce
			}
		}
		o := orig
		if len(o) != len(recs) {
			o = nil // records of their own (an operator made them): outcomes are per source batch
		}
		err := w.write(ctx, recs, o)
		for _, b := range pending {
			b.done(err)
		}
		if err != nil {
			return
		}
	}
}

// write writes recs, retrying what failed with backoff. A non-nil return
// means the pipeline is stopping.
//
// After a partial failure (a *BatchError) only the failed records are
// written again, and with them every later record of a key that has a
// failed record before it, so that each key's records reach the sink in
// order (the later ones may be written twice: at-least-once). sent marks the
// records of recs already written by an earlier attempt.
//
// orig, when not nil, holds the source record each record is (see
// origin): write settles their outcomes as it learns them.
func (w *sinkWorker) write(ctx context.Context, recs []Record, orig []origin) error {
	pol := w.p.spec.OnError
	backoff := pol.Backoff
	var sent []bool
	for attempt := 0; ; attempt++ {
		w.s.mu.Lock()
		err := w.s.sink.Write(ctx, recs)
		w.s.mu.Unlock()
		if err == nil {
			settleUnsent(orig, sent, Written)
			w.count(unsent(sent, len(recs)))
			if !w.s.dead {
				w.p.stats.bytesOut.Add(unsentBytes(recs, sent))
			}
			return nil
		}
		if errors.Is(err, ErrFatal) {
			serr := &StageError{Kind: KindSink, Component: w.s.path, Err: err}
			w.p.fail(serr)
			return serr
		}
		var be *BatchError
		if errors.As(err, &be) && len(be.Failed) > 0 {
			if berr := checkBatchError(be, len(recs)); berr != nil {
				serr := &StageError{Kind: KindSink, Component: w.s.path, Err: berr}
				w.p.fail(serr)
				return serr
			}
			failed := be.Failed
			if rej := rejectedOf(be); len(rej) > 0 {
				// Records the destination refused are not retried: the
				// failure policy takes them now.
				if pol.Action != "dead_letter" || w.s.dead {
					serr := &StageError{Kind: KindSink, Component: w.s.path, Err: fmt.Errorf("%s refused by the destination: %w", pluralRecords(len(rej)), be.Errs[rejIndex(be, rej[0])])}
					w.p.fail(serr)
					return serr
				}
				sent = slices.Clone(sent)
				if sent == nil {
					sent = make([]bool, len(recs))
				}
				dead := make([]Record, 0, len(rej))
				var deadOrig []origin
				for _, i := range rej {
					if !sent[i] {
						dead = append(dead, w.p.deadRecord(recs[i], w.s.path, be.Errs[rejIndex(be, i)]))
						sent[i] = true
						if orig != nil {
							deadOrig = append(deadOrig, orig[i])
						}
					}
				}
				w.p.log.Warn("the destination refused records; sending them to the dead-letter sink",
					"sink", w.s.path, "records", len(dead), "first", be.Errs[rejIndex(be, rej[0])])
				if derr := w.p.writeDead(ctx, dead); derr != nil {
					return derr
				}
				settle(deadOrig, DeadLettered)
				failed = slices.DeleteFunc(slices.Clone(failed), func(i int) bool { return slices.Contains(rej, i) })
				if len(failed) == 0 {
					settleUnsent(orig, sent, Written)
					w.count(unsent(sent, len(recs)))
					if !w.s.dead {
						w.p.stats.bytesOut.Add(unsentBytes(recs, sent))
					}
					return nil
				}
			}
			if len(failed) < len(recs) {
				var n int
				recs, sent, orig, n = retryAfter(recs, sent, orig, failed)
				w.count(n)
			}
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if pol.SinkRetries > 0 && attempt >= pol.SinkRetries {
			serr := &StageError{Kind: KindSink, Component: w.s.path, Err: err}
			if pol.Action == "dead_letter" && !w.s.dead {
				dead := make([]Record, 0, len(recs))
				for i, r := range recs {
					if sent == nil || !sent[i] { // resent only for order: already written
						dead = append(dead, w.p.deadRecord(r, w.s.path, err))
					}
				}
				w.p.log.Warn("sink write failed after retries; sending records to the dead-letter sink",
					"sink", w.s.path, "records", len(dead), "err", err)
				if derr := w.p.writeDead(ctx, dead); derr != nil {
					return derr
				}
				settleUnsent(orig, sent, DeadLettered)
				return nil
			}
			w.p.fail(serr)
			return serr
		}
		w.p.stats.sinkRetries.Add(1)
		w.p.log.Warn("sink write failed; retrying", "sink", w.s.path, "attempt", attempt+1, "records", len(recs), "backoff", backoff, "err", err)
		if !sleepCtx(ctx, backoff) {
			return context.Cause(ctx)
		}
		backoff = min(2*backoff, pol.MaxBackoff)
	}
}

// rejectedOf returns the indexes of the records be says the destination
// refused (ErrRejected), in order.
func rejectedOf(be *BatchError) []int {
	var rej []int
	for k, i := range be.Failed {
		if k < len(be.Errs) && errors.Is(be.Errs[k], ErrRejected) {
			rej = append(rej, i)
		}
	}
	return rej
}

// rejIndex returns the position in be.Errs of record index i's error.
func rejIndex(be *BatchError, i int) int {
	k, _ := slices.BinarySearch(be.Failed, i)
	return k
}

// checkBatchError reports a BatchError whose indexes do not describe a
// batch of n records: which records were written is then unknown, and
// guessing would lose or reorder records.
func checkBatchError(be *BatchError, n int) error {
	prev := -1
	for _, i := range be.Failed {
		switch {
		case i < 0 || i >= n:
			return fmt.Errorf("%w: failed record index %d of a batch of %d", ErrInvalidBatchError, i, n)
		case i <= prev:
			return fmt.Errorf("%w: failed record indexes not increasing (%d after %d)", ErrInvalidBatchError, i, prev)
		}
		prev = i
	}
	return nil
}

// retryAfter returns what to write again after the records at failed
// (valid, increasing indexes) of recs failed: those, and every later record
// of a key with a failed record before it, in order, with sent marking the
// ones already written. n counts the records written for the first time.
//
// orig (nil, or the records' origins) is filtered alike, and the records
// written for the first time are settled as Written.
func retryAfter(recs []Record, sent []bool, orig []origin, failed []int) (retry []Record, rsent []bool, rorig []origin, n int) {
	blocked := map[string]bool{}
	f := 0
	for i, r := range recs {
		isFailed := f < len(failed) && failed[f] == i
		if isFailed {
			f++
		}
		already := sent != nil && sent[i]
		if !isFailed && !already {
			n++
			if orig != nil {
				settle(orig[i:i+1], Written)
			}
		}
		k := string(r.Key) // unkeyed records are one key
		if isFailed || blocked[k] {
			blocked[k] = true
			retry = append(retry, r)
			rsent = append(rsent, already || !isFailed)
			if orig != nil {
				rorig = append(rorig, orig[i])
			}
		}
	}
	return retry, rsent, rorig, n
}

// settleUnsent settles the records of orig not written before (sent) as o.
func settleUnsent(orig []origin, sent []bool, o Outcome) {
	for i, or := range orig {
		if sent == nil || !sent[i] {
			or.g.outcomes[or.i] = o
		}
	}
}

// unsent counts the records of an n-record write not written before.
func unsent(sent []bool, n int) int {
	if sent == nil {
		return n
	}
	c := 0
	for _, s := range sent {
		if !s {
			c++
		}
	}
	return c
}

// writeDead writes records straight to the dead-letter sink from a sink
// worker (which must not wait on the dead-letter queue it feeds).
func (p *Pipeline) writeDead(ctx context.Context, recs []Record) error {
	w := &sinkWorker{p: p, s: p.dlq}
	return w.write(ctx, recs, nil)
}

func (w *sinkWorker) count(n int) {
	if w.s.dead {
		w.p.stats.dead.Add(int64(n))
	} else {
		w.p.stats.out.Add(int64(n))
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
