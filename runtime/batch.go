package runtime

import (
	"sync"
	"sync/atomic"
)

// ackGroup tracks one batch a Source returned. Every in-flight batch holding
// records derived from it holds one reference; the source is acknowledged
// when the last reference is released.
type ackGroup struct {
	refs atomic.Int32
	ack  AckFunc

	mu  sync.Mutex
	err error // first failure, reported to ack

	// outcomes, for an OutcomeSource's batch, holds each record's
	// outcome as the sinks settle it (see origin); nil otherwise.
	outcomes []Outcome
}

// origin is the source record a record of a batch is: record i of g's
// batch. Batches carry origins while their records are the source's own
// (from the reader to the sinks, with no operator between).
type origin struct {
	g *ackGroup
	i int32
}

// settle records o as the outcome of the records at origins.
func settle(origins []origin, o Outcome) {
	for _, or := range origins {
		or.g.outcomes[or.i] = o
	}
}

func newAckGroup(ack AckFunc) *ackGroup {
	g := &ackGroup{ack: ack}
	g.refs.Store(1)
	return g
}

func (g *ackGroup) release(err error) {
	if err != nil {
		g.mu.Lock()
		if g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
	}
	if n := g.refs.Add(-1); n == 0 {
		g.mu.Lock()
		err := g.err
		g.mu.Unlock()
		if g.ack != nil {
			g.ack(err)
		}
	} else if n < 0 {
		panic("wasmstream: ack group released more often than held")
	}
}

// batch is the unit that moves between stages: an encoded Batch (records
// as offsets into one buffer) and the source batches it depends on. Each
// batch owns its Batch and gives it back to the pipeline's pool when done.
type batch struct {
	recs    *Batch
	bytes   int // recs.Size() when queued
	acks    []*ackGroup
	pool    *batchPool
	origins []origin // per record, for an OutcomeSource's records (see origin)
}

// newBatch returns an empty batch whose records come from p's pool.
func (p *Pipeline) newBatch() *batch {
	return &batch{recs: p.pool.get(), pool: p.pool}
}

// add appends r, taking a reference on g the first time g contributes.
func (b *batch) add(r *Record, g *ackGroup, i int) {
	if g.outcomes != nil {
		b.origins = append(b.origins, origin{g, int32(i)})
	}
	b.recs.Append(r)
	b.bytes = b.recs.Size()
	b.ref(g)
}

// addFrom appends record i of src, as add does.
func (b *batch) addFrom(src *Batch, i int, g *ackGroup) {
	if g.outcomes != nil {
		b.origins = append(b.origins, origin{g, int32(i)})
	}
	b.recs.AppendFrom(src, i)
	b.bytes = b.recs.Size()
	b.ref(g)
}

// ref takes a reference on g the first time g contributes to b.
func (b *batch) ref(g *ackGroup) {
	if n := len(b.acks); n == 0 || b.acks[n-1] != g {
		for _, have := range b.acks {
			if have == g {
				return
			}
		}
		g.refs.Add(1)
		b.acks = append(b.acks, g)
	}
}

// derive returns a batch of recs that depends on the same source batches as
// b, holding its own references. It takes ownership of recs.
func (b *batch) derive(recs *Batch) *batch {
	c := &batch{recs: recs, bytes: recs.Size(), acks: b.acks, pool: b.pool}
	for _, g := range b.acks {
		g.refs.Add(1)
	}
	return c
}

// done releases b's references: nil when its records are written, an error
// when the pipeline gave up on them. Its records go back to the pool: views
// of them must not be used after.
func (b *batch) done(err error) {
	for _, g := range b.acks {
		g.release(err)
	}
	b.acks, b.origins = nil, nil
	if b.recs != nil {
		b.pool.put(b.recs)
		b.recs = nil
	}
}

// batchPool keeps Batches for reuse once their records are written, so the
// record path allocates no buffers in a steady state. It is bounded: it
// keeps at most maxCount batches and maxBytes of their buffers, and no
// batch whose buffers grew past maxKeep (one huge batch does not pin its
// memory after it is done). Safe for concurrent use.
type batchPool struct {
	mu       sync.Mutex
	free     []*Batch
	bytes    int // summed Footprint of free
	maxBytes int
	maxKeep  int
	maxCount int

	gets, misses atomic.Int64
}

// newBatchPool returns a pool keeping at most maxBytes of buffers.
func newBatchPool(maxBytes int) *batchPool {
	return &batchPool{maxBytes: maxBytes, maxKeep: min(maxBytes/4, 16<<20), maxCount: 256}
}

// get returns an empty Batch.
func (p *batchPool) get() *Batch {
	p.gets.Add(1)
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		p.bytes -= b.Footprint()
		p.mu.Unlock()
		b.Reset()
		return b
	}
	p.mu.Unlock()
	p.misses.Add(1)
	b := new(Batch)
	b.Reset()
	return b
}

// put gives b back; the caller must not use it or views of it after.
func (p *batchPool) put(b *Batch) {
	fp := b.Footprint()
	if fp > p.maxKeep {
		return
	}
	p.mu.Lock()
	if len(p.free) < p.maxCount && p.bytes+fp <= p.maxBytes {
		p.free = append(p.free, b)
		p.bytes += fp
	}
	p.mu.Unlock()
}
