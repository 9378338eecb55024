package runtime

import (
	"context"
	"math"
	"sync"
)

// queue is a bounded queue of batches between two stages: at most depth
// batches and, together, at most maxBytes bytes of records. A batch larger
// than maxBytes still passes when the queue is empty, so nothing deadlocks.
// Any number of goroutines may put; one or more may receive from c and must
// call took for each batch received.
type queue struct {
	c   chan *batch
	max int64

	mu    sync.Mutex
	bytes int64         // of the batches put and not yet taken
	freed chan struct{} // closed (and replaced) when bytes are taken
}

func newQueue(depth int, maxBytes int64) *queue {
	if maxBytes <= 0 { // a Spec not from Parse: bounded in batches only
		maxBytes = math.MaxInt64
	}
	return &queue{c: make(chan *batch, depth), max: maxBytes, freed: make(chan struct{})}
}

// put queues b, waiting for room in batches and bytes. It reports false,
// with b still the caller's, when ctx ends first.
func (q *queue) put(ctx context.Context, b *batch) bool {
	n := int64(b.bytes)
	for {
		q.mu.Lock()
		if q.bytes == 0 || q.bytes+n <= q.max {
			q.bytes += n
			q.mu.Unlock()
			break
		}
		freed := q.freed
		q.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
	select {
	case q.c <- b:
		return true
	case <-ctx.Done():
		q.release(n)
		return false
	}
}

// took accounts for b, received from q.c.
func (q *queue) took(b *batch) { q.release(int64(b.bytes)) }

func (q *queue) release(n int64) {
	q.mu.Lock()
	q.bytes -= n
	close(q.freed)
	q.freed = make(chan struct{})
	q.mu.Unlock()
}

// close tells the receivers that nothing more is put.
func (q *queue) close() { close(q.c) }

// drain gives up the batches still queued, with cause.
func (q *queue) drain(cause error) {
	for {
		select {
		case b, ok := <-q.c:
			if !ok {
				return
			}
			q.took(b)
			b.done(cause)
		default:
			return
		}
	}
}
