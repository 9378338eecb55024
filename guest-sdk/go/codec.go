package wasmstream

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/wasmstream/wasmstream/abi"
)

// The SDK's frame codec. It produces and accepts exactly what abi.FrameWriter
// and abi.FrameReader do — FuzzReaderMatchesABI and FuzzWriterMatchesABI
// check it against them — but decodes and encodes the common layouts with
// inlined code. In a Go Wasm guest every non-inlined call is expensive, and
// abi's reader makes about 20 of them per record; this one makes none for a
// canonical record without headers. Rare encodings go to slower helpers or
// to abi itself, and every decoding error is abi's own, found by decoding the
// frame again with abi.DecodeFrame.

// reader decodes the records of one frame without copying: their byte
// slices alias the frame. Not safe for concurrent use.
type reader struct {
	src     []byte
	off     int
	left    int      // records not yet read
	count   int      // records in the frame
	extra   int      // reserved frame elements after the records array
	err     error    // the first decoding error; sticks
	names   []string // header names by position, reused while they repeat
	lastOut string   // the last output name, reused while it repeats

	// The last record read: where its encoding is in src, whether it is
	// what writer would write for it, and a copy of its headers, which the
	// handler may change in the array it shares with the record (see
	// unchanged).
	rawStart, rawEnd int
	canonical        bool
	hdrs             []headerRef
}

// headerRef identifies a decoded header's name and value by address and
// length. It holds no pointers, so recording it costs no write barriers; the
// addresses are only compared, never followed.
type headerRef struct {
	name, value       uintptr
	nameLen, valueLen int
}

func refOf(h *Header) headerRef {
	return headerRef{
		name: uintptr(unsafe.Pointer(unsafe.StringData(h.Name))), nameLen: len(h.Name),
		value: uintptr(unsafe.Pointer(unsafe.SliceData(h.Value))), valueLen: len(h.Value),
	}
}

// maxNames bounds how many header names reader keeps for reuse.
const maxNames = 16

// reset starts decoding frame and checks its header.
func (r *reader) reset(frame []byte) error {
	r.src, r.off, r.left, r.count, r.extra, r.err = frame, 0, 0, 0, 0, nil
	r.rawStart, r.rawEnd, r.canonical = 0, 0, false
	total, off, ok := arrayLen(frame, 0)
	if ok && total >= 1 {
		var count int
		count, off, ok = arrayLen(frame, off)
		if ok && count <= abi.MaxRecords && count*5 <= len(frame)-off {
			r.off, r.left, r.count, r.extra = off, count, count, total-1
			return nil
		}
	}
	return r.fail()
}

// remaining returns how many records are left to read.
func (r *reader) remaining() int { return r.left }

// next decodes the next record into rec, overwriting every field and
// reusing rec.Headers' array. It returns false at the end of the frame or on
// a decoding error, which r.err then holds.
//
// The common encodings are decoded inline, by hand: the helpers are too big
// for the compiler to inline, and a call costs more than the work here.
func (r *reader) next(rec *Record) bool {
	if r.left == 0 || r.err != nil {
		return false
	}
	src, off := r.src, r.off
	// The record as the host nearly always writes it: fixarray 4, key and
	// value nil or bin 8, a positive fixint or a millisecond timestamp, no
	// headers. It is decoded in one pass, straight through when it matches;
	// anything else, truncation included, takes the general path below from
	// the record's start.
	if off+5 <= len(src) && src[off] == 0x94 {
		p := off + 1
		var key, val []byte
		match := true
		if c := src[p]; c == 0xc4 {
			e := p + 2 + int(src[p+1])
			if e+3 > len(src) {
				match = false
			} else {
				key = src[p+2 : e : e]
				p = e
			}
		} else if c == 0xc0 {
			p++
		} else {
			match = false
		}
		if match {
			if c := src[p]; c == 0xc4 {
				e := p + 2 + int(src[p+1])
				if e+2 > len(src) {
					match = false
				} else {
					val = src[p+2 : e : e]
					p = e
				}
			} else if c == 0xc0 && p+3 <= len(src) {
				p++
			} else {
				match = false
			}
		}
		if match {
			var ts int64
			if c := src[p]; c <= 0x7f {
				ts = int64(c)
				p++
			} else if c == 0xcf && p+10 <= len(src) && src[p+1] < 0x80 && src[p+1]|src[p+2]|src[p+3]|src[p+4] != 0 {
				ts = int64(binary.BigEndian.Uint64(src[p+1:]))
				p += 9
			} else {
				match = false
			}
			if match && src[p] == 0xc0 {
				rec.Key, rec.Value, rec.Timestamp = key, val, ts
				rec.Headers = rec.Headers[:0]
				rec.Output = ""
				r.hdrs = r.hdrs[:0]
				r.rawStart, r.rawEnd, r.canonical = off, p+1, true
				r.off = p + 1
				r.left--
				return true
			}
		}
	}
	start := off
	// canonical stays true while every field takes an inline path that
	// only canonical encodings take.
	canonical := true
	var n int
	var ok bool
	if off < len(src) && (src[off] == 0x94 || src[off] == 0x95) {
		n = int(src[off] & 0x0f)
		canonical = n == 4
		off++
	} else if n, off, ok = arrayLen(src, off); !ok || n < 4 {
		return r.failed()
	} else {
		canonical = false
	}
	// Key and value: nil or bin 8 inline.
	if off < len(src) && src[off] == 0xc0 {
		rec.Key = nil
		off++
	} else if off+1 < len(src) && src[off] == 0xc4 && off+2+int(src[off+1]) <= len(src) {
		s := off + 2
		off = s + int(src[off+1])
		rec.Key = src[s:off:off]
	} else if rec.Key, off, ok = readBin(src, off); !ok {
		return r.failed()
	} else {
		canonical = false
	}
	if off < len(src) && src[off] == 0xc0 {
		rec.Value = nil
		off++
	} else if off+1 < len(src) && src[off] == 0xc4 && off+2+int(src[off+1]) <= len(src) {
		s := off + 2
		off = s + int(src[off+1])
		rec.Value = src[s:off:off]
	} else if rec.Value, off, ok = readBin(src, off); !ok {
		return r.failed()
	} else {
		canonical = false
	}
	// Timestamp: a positive fixint, or the uint 64 of a millisecond
	// timestamp, inline.
	if off < len(src) && src[off] <= 0x7f {
		rec.Timestamp = int64(src[off])
		off++
	} else if off+9 <= len(src) && src[off] == 0xcf && src[off+1] < 0x80 {
		rec.Timestamp = int64(binary.BigEndian.Uint64(src[off+1:]))
		canonical = canonical && rec.Timestamp > math.MaxUint32
		off += 9
	} else if rec.Timestamp, off, ok = readInt(src, off); !ok {
		return r.failed()
	} else {
		canonical = false
	}
	if off < len(src) && src[off] == 0xc0 {
		rec.Headers = rec.Headers[:0]
		r.hdrs = r.hdrs[:0]
		off++
	} else {
		var hc bool
		if rec.Headers, off, hc, ok = r.headers(src, off, rec.Headers[:0]); !ok {
			return r.failed()
		}
		canonical = canonical && hc
	}
	rec.Output = ""
	if n >= 5 {
		var out []byte
		if out, off, ok = readBin(src, off); !ok {
			return r.failed()
		}
		if len(out) > 0 {
			if string(out) != r.lastOut {
				r.lastOut = string(out)
			}
			rec.Output = r.lastOut
		}
		for i := 5; i < n; i++ {
			if off, ok = skip(src, off); !ok {
				return r.failed()
			}
		}
	}
	r.rawStart, r.rawEnd, r.canonical = start, off, canonical
	r.off = off
	r.left--
	return true
}

// headers decodes a record's headers into dst and keeps a copy in r.hdrs
// for unchanged. canonical reports whether they are encoded as writer would
// encode them, as far as the inline paths can tell.
func (r *reader) headers(src []byte, off int, dst []Header) (hs []Header, next int, canonical, ok bool) {
	var n int
	if off < len(src) && src[off]&0xf0 == 0x90 {
		n = int(src[off] & 0x0f)
		off++
		canonical = n > 0 // no headers are written as nil, not as an empty array
	} else if n, off, ok = arrayLen(src, off); !ok {
		return dst, off, false, false
	}
	if n%2 != 0 || n > len(src)-off {
		return dst, off, false, false
	}
	if cap(dst) < n/2 {
		dst = make([]Header, 0, n/2)
	}
	r.hdrs = r.hdrs[:0]
	for i := 0; i < n/2; i++ {
		var name, val []byte
		// Name: fixstr inline. Value: nil or bin 8 inline.
		if off < len(src) && src[off]&0xe0 == 0xa0 && off+1+int(src[off]&0x1f) <= len(src) {
			s := off + 1
			off = s + int(src[off]&0x1f)
			name = src[s:off:off]
		} else if name, off, ok = readBin(src, off); !ok {
			return dst, off, false, false
		} else {
			canonical = false
		}
		if off < len(src) && src[off] == 0xc0 {
			off++
		} else if off+1 < len(src) && src[off] == 0xc4 && off+2+int(src[off+1]) <= len(src) {
			s := off + 2
			off = s + int(src[off+1])
			val = src[s:off:off]
		} else if val, off, ok = readBin(src, off); !ok {
			return dst, off, false, false
		} else {
			canonical = false
		}
		dst = append(dst, Header{Name: r.name(i, name), Value: val})
		r.hdrs = append(r.hdrs, refOf(&dst[i]))
	}
	return dst, off, canonical, true
}

// name returns b as a string, reusing the string of the previous record's
// header at the same position when it is equal, so that records with the
// same header names allocate nothing.
func (r *reader) name(i int, b []byte) string {
	if i < len(r.names) {
		if r.names[i] != string(b) {
			r.names[i] = string(b)
		}
		return r.names[i]
	}
	s := string(b)
	if i == len(r.names) && i < maxNames {
		r.names = append(r.names, s)
	}
	return s
}

// close checks the rest of the frame after the last record: the reserved
// elements are skipped and no bytes may follow.
func (r *reader) close() error {
	if r.err != nil {
		return r.err
	}
	if r.left != 0 {
		return fmt.Errorf("wasmstream: internal error: closing a frame with %d records unread", r.left)
	}
	off, ok := r.off, true
	for i := 0; i < r.extra && ok; i++ {
		off, ok = skip(r.src, off)
	}
	if !ok || off != len(r.src) {
		return r.fail()
	}
	return nil
}

// fail records and returns the decoding error for the frame, as
// abi.DecodeFrame words it. The handler may have modified record bytes in
// place, but not the frame's structure, so abi finds the same fault.
func (r *reader) fail() error {
	if _, err := abi.DecodeFrame(r.src, nil); err != nil {
		r.err = err
	} else {
		r.err = fmt.Errorf("wasmstream: internal error: the SDK rejects a frame at byte %d that abi.DecodeFrame accepts", r.off)
	}
	r.left = 0
	return r.err
}

// unchanged reports whether rec is last, the record the reader last decoded
// into, with the same key, value and header value slices — whose contents
// may have changed in place — and nothing else changed, and last was encoded
// canonically. Then last's encoding in the input frame, which holds the
// changed contents, is exactly what writer would write for rec, and raw
// returns it to copy whole. Comparing pointers rather than contents keeps it
// cheap; a false "changed" only costs an encoding.
func (r *reader) unchanged(last, rec *Record) bool {
	if !r.canonical || rec.Timestamp != last.Timestamp || rec.Output != "" ||
		len(rec.Key) != len(last.Key) || unsafe.SliceData(rec.Key) != unsafe.SliceData(last.Key) ||
		len(rec.Value) != len(last.Value) || unsafe.SliceData(rec.Value) != unsafe.SliceData(last.Value) ||
		len(rec.Headers) != len(r.hdrs) {
		return false
	}
	return len(r.hdrs) == 0 || sameHeaders(rec.Headers, r.hdrs)
}

// sameHeaders reports whether hs are the headers refs identify. It compares
// field by field: in a Go Wasm guest, comparing headerRef structs measured
// several times slower (~175 ns against ~30 ns per header, in isolation).
func sameHeaders(hs []Header, refs []headerRef) bool {
	for i := range refs {
		h, ref := &hs[i], &refs[i]
		if uintptr(unsafe.Pointer(unsafe.StringData(h.Name))) != ref.name || len(h.Name) != ref.nameLen ||
			uintptr(unsafe.Pointer(unsafe.SliceData(h.Value))) != ref.value || len(h.Value) != ref.valueLen {
			return false
		}
	}
	return true
}

// raw returns the encoding of the last record read.
func (r *reader) raw() []byte { return r.src[r.rawStart:r.rawEnd] }

func (r *reader) failed() bool {
	r.fail()
	return false
}

// arrayLen reads an array header at src[off:].
func arrayLen(src []byte, off int) (n, next int, ok bool) {
	if off < len(src) {
		switch c := src[off]; {
		case c >= 0x90 && c <= 0x9f:
			return int(c & 0x0f), off + 1, true
		case c == 0xdc && len(src)-off >= 3:
			return int(binary.BigEndian.Uint16(src[off+1:])), off + 3, true
		case c == 0xdd && len(src)-off >= 5:
			return int(binary.BigEndian.Uint32(src[off+1:])), off + 5, true
		}
	}
	return 0, off, false
}

// readBin reads nil, bin or str at src[off:] and returns a slice of src
// capped at its end.
func readBin(src []byte, off int) ([]byte, int, bool) {
	if off >= len(src) {
		return nil, off, false
	}
	var n, hdr int
	switch c := src[off]; {
	case c == 0xc0:
		return nil, off + 1, true
	case c >= 0xa0 && c <= 0xbf:
		n, hdr = int(c&0x1f), 1
	case (c == 0xc4 || c == 0xd9) && len(src)-off >= 2:
		n, hdr = int(src[off+1]), 2
	case (c == 0xc5 || c == 0xda) && len(src)-off >= 3:
		n, hdr = int(binary.BigEndian.Uint16(src[off+1:])), 3
	case (c == 0xc6 || c == 0xdb) && len(src)-off >= 5:
		n, hdr = int(binary.BigEndian.Uint32(src[off+1:])), 5
	default:
		return nil, off, false
	}
	if len(src)-off-hdr < n {
		return nil, off, false
	}
	s := off + hdr
	e := s + n
	return src[s:e:e], e, true
}

// readInt reads an integer at src[off:].
func readInt(src []byte, off int) (int64, int, bool) {
	if off >= len(src) {
		return 0, off, false
	}
	c := src[off]
	var size int
	switch {
	case c <= 0x7f:
		return int64(c), off + 1, true
	case c >= 0xe0:
		return int64(int8(c)), off + 1, true
	case c == 0xcc || c == 0xd0:
		size = 1
	case c == 0xcd || c == 0xd1:
		size = 2
	case c == 0xce || c == 0xd2:
		size = 4
	case c == 0xcf || c == 0xd3:
		size = 8
	default:
		return 0, off, false
	}
	if len(src)-off < 1+size {
		return 0, off, false
	}
	p := src[off+1 : off+1+size]
	next := off + 1 + size
	switch c {
	case 0xcc:
		return int64(p[0]), next, true
	case 0xcd:
		return int64(binary.BigEndian.Uint16(p)), next, true
	case 0xce:
		return int64(binary.BigEndian.Uint32(p)), next, true
	case 0xcf:
		v := binary.BigEndian.Uint64(p)
		return int64(v), next, v <= math.MaxInt64
	case 0xd0:
		return int64(int8(p[0])), next, true
	case 0xd1:
		return int64(int16(binary.BigEndian.Uint16(p))), next, true
	case 0xd2:
		return int64(int32(binary.BigEndian.Uint32(p))), next, true
	}
	return int64(binary.BigEndian.Uint64(p)), next, true // 0xd3
}

// skip passes over one msgpack value of any type, exactly as abi's reader
// does. Only rare frames need it (unknown trailing fields, reserved frame
// elements), so it goes through abi rather than an inlined copy.
func skip(src []byte, off int) (int, bool) {
	next, err := abi.SkipValue(src, off)
	return next, err == nil
}

// writer appends a canonical frame, byte for byte what abi.FrameWriter
// writes. Not safe for concurrent use.
type writer struct {
	buf []byte
	n   int
}

// reset starts a frame at the start of dst's array.
func (w *writer) reset(dst []byte) {
	w.buf = append(dst[:0], 0x91, 0xdd, 0, 0, 0, 0)
	w.n = 0
}

// len returns how many records have been appended since reset.
func (w *writer) len() int { return w.n }

// append encodes r. The frame does not keep r or its slices.
func (w *writer) append(r *Record) {
	// Grow once for the whole record, so the appends below never do.
	need := 1 + 5 + len(r.Key) + 5 + len(r.Value) + 9 + 5 + 5 + len(r.Output)
	for i := range r.Headers {
		need += 5 + len(r.Headers[i].Name) + 5 + len(r.Headers[i].Value)
	}
	b := w.buf
	if cap(b)-len(b) < need {
		b = grow(b, need)
	}
	if r.Output == "" {
		b = append(b, 0x94)
	} else {
		b = append(b, 0x95)
	}
	// Key and value: nil or bin 8 inline; abi.AppendBin is not inlined.
	if v := r.Key; v == nil {
		b = append(b, 0xc0)
	} else if len(v) <= 0xff {
		b = append(b, 0xc4, byte(len(v)))
		b = append(b, v...)
	} else {
		b = abi.AppendBin(b, v)
	}
	if v := r.Value; v == nil {
		b = append(b, 0xc0)
	} else if len(v) <= 0xff {
		b = append(b, 0xc4, byte(len(v)))
		b = append(b, v...)
	} else {
		b = abi.AppendBin(b, v)
	}
	// Timestamp: a millisecond timestamp's uint 64 inline.
	if ts := r.Timestamp; ts > math.MaxUint32 {
		u := uint64(ts)
		b = append(b, 0xcf, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	} else {
		b = abi.AppendInt(b, ts)
	}
	if len(r.Headers) == 0 {
		b = append(b, 0xc0)
	} else {
		b = appendHeaders(b, r.Headers)
	}
	if r.Output != "" {
		b = appendStr(b, r.Output)
	}
	w.buf = b
	w.n++
}

// appendRaw appends one record already encoded canonically.
func (w *writer) appendRaw(raw []byte) {
	w.buf = append(w.buf, raw...)
	w.n++
}

// appendRun appends n records already encoded canonically, one after the
// other in raw.
func (w *writer) appendRun(raw []byte, n int) {
	w.buf = append(w.buf, raw...)
	w.n += n
}

// bytes finishes the frame and returns it.
func (w *writer) bytes() []byte {
	binary.BigEndian.PutUint32(w.buf[2:], uint32(w.n))
	return w.buf
}

// grow returns b with room for at least n more bytes, at least doubling.
func grow(b []byte, n int) []byte {
	nb := make([]byte, len(b), max(2*cap(b), len(b)+n, 4096))
	copy(nb, b)
	return nb
}

func appendStr(b []byte, s string) []byte {
	if len(s) > 31 {
		return abi.AppendStr(b, s)
	}
	b = append(b, 0xa0|byte(len(s)))
	return append(b, s...)
}

func appendHeaders(b []byte, hs []Header) []byte {
	if n := 2 * len(hs); n <= 15 {
		b = append(b, 0x90|byte(n))
	} else if n <= math.MaxUint16 {
		b = append(b, 0xdc, byte(n>>8), byte(n))
	} else {
		b = append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	for i := range hs {
		// appendStr and appendBin inline, for the common sizes.
		if name := hs[i].Name; len(name) <= 31 {
			b = append(b, 0xa0|byte(len(name)))
			b = append(b, name...)
		} else {
			b = abi.AppendStr(b, name)
		}
		if v := hs[i].Value; v == nil {
			b = append(b, 0xc0)
		} else if len(v) <= 0xff {
			b = append(b, 0xc4, byte(len(v)))
			b = append(b, v...)
		} else {
			b = abi.AppendBin(b, v)
		}
	}
	return b
}
