package host

import (
	"github.com/tetratelabs/wazero/experimental"
)

// limitedAllocator backs one instance's linear memory and refuses to grow it
// past limit bytes, so memory.grow returns -1 inside the guest. It records
// the refusal so the host can name the cause when the guest then fails.
type limitedAllocator struct {
	limit   uint64
	refused uint64 // the size a refused grow asked for; 0 if none
}

func (a *limitedAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	return &limitedMemory{a: a, max: min(max, a.limit)}
}

type limitedMemory struct {
	a   *limitedAllocator
	max uint64
	buf []byte
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		m.a.refused = size
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		// Bytes past the old length were never handed out (memory never
		// shrinks), so they are still zero.
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow geometrically to keep repeated memory.grow calls cheap, within
	// the limit.
	newCap := max(size, min(2*uint64(cap(m.buf)), m.max))
	nb := make([]byte, size, newCap)
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

func (m *limitedMemory) Free() { m.buf = nil }
