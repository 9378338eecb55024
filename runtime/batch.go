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

// batch is the unit that moves between stages.
type batch struct {
	recs  []Record
	bytes int
	acks  []*ackGroup
}

// add appends r, taking a reference on g the first time g contributes.
func (b *batch) add(r Record, g *ackGroup) {
	b.recs = append(b.recs, r)
	b.bytes += r.Size()
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
// b, holding its own references.
func (b *batch) derive(recs []Record) *batch {
	c := &batch{recs: recs, acks: b.acks}
	for _, r := range recs {
		c.bytes += r.Size()
	}
	for _, g := range b.acks {
		g.refs.Add(1)
	}
	return c
}

// done releases b's references: nil when its records are written, an error
// when the pipeline gave up on them.
func (b *batch) done(err error) {
	for _, g := range b.acks {
		g.release(err)
	}
	b.acks = nil
}
