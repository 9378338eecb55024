package runtime

import (
	"bytes"
	"testing"
)

// TestBatchPoolIsBounded guards issue #10's bound on recycled buffers: the
// pool keeps at most its byte and count limits of batches, never a batch
// grown past maxKeep, and hands back emptied batches.
func TestBatchPoolIsBounded(t *testing.T) {
	p := newBatchPool(1 << 20) // maxKeep 256 KiB
	fill := func(values, size int) *Batch {
		b := p.get()
		for range values {
			b.Append(&Record{Value: bytes.Repeat([]byte("x"), size)})
		}
		return b
	}
	huge := fill(1, 300<<10)
	p.put(huge)
	if len(p.free) != 0 {
		t.Fatalf("a batch of %d bytes was kept; maxKeep is %d", huge.Footprint(), p.maxKeep)
	}
	var held []*Batch
	for range 40 {
		held = append(held, fill(100, 1000)) // about 128 KiB each
	}
	for _, b := range held {
		p.put(b)
	}
	if p.bytes > p.maxBytes || len(p.free) > p.maxCount || len(p.free) == 0 {
		t.Fatalf("pool holds %d batches, %d bytes; limits %d batches, %d bytes", len(p.free), p.bytes, p.maxCount, p.maxBytes)
	}
	sum := 0
	for _, b := range p.free {
		sum += b.Footprint()
	}
	if sum != p.bytes {
		t.Fatalf("pool counts %d bytes, holds %d", p.bytes, sum)
	}
	b := p.get()
	if b.Len() != 0 || b.Size() != 0 || len(b.Frame()) != 6 {
		t.Fatalf("a recycled batch was not empty: %d records", b.Len())
	}
}
