package host

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// limitedAllocator backs one instance's linear memory and refuses to grow it
// past limit bytes, so memory.grow returns -1 inside the guest. It records
// the refusal so the host can name the cause when the guest then fails.
type limitedAllocator struct {
	limit   uint64
	refused uint64 // the size a refused grow asked for in this operation; 0 if none
	pool    *memoryPool
}

func (a *limitedAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	m := &limitedMemory{a: a, max: min(max, a.limit)}
	if a.pool != nil {
		m.buf = a.pool.take(m.max)
	}
	return m
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
		// shrinks, and a pooled buffer is cleared), so they are still zero.
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

// Free is called when the instance is closed: the memory goes to the
// operator's pool, for its next instance, or to the garbage collector.
func (m *limitedMemory) Free() {
	if m.a.pool != nil {
		m.a.pool.put(m.buf)
	}
	m.buf = nil
}

// memoryPool holds the linear memory of an operator's last closed instance
// so that its replacement reuses it rather than growing a second one while
// the first waits for the garbage collector: retries of a guest that grows
// to its limit keep one limit's worth of memory, not several. Safe for
// concurrent use.
type memoryPool struct {
	mu     sync.Mutex
	buf    []byte // cleared, length 0
	closed bool
}

// put keeps buf, cleared, for the next take.
func (p *memoryPool) put(buf []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || cap(buf) <= cap(p.buf) {
		return
	}
	clear(buf)
	p.buf = buf[:0]
}

// take returns the pooled buffer if it fits within max, or nil.
func (p *memoryPool) take(max uint64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	buf := p.buf
	p.buf = nil
	if uint64(cap(buf)) > max {
		return nil
	}
	return buf
}

// close drops the pooled buffer and keeps no more.
func (p *memoryPool) close() {
	p.mu.Lock()
	p.buf, p.closed = nil, true
	p.mu.Unlock()
}
