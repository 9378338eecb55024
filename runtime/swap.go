package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Hot swap: an operator's instances are replaced by those of a new
// factory (a new module version) while the pipeline runs. The new
// instances are built first (a Wasm module is compiled, checked and its
// first instance initialised), so a version that cannot start is refused
// with nothing changed. The swap itself happens at a read boundary like a
// checkpoint's: the reader stops, waits until every record read is
// written, takes a checkpoint when the pipeline keeps state, and switches
// every instance at once. No record is in flight then, so none is lost or
// processed twice, and keyed state is the operator's by name: the new
// version reads what the old one wrote.

// SwapOptions configure Pipeline.Swap.
type SwapOptions struct {
	// Canary, when positive, is how many batches the new version must
	// process without an error before it is kept. At its first failure
	// before then the old version takes over again, the failed batch is
	// processed by it, and Swap returns an error wrapping ErrRolledBack
	// with the cause.
	Canary int
}

// SwapResult describes a swap.
type SwapResult struct {
	Operator string
	// Checkpoint is the checkpoint taken at the swap's boundary (0 when
	// the pipeline keeps no state).
	Checkpoint uint64
	// Pause is how long reading stopped for the swap: draining what was
	// in flight, the checkpoint, the switch.
	Pause time.Duration
}

// ErrRolledBack: the new version failed within its canary batches, and the
// old one runs again.
var ErrRolledBack = errors.New("the new version failed its canary and was rolled back")

// opVersion is one version of a stage's operator: an instance per slot.
// Each instance is closed once (closeOp): when the version is retired and
// no worker can use it, by its worker after a rollback, or when Run ends.
type opVersion struct {
	ops     []Operator
	closed  []atomic.Bool
	factory OperatorFactory
	fclosed atomic.Bool
	canary  *canary // set while on trial (never changed after the swap)
	// rolledBack: replaced after failing its canary; workers still
	// holding one of its instances close it when they next take a batch.
	rolledBack atomic.Bool
}

func newVersion(ops []Operator, f OperatorFactory) *opVersion {
	return &opVersion{ops: ops, closed: make([]atomic.Bool, len(ops)), factory: f}
}

// closeOp closes instance j of v, once.
func (v *opVersion) closeOp(j int) {
	if j < len(v.ops) && v.closed[j].CompareAndSwap(false, true) {
		v.ops[j].Close(context.Background())
	}
}

// close closes every instance of v and its factory, once each.
func (v *opVersion) close() {
	for j := range v.ops {
		v.closeOp(j)
	}
	if v.factory != nil && v.fclosed.CompareAndSwap(false, true) {
		v.factory.Close(context.Background())
	}
}

// canary tracks a new version on trial.
type canary struct {
	st        *opStage
	remaining atomic.Int64
	old       *opVersion
	decided   atomic.Bool
	once      sync.Once
	result    chan error // receives the outcome once
}

// succeeded counts one good batch of the new version; the last one keeps
// it and closes the old version, which nothing can use any more.
func (c *canary) succeeded() {
	if c.decided.Load() {
		return
	}
	if c.remaining.Add(-1) == 0 {
		c.once.Do(func() {
			c.decided.Store(true)
			c.old.close()
			c.result <- nil
		})
	}
}

// failed rolls the stage back to the old version (once) and reports
// whether the old version now runs, so the caller retries its batch there.
func (c *canary) failed(cause error) bool {
	if c.decided.Load() && c.st.version.Load() != c.old {
		return false // kept: failures are the failure policy's
	}
	c.once.Do(func() {
		c.decided.Store(true)
		cur := c.st.version.Load()
		cur.rolledBack.Store(true)
		c.st.version.Store(c.old)
		c.st.setFactory(c.old.factory)
		c.result <- fmt.Errorf("%w: %w", ErrRolledBack, cause)
	})
	return c.st.version.Load() == c.old
}

// swapReq asks the reader to swap a stage at the next read boundary.
type swapReq struct {
	st    *opStage
	next  *opVersion
	began time.Time
	reply chan swapReply
}

type swapReply struct {
	res SwapResult
	err error
}

// Swap replaces operator name's instances with new ones from factory, at
// the next read boundary (see the comment above). The factory must keep
// state only if the pipeline does. With opts.Canary, Swap returns once the
// canary passed or rolled back, or ctx ended (the trial then goes on).
// Swap owns factory: it is closed when a later swap replaces it, when Run
// ends, or at once when the swap is refused. Safe to call concurrently
// with Run, once Run has started the operators.
func (p *Pipeline) Swap(ctx context.Context, name string, factory OperatorFactory, opts SwapOptions) (res SwapResult, err error) {
	owned := false // a version holds factory, and closes it
	defer func() {
		if !owned {
			factory.Close(context.WithoutCancel(ctx))
		}
	}()
	var st *opStage
	for _, s := range p.ops {
		if s.spec.Label == name {
			st = s
		}
	}
	if st == nil {
		return SwapResult{}, fmt.Errorf("swap: the pipeline has no operator %q", name)
	}
	select {
	case <-st.started:
	case <-ctx.Done():
		return SwapResult{}, ctx.Err()
	}
	if sf, ok := factory.(StatefulFactory); ok && sf.Stateful() && p.store == nil {
		return SwapResult{}, fmt.Errorf("swap %s: the new version keeps state, and the pipeline runs without a state store: restart it with the new version", name)
	}
	var ops []Operator
	for j := range st.parallelism {
		op, err := factory.New(ctx, st.envs[j])
		if err != nil {
			for _, o := range ops {
				o.Close(context.WithoutCancel(ctx))
			}
			return SwapResult{}, fmt.Errorf("swap %s: starting instance %d of the new version: %w", name, j, err)
		}
		ops = append(ops, op)
	}
	next := newVersion(ops, factory)
	owned = true
	var c *canary
	if opts.Canary > 0 {
		c = &canary{st: st, result: make(chan error, 1)}
		c.remaining.Store(int64(opts.Canary))
		next.canary = c
	}
	req := swapReq{st: st, next: next, reply: make(chan swapReply, 1)}
	abandon := func(err error) (SwapResult, error) {
		next.close()
		return SwapResult{}, err
	}
	select {
	case p.savepoints <- savepointReq{swap: &req}:
	case <-p.readerDone:
		return abandon(errors.New("swap: the pipeline stopped reading"))
	case <-ctx.Done():
		return abandon(ctx.Err())
	}
	var r swapReply
	select {
	case r = <-req.reply:
	case <-ctx.Done():
		// The reader has the request: it swaps, or replies with why not.
		return SwapResult{}, ctx.Err()
	}
	if r.err != nil {
		next.close()
		return r.res, r.err
	}
	p.log.Info("operator swapped", "operator", name, "pause", r.res.Pause, "checkpoint", r.res.Checkpoint, "canary", opts.Canary)
	if c == nil {
		return r.res, nil
	}
	select {
	case err := <-c.result:
		if err != nil {
			p.log.Warn("swap rolled back", "operator", name, "err", err)
		}
		return r.res, err
	case <-ctx.Done():
		return r.res, fmt.Errorf("swap %s: done, the canary still on trial: %w", name, ctx.Err())
	}
}

// doSwap switches a stage to req's version; the pipeline is quiescent,
// so no worker holds an instance of the old one.
func (p *Pipeline) doSwap(req *swapReq) {
	st := req.st
	old := st.version.Load()
	p.versionsMu.Lock()
	p.versions = append(p.versions, req.next)
	p.versionsMu.Unlock()
	if req.next.canary != nil {
		req.next.canary.old = old // closed when the canary passes
	}
	st.version.Store(req.next)
	st.setFactory(req.next.factory)
	if req.next.canary == nil {
		old.close()
	}
}
