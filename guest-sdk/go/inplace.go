package wasmstream

import (
	"math/bits"
	"unsafe"
)

// mapInPlace runs the MapInPlace handler over the batch's records: the loop
// of process for that handler. It returns ok true with the output frame when
// the input frame itself is the output (see finishRun), or an error from the
// handler; otherwise, with ok false and no error, the records are in the
// output writer and process finishes the frame, reporting any decoding
// error the reader holds.
//
// The record the host nearly always writes — reader.next's fast path:
// fixarray 4, key and value nil or bin 8, a positive fixint or a
// millisecond timestamp, no headers — is decoded here, inline, straight
// into o.rec, with the frame, the offset and the records left in locals for
// the whole loop; anything else goes through reader.next. After fn returns,
// the record is compared with what was decoded, as Map compares the record
// its handler returns; unchanged records join the run that is copied whole.
//
// The decoding is written for Go's Wasm port, where the cost is in basic
// blocks rather than in instructions: each block ends in a jump through the
// function's dispatch table, at which the engine reconciles every local the
// function has. Every bounds check, short-circuit condition and branch is a
// block, so the fast path has none of them: it computes each field's
// position as if it were one of the expected encodings, reads bytes through
// unsafe at positions clamped to the frame, without a branch, and
// collects in bad every way the record is not of that shape, the frame's
// end included. Only then, if bad is 0, does it use what it read.
func (o *operator) mapInPlace() (out []byte, ok bool, err error) {
	rd, rec := &o.batch.r, &o.rec
	src, off, left := rd.src, rd.off, rd.left
	// The record starts with nothing of fn's, whatever an earlier call's
	// handler left in it: setBytes requires it, and the SDK decodes headers
	// only into its own array.
	rec.Key, rec.Value, rec.Headers, rec.Output = nil, nil, o.hdrs[:0], ""
	run, runN := off, 0
	// The timestamp's 8 bytes are read at last-7 at the latest. A frame
	// shorter than 8 bytes, one tiny record, is read for the fast path in
	// shortFrame instead, and takes reader.next.
	base, last := unsafe.Pointer(unsafe.SliceData(src)), len(src)-1
	var short uint
	if len(src) < 8 {
		base, last, short = unsafe.Pointer(&shortFrame), len(shortFrame)-1, 1
	}
	for left > 0 {
		start := off
		p := off + 1
		kc := byteAt(base, p, last)
		kbit := int((kc-0xc0)>>2) & 1 // bin 8 (1) or nil (0), if either
		kl := int(byteAt(base, p+1, last)) & -kbit
		ks := p + 1 + kbit // the key's first byte
		q := ks + kl       // the value's
		vc := byteAt(base, q, last)
		vbit := int((vc-0xc0)>>2) & 1
		vl := int(byteAt(base, q+1, last)) & -vbit
		vs := q + 1 + vbit
		t := vs + vl // the timestamp's
		tc := byteAt(base, t, last)
		u := bits.ReverseBytes64(*(*uint64)(unsafe.Add(base, clamp(t+1, last-7))))
		long := uint(tc >> 7) // 1 unless a positive fixint
		e := t + 1 + 8*int(long)
		bad := short | byteAt(base, off, last) ^ 0x94 | (kc-0xc0)&^4 | (vc-0xc0)&^4 |
			// A uint 64 must hold a millisecond timestamp: past uint 32,
			// within int 64.
			long*(tc^0xcf|uint(u>>63)|uint((u>>32-1)>>63)) |
			byteAt(base, e, last) ^ 0xc0 | uint(last-e)>>63 // nil headers, inside the frame
		// What the record holds if it is of that shape; if not, nil slices,
		// which reader.next then overwrites. Stored either way: a branch
		// around the stores would be a block more on the common path.
		z := 0
		if bad == 0 {
			z = 1
		}
		kp, vp := unsafe.Add(base, clamp(ks, last)), unsafe.Add(base, clamp(vs, last))
		if kbit&z == 0 {
			kp = nil
		}
		if vbit&z == 0 {
			vp = nil
		}
		kl &= -z
		vl &= -z
		ts := int64(tc)*int64(1-long) + int64(u)*int64(long)
		setBytes(&rec.Key, kp, kl)
		setBytes(&rec.Value, vp, vl)
		rec.Timestamp = ts
		rec.Headers = rec.Headers[:0] // writes only the length
		off = e + 1
		left--
		nh := 0 // headers decoded
		if bad != 0 {
			// reader.next decodes headers into rec.Headers' array: make it
			// the SDK's again if fn replaced it, so that the SDK never
			// writes into a slice of fn's.
			if unsafe.SliceData(rec.Headers) != unsafe.SliceData(o.hdrs) {
				rec.Headers = o.hdrs[:0]
			}
			rd.off, rd.left = start, left+1
			if !rd.next(rec) {
				// rd.err holds the decoding error, which process reports;
				// rd.off is where the record starts.
				out, ok = o.finishRun(run, runN)
				return out, ok, nil
			}
			if cap(rec.Headers) > cap(o.hdrs) { // next grew the array
				o.hdrs = rec.Headers[:0]
			}
			off, left = rd.off, rd.left
			kp, kl = unsafe.Pointer(unsafe.SliceData(rec.Key)), len(rec.Key)
			vp, vl = unsafe.Pointer(unsafe.SliceData(rec.Value)), len(rec.Value)
			ts, nh = rec.Timestamp, len(rd.hdrs)
			bad = 0
			if !rd.canonical {
				bad = 1
			}
		}
		if err := o.mapInPlaceFn(rec); err != nil {
			return nil, false, err
		}
		// Unchanged, as reader.unchanged has it, in one condition.
		d := bad | uint(rec.Timestamp^ts) | uint(len(rec.Output)) | uint(len(rec.Headers)^nh) |
			uint(len(rec.Key)^kl) | uint(uintptr(unsafe.Pointer(unsafe.SliceData(rec.Key)))^uintptr(kp)) |
			uint(len(rec.Value)^vl) | uint(uintptr(unsafe.Pointer(unsafe.SliceData(rec.Value)))^uintptr(vp))
		if d|uint(nh) == 0 {
			runN++
			continue
		}
		if d == 0 && sameHeaders(rec.Headers, rd.hdrs) {
			runN++
			continue
		}
		w := &o.emit.w
		w.appendRun(src[run:start], runN)
		w.append(rec)
		run, runN = off, 0
		// Only a changed record can hold slices of fn's or an Output:
		// clear them for the next record, which setBytes requires.
		rec.Key, rec.Value, rec.Output = nil, nil, ""
	}
	rd.off, rd.left = off, 0
	out, ok = o.finishRun(run, runN)
	return out, ok, nil
}

// shortFrame stands in for a frame too short for mapInPlace's reads.
var shortFrame [8]byte

// byteAt returns the byte at base+min(i, last), without a bounds check.
func byteAt(base unsafe.Pointer, i, last int) uint {
	return uint(*(*byte)(unsafe.Add(base, clamp(i, last))))
}

// clamp returns min(i, last) without a branch: the builtin min is one in
// Go's Wasm port.
func clamp(i, last int) int {
	d := last - i
	return i + d&(d>>63)
}

// setBytes sets *dst to the n bytes at p, storing the slice's pointer
// without a write barrier: in a Go Wasm guest the barrier's check is a
// block of its own, and with the spills around it the common path's
// costliest (~45 ns a record). Leaving the barrier out is sound here
// because neither pointer needs shading: p is nil or points into the input
// frame, and so does the pointer it overwrites — mapInPlace clears the
// record, with barriers, wherever fn may have left a slice of its own in
// it — and the frame is reachable from the caller's stack, and in a Wasm
// module from the input buffer too, for the whole call, so the collector
// marks it in any cycle that overlaps the call. A pointer-sized store is
// atomic, so a concurrent collector (natively) sees the old pointer or the
// new one, never a torn value.
func setBytes(dst *[]byte, p unsafe.Pointer, n int) {
	h := (*rawSlice)(unsafe.Pointer(dst))
	h.data, h.len, h.cap = uintptr(p), n, n
}

// rawSlice is a []byte's representation with its pointer as a uintptr,
// which setBytes stores without a write barrier.
type rawSlice struct {
	data     uintptr
	len, cap int
}
