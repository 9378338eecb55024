package runtime

import (
	"context"
	"errors"
	"fmt"
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
	op    Operator
	in    *queue
	next  *targets
}

func (w *opWorker) run(ctx context.Context) {
	c := &w.p.stats.ops[w.stage]
	for {
		var b *batch
		var ok bool
		select {
		case b, ok = <-w.in.c:
			if !ok {
				return
			}
			w.in.took(b)
		case <-ctx.Done():
			return
		}
		c.in.Add(int64(len(b.recs)))
		c.bytesIn.Add(recordBytes(b.recs))
		c.batches.Add(1)
		began := time.Now()
		out, err := w.processWithRetry(ctx, b.recs)
		c.latency.observe(time.Since(began))
		if err != nil {
			c.failures.Add(1)
			if ctx.Err() != nil {
				b.done(context.Cause(ctx))
				return
			}
			if w.p.spec.OnError.Action != "dead_letter" {
				b.done(err)
				w.p.fail(&StageError{Kind: KindOperator, Component: w.st.spec.Path, Err: err})
				return
			}
			w.p.log.Warn("operator batch failed; isolating failing records for the dead-letter sink",
				"operator", w.st.spec.Label, "records", len(b.recs), "err", err)
			var dead []Record
			out, dead, err = w.isolate(ctx, b.recs, err)
			if ctx.Err() != nil {
				b.done(context.Cause(ctx))
				return
			}
			if err != nil {
				b.done(err)
				w.p.fail(&StageError{Kind: KindOperator, Component: w.st.spec.Path, Err: err})
				return
			}
			if len(dead) > 0 && !w.p.sendDead(ctx, b, dead) {
				b.done(context.Cause(ctx))
				return
			}
		}
		c.out.Add(int64(len(out)))
		c.bytesOut.Add(recordBytes(out))
		if !w.p.route(ctx, b, out, w.next, w.st.spec.Path) {
			b.done(context.Cause(ctx))
			return
		}
		b.done(nil)
	}
}

func (w *opWorker) processWithRetry(ctx context.Context, recs []Record) ([]Record, error) {
	pol := w.p.spec.OnError
	backoff := pol.Backoff
	var err error
	for attempt := 0; ; attempt++ {
		var out []Record
		out, err = w.op.Process(ctx, recs, nil)
		if err == nil {
			return out, nil
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
	d := b.derive(recs)
	if !p.dlq.in.put(ctx, d) {
		d.done(context.Cause(ctx))
		return false
	}
	return true
}

// routed reports whether any record goes to a named output.
func routed(recs []Record) bool {
	for i := range recs {
		if recs[i].Output != "" {
			return true
		}
	}
	return false
}

// route sends an operator's output, derived from b, to the next stage and to
// named outputs. It reports false when the pipeline is stopping.
func (p *Pipeline) route(ctx context.Context, b *batch, out []Record, next *targets, from string) bool {
	if len(out) == 0 {
		return true
	}
	send := func(q *queue, recs []Record) bool {
		d := b.derive(recs)
		if !q.put(ctx, d) {
			d.done(context.Cause(ctx))
			return false
		}
		return true
	}
	if len(next.chans) == 1 && !routed(out) {
		return send(next.chans[0], out) // the common case: nothing to split
	}
	var parts [][]Record
	named := map[string][]Record(nil)
	var unconnected []Record
	for _, r := range out {
		if r.Output != "" {
			if _, ok := p.outs[r.Output]; !ok {
				unconnected = append(unconnected, p.deadRecord(r, from,
					fmt.Errorf("routed to output %q, which the pipeline does not connect (connected: %v)", r.Output, p.outputNames())))
				continue
			}
			if named == nil {
				named = map[string][]Record{}
			}
			named[r.Output] = append(named[r.Output], r)
			continue
		}
		if parts == nil {
			parts = make([][]Record, len(next.chans))
		}
		i := next.route(&r)
		parts[i] = append(parts[i], r)
	}
	if len(unconnected) > 0 {
		if p.spec.OnError.Action != "dead_letter" {
			p.fail(&StageError{Kind: KindOperator, Component: from, Err: errors.New(string(headerValue(unconnected[0], HeaderError)))})
			return false
		}
		if !p.sendDead(ctx, b, unconnected) {
			return false
		}
	}
	for i, part := range parts {
		if len(part) > 0 && !send(next.chans[i], part) {
			return false
		}
	}
	for name, recs := range named {
		if !send(p.outs[name].in, recs) {
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
	recs := make([]Record, 0, size)
	for {
		pending, recs = pending[:0], recs[:0]
		select {
		case b, ok := <-w.s.in.c:
			if !ok {
				return
			}
			w.s.in.took(b)
			pending = append(pending, b)
			recs = append(recs, b.recs...)
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
				recs = append(recs, b.recs...)
			default:
				break coalesce
			}
		}
		err := w.write(ctx, recs)
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
func (w *sinkWorker) write(ctx context.Context, recs []Record) error {
	pol := w.p.spec.OnError
	backoff := pol.Backoff
	var sent []bool
	for attempt := 0; ; attempt++ {
		w.s.mu.Lock()
		err := w.s.sink.Write(ctx, recs)
		w.s.mu.Unlock()
		if err == nil {
			w.count(unsent(sent, len(recs)))
			if !w.s.dead {
				w.p.stats.bytesOut.Add(unsentBytes(recs, sent))
			}
			return nil
		}
		var be *BatchError
		if errors.As(err, &be) && len(be.Failed) > 0 {
			if berr := checkBatchError(be, len(recs)); berr != nil {
				serr := &StageError{Kind: KindSink, Component: w.s.path, Err: berr}
				w.p.fail(serr)
				return serr
			}
			if len(be.Failed) < len(recs) {
				var n int
				recs, sent, n = retryAfter(recs, sent, be.Failed)
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
				return w.p.writeDead(ctx, dead)
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
func retryAfter(recs []Record, sent []bool, failed []int) (retry []Record, rsent []bool, n int) {
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
		}
		k := string(r.Key) // unkeyed records are one key
		if isFailed || blocked[k] {
			blocked[k] = true
			retry = append(retry, r)
			rsent = append(rsent, already || !isFailed)
		}
	}
	return retry, rsent, n
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
	return w.write(ctx, recs)
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
