package host

// The WebAssembly binary format as the rewriter reads and writes it: a
// reader whose first error sticks, with strict LEB128 decoding (no
// over-long encodings, no bits past the type's width), and the encoders the
// rewriter appends with.

import "fmt"

// reader reads the binary format; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at offset %d: %s", errInstrument, r.off, fmt.Sprintf(format, args...))
	}
	r.off = len(r.b)
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.off {
		r.fail("%d bytes needed, %d left", n, len(r.b)-r.off)
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

// u32 reads an unsigned LEB128 integer of at most 5 bytes whose unused
// bits are zero.
func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift == 28 && c&0xf0 != 0 {
			break
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 integer too long or out of range")
	return 0
}

// sleb reads a signed LEB128 integer of n bits: at most ceil(n/7) bytes,
// the unused bits of the last one a sign extension.
func (r *reader) sleb(n int) int64 {
	var v int64
	for shift := 0; ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift+7 >= n { // the last byte allowed
			used := n - shift                       // bits of this byte in the value
			mask := byte(0x7f) &^ (1<<(used-1) - 1) // the sign bit and the unused bits
			if m := c & mask; c&0x80 != 0 || m != 0 && m != mask {
				r.fail("LEB128 integer too long or out of range")
				return 0
			}
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v
		}
	}
}

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

// limits reads table or memory limits and returns the minimum.
func (r *reader) limits() uint32 {
	flags := r.byte()
	if flags > 3 {
		r.fail("unknown limits flags 0x%02x", flags)
		return 0
	}
	min := r.u32()
	if flags&0x01 != 0 {
		r.u32()
	}
	return min
}

func (r *reader) valType() {
	switch t := r.byte(); t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	default:
		r.fail("unknown value type 0x%02x", t)
	}
}

func (r *reader) refType() byte {
	t := r.byte()
	if t != 0x70 && t != 0x6f {
		r.fail("unknown reference type 0x%02x", t)
	}
	return t
}

func (r *reader) mutability() bool {
	m := r.byte()
	if m > 1 {
		r.fail("unknown mutability 0x%02x", m)
	}
	return m == 1
}

// memarg reads an alignment and an offset. No access is aligned to more
// than 16 bytes (2^4); a larger exponent, or bit 6, which flags a memory
// index in multi-memory, is refused.
func (r *reader) memarg() {
	if align := r.u32(); align > 4 {
		r.fail("alignment 2^%d", align)
	}
	r.u32() // offset
}

// zero reads the memory index of a memory instruction: 0, the only
// memory, in one byte.
func (r *reader) zero() {
	if c := r.byte(); c != 0 {
		r.fail("memory index byte 0x%02x, want 0x00", c)
	}
}

// label checks a branch's label index against the open blocks.
func label(r *reader, depth int) {
	if l := r.u32(); int64(l) > int64(depth) && r.err == nil {
		r.fail("branch to label %d in %d enclosing blocks", l, depth+1)
	}
}

func (r *reader) prefixFD() {
	switch op := r.u32(); {
	case op <= 11 || op == 92 || op == 93: // v128 loads and stores
		r.memarg()
	case op == 12 || op == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case op >= 21 && op <= 34: // extract_lane, replace_lane
		r.byte()
	case op >= 84 && op <= 91: // load_lane, store_lane
		r.memarg()
		r.byte()
	case op <= 275: // no immediates
	default:
		r.fail("unknown instruction 0xfd %d", op)
	}
}

// skipU32 reads a LEB128 integer and returns the offset after it.
func (r *reader) skipU32() int {
	r.u32()
	return r.off
}

// appendS32 appends a signed LEB128 integer.
func appendS32(b []byte, v int32) []byte { return appendS33(b, int64(v)) }

// appendS33 appends a signed LEB128 integer.
func appendS33(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
