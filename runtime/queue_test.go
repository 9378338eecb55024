package runtime

import (
	"context"
	"testing"
)

func sized(n int) *batch {
	b := &Batch{}
	b.Append(&Record{})
	return &batch{recs: b, bytes: n, pool: newBatchPool(1 << 20)}
}

// TestQueueBoundsBytes guards issue #8 item 3 (queues bounded in bytes as
// well as batches): a queue held queue_depth batches of any size, so an
// operator emitting large output batches could queue gigabytes between two
// stages. A put now waits while the queued bytes would pass the bound, and
// a batch larger than the bound passes alone into an empty queue, so
// nothing deadlocks.
func TestQueueBoundsBytes(t *testing.T) {
	live := t.Context()
	stopped, cancel := context.WithCancel(t.Context())
	cancel()
	q := newQueue(8, 100)

	if !q.put(live, sized(60)) {
		t.Fatal("a batch within the bound was refused")
	}
	if q.put(stopped, sized(60)) {
		t.Fatal("a batch past the byte bound was queued: 120 of 100 bytes")
	}
	if !q.put(live, sized(40)) {
		t.Fatal("a batch that fits exactly was refused")
	}

	// A put waiting for room goes on once a batch is taken.
	put := make(chan bool)
	go func() { put <- q.put(live, sized(50)) }()
	q.took(<-q.c)
	if !<-put {
		t.Fatal("the waiting put failed after room was made")
	}
	q.took(<-q.c)
	q.took(<-q.c)
	if q.bytes != 0 {
		t.Fatalf("%d bytes accounted in an empty queue", q.bytes)
	}

	// Larger than the bound: passes alone, and only alone.
	if !q.put(live, sized(1000)) {
		t.Fatal("a batch larger than the bound was refused by an empty queue")
	}
	if q.put(stopped, sized(1)) {
		t.Fatal("a batch was queued beside one larger than the bound")
	}
	q.drain(nil)
	if q.bytes != 0 {
		t.Fatalf("%d bytes accounted after drain", q.bytes)
	}
}
