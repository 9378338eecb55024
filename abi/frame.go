package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Frame layout (SPEC.md, "Frames"). A frame is a msgpack array whose first
// element is the array of records; later elements are reserved for additive
// revisions of version 1 and are skipped by readers.
//
// Canonical encoding, which every writer (host and guest SDKs) produces so
// that frames compare byte for byte:
//
//	frame   = 0x91 records                  ; fixarray(1)
//	records = 0xdd u32be(count) record*     ; array32, patched after writing
//	record  = 0x94 key value ts headers     ; fixarray(4), or
//	        | 0x95 key value ts headers out ; fixarray(5) when Output != ""
//	key, value = nil | smallest bin
//	ts      = smallest int
//	headers = nil | smallest array of 2n items: name (smallest str), value (nil | smallest bin)
//	out     = smallest str
//
// Readers accept any valid msgpack encoding of the same types (any width, str
// where bin is expected and the reverse).

const (
	frameHeaderLen = 6 // 0x91, 0xdd, u32 count

	// MaxRecords is the most records one frame may carry.
	MaxRecords = 1 << 24
	// maxDepth bounds nesting while skipping unknown values.
	maxDepth = 32
)

// ErrMalformed is wrapped by every error a FrameReader returns for bytes that
// are not a valid frame.
var ErrMalformed = errors.New("malformed frame")

// DecodeError reports where and why a frame failed to decode.
type DecodeError struct {
	Offset int    // byte offset into the frame
	Reason string // what was wrong
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("malformed frame at byte %d: %s", e.Offset, e.Reason)
}

// Unwrap lets errors.Is(err, ErrMalformed) match.
func (e *DecodeError) Unwrap() error { return ErrMalformed }

// FrameWriter appends a canonical frame to a byte slice. The zero value is
// not ready: call Reset first. Not safe for concurrent use.
type FrameWriter struct {
	buf   []byte
	start int
	n     uint32
}

// Reset starts a new frame appended to dst (which may be nil or a buffer to
// reuse, truncated to zero length by the caller).
func (w *FrameWriter) Reset(dst []byte) {
	w.start = len(dst)
	w.n = 0
	w.buf = append(dst, 0x91, 0xdd, 0, 0, 0, 0)
}

// Len returns how many records have been appended since Reset.
func (w *FrameWriter) Len() int { return int(w.n) }

// Append encodes r onto the frame. The frame does not keep r or its slices.
func (w *FrameWriter) Append(r *Record) {
	w.AppendParts(r.Key, r.Value, r.Timestamp, r.Headers, r.Output)
}

// AppendParts encodes one record given its parts.
func (w *FrameWriter) AppendParts(key, value []byte, ts int64, headers []Header, output string) {
	b := w.buf
	if output == "" {
		b = append(b, 0x94)
	} else {
		b = append(b, 0x95)
	}
	b = appendBinOrNil(b, key)
	b = appendBinOrNil(b, value)
	b = AppendInt(b, ts)
	if len(headers) == 0 {
		b = append(b, 0xc0)
	} else {
		b = appendArrayHeader(b, uint32(2*len(headers)))
		for i := range headers {
			b = AppendStr(b, headers[i].Name)
			b = appendBinOrNil(b, headers[i].Value)
		}
	}
	if output != "" {
		b = AppendStr(b, output)
	}
	w.buf = b
	w.n++
}

// Bytes finishes the frame and returns the whole buffer passed to Reset with
// the frame appended. Appending after Bytes continues the same frame.
func (w *FrameWriter) Bytes() []byte {
	binary.BigEndian.PutUint32(w.buf[w.start+2:], w.n)
	return w.buf
}

// AppendFrame appends the canonical frame holding recs to dst.
func AppendFrame(dst []byte, recs []Record) []byte {
	var w FrameWriter
	w.Reset(dst)
	for i := range recs {
		w.Append(&recs[i])
	}
	return w.Bytes()
}

// FrameReader decodes a frame without copying: the byte slices of decoded
// records alias the frame. The zero value is an empty reader; call Reset. Not
// safe for concurrent use.
type FrameReader struct {
	src     []byte
	off     int
	left    uint32 // records not yet read
	lastOut string // interned output name
}

// Reset starts reading frame and validates its header. It returns a
// *DecodeError (wrapping ErrMalformed) if frame does not start like a frame.
func (r *FrameReader) Reset(frame []byte) error {
	r.src, r.off, r.left = frame, 0, 0
	n, err := r.arrayHeader()
	if err != nil {
		return err
	}
	if n < 1 {
		return r.fail(0, "frame is an empty array; want [records, ...]")
	}
	count, err := r.arrayHeader()
	if err != nil {
		return err
	}
	if count > MaxRecords {
		return r.fail(1, fmt.Sprintf("frame declares %d records; the limit is %d", count, MaxRecords))
	}
	// Every record takes at least 5 bytes; a count the frame cannot hold is
	// rejected now rather than after reading to the end.
	if uint64(count)*5 > uint64(len(r.src)-r.off) {
		return r.fail(1, fmt.Sprintf("frame declares %d records but has only %d bytes left", count, len(r.src)-r.off))
	}
	r.left = count
	return nil
}

// Remaining returns how many records are left to read.
func (r *FrameReader) Remaining() int { return int(r.left) }

// Next decodes the next record into rec, overwriting all its fields. It
// returns io.EOF after the last record, or a *DecodeError.
func (r *FrameReader) Next(rec *Record) error {
	if r.left == 0 {
		return io.EOF
	}
	start := r.off
	n, err := r.arrayHeader()
	if err != nil {
		return err
	}
	if n < 4 {
		return r.fail(start, fmt.Sprintf("record has %d fields; want at least 4 (key, value, timestamp, headers)", n))
	}
	if rec.Key, err = r.bytesOrNil("key"); err != nil {
		return err
	}
	if rec.Value, err = r.bytesOrNil("value"); err != nil {
		return err
	}
	if rec.Timestamp, err = r.int64("timestamp"); err != nil {
		return err
	}
	if rec.Headers, err = r.headers(rec.Headers[:0]); err != nil {
		return err
	}
	rec.Output = ""
	if n >= 5 {
		out, err := r.bytesOrNil("output")
		if err != nil {
			return err
		}
		if len(out) > 0 {
			if string(out) != r.lastOut {
				r.lastOut = string(out)
			}
			rec.Output = r.lastOut
		}
		for i := uint32(5); i < n; i++ {
			if err := r.skip(0); err != nil {
				return err
			}
		}
	}
	r.left--
	return nil
}

// Close checks that the rest of the frame is well formed (reserved trailing
// elements are skipped) and that no bytes follow it. Call it after the last
// Next returned io.EOF.
func (r *FrameReader) Close() error {
	if r.left != 0 {
		return r.fail(r.off, fmt.Sprintf("%d records left unread", r.left))
	}
	// The frame header was read in Reset; re-read its count to skip the
	// reserved elements after the records array.
	var hdr FrameReader
	hdr.src = r.src
	total, err := hdr.arrayHeader()
	if err != nil {
		return err
	}
	for i := uint32(1); i < total; i++ {
		if err := r.skip(0); err != nil {
			return err
		}
	}
	if r.off != len(r.src) {
		return r.fail(r.off, fmt.Sprintf("%d trailing bytes after the frame", len(r.src)-r.off))
	}
	return nil
}

// DecodeFrame decodes a whole frame, appending its records to dst. The
// records alias frame.
func DecodeFrame(frame []byte, dst []Record) ([]Record, error) {
	var r FrameReader
	if err := r.Reset(frame); err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, int(r.left)) // bounded by the frame's size (Reset)
	for r.left > 0 {
		dst = append(dst, Record{})
		if err := r.Next(&dst[len(dst)-1]); err != nil {
			return dst[:len(dst)-1], err
		}
	}
	return dst, r.Close()
}

func (r *FrameReader) fail(off int, reason string) error {
	return &DecodeError{Offset: off, Reason: reason}
}

func (r *FrameReader) need(n int) error {
	if len(r.src)-r.off < n {
		return r.fail(r.off, fmt.Sprintf("need %d bytes, %d left", n, len(r.src)-r.off))
	}
	return nil
}

func (r *FrameReader) arrayHeader() (uint32, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	c := r.src[r.off]
	switch {
	case c >= 0x90 && c <= 0x9f:
		r.off++
		return uint32(c & 0x0f), nil
	case c == 0xdc:
		if err := r.need(3); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint16(r.src[r.off+1:])
		r.off += 3
		return uint32(n), nil
	case c == 0xdd:
		if err := r.need(5); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(r.src[r.off+1:])
		r.off += 5
		return n, nil
	}
	return 0, r.fail(r.off, fmt.Sprintf("want an array, found %s", typeName(c)))
}

// bytesOrNil reads nil, bin or str and returns a slice aliasing the frame.
func (r *FrameReader) bytesOrNil(field string) ([]byte, error) {
	if err := r.need(1); err != nil {
		return nil, err
	}
	c := r.src[r.off]
	var n, hdr int
	switch {
	case c == 0xc0:
		r.off++
		return nil, nil
	case c >= 0xa0 && c <= 0xbf:
		n, hdr = int(c&0x1f), 1
	case c == 0xc4 || c == 0xd9:
		if err := r.need(2); err != nil {
			return nil, err
		}
		n, hdr = int(r.src[r.off+1]), 2
	case c == 0xc5 || c == 0xda:
		if err := r.need(3); err != nil {
			return nil, err
		}
		n, hdr = int(binary.BigEndian.Uint16(r.src[r.off+1:])), 3
	case c == 0xc6 || c == 0xdb:
		if err := r.need(5); err != nil {
			return nil, err
		}
		n, hdr = int(binary.BigEndian.Uint32(r.src[r.off+1:])), 5
	default:
		return nil, r.fail(r.off, fmt.Sprintf("%s: want bin, str or nil, found %s", field, typeName(c)))
	}
	if len(r.src)-r.off-hdr < n {
		return nil, r.fail(r.off, fmt.Sprintf("%s: %d-byte value runs past the end of the frame", field, n))
	}
	start := r.off + hdr
	r.off = start + n
	return r.src[start:r.off:r.off], nil
}

func (r *FrameReader) int64(field string) (int64, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	c := r.src[r.off]
	size := 0
	switch {
	case c <= 0x7f:
		r.off++
		return int64(c), nil
	case c >= 0xe0:
		r.off++
		return int64(int8(c)), nil
	case c == 0xcc || c == 0xd0:
		size = 1
	case c == 0xcd || c == 0xd1:
		size = 2
	case c == 0xce || c == 0xd2:
		size = 4
	case c == 0xcf || c == 0xd3:
		size = 8
	default:
		return 0, r.fail(r.off, fmt.Sprintf("%s: want an integer, found %s", field, typeName(c)))
	}
	if err := r.need(1 + size); err != nil {
		return 0, err
	}
	p := r.src[r.off+1:]
	r.off += 1 + size
	switch c {
	case 0xcc:
		return int64(p[0]), nil
	case 0xcd:
		return int64(binary.BigEndian.Uint16(p)), nil
	case 0xce:
		return int64(binary.BigEndian.Uint32(p)), nil
	case 0xcf:
		v := binary.BigEndian.Uint64(p)
		if v > math.MaxInt64 {
			return 0, r.fail(r.off-9, fmt.Sprintf("%s: %d overflows int64", field, v))
		}
		return int64(v), nil
	case 0xd0:
		return int64(int8(p[0])), nil
	case 0xd1:
		return int64(int16(binary.BigEndian.Uint16(p))), nil
	case 0xd2:
		return int64(int32(binary.BigEndian.Uint32(p))), nil
	default: // 0xd3
		return int64(binary.BigEndian.Uint64(p)), nil
	}
}

func (r *FrameReader) headers(dst []Header) ([]Header, error) {
	if err := r.need(1); err != nil {
		return nil, err
	}
	if r.src[r.off] == 0xc0 {
		r.off++
		return nil, nil
	}
	at := r.off
	n, err := r.arrayHeader()
	if err != nil {
		return nil, err
	}
	if n%2 != 0 {
		return nil, r.fail(at, fmt.Sprintf("headers: array of %d items; want name/value pairs", n))
	}
	if int(n) > len(r.src)-r.off {
		return nil, r.fail(at, fmt.Sprintf("headers: %d items but only %d bytes left", n, len(r.src)-r.off))
	}
	if cap(dst) < int(n/2) {
		dst = make([]Header, 0, n/2)
	}
	for i := uint32(0); i < n; i += 2 {
		name, err := r.bytesOrNil("header name")
		if err != nil {
			return nil, err
		}
		val, err := r.bytesOrNil("header value")
		if err != nil {
			return nil, err
		}
		dst = append(dst, Header{Name: string(name), Value: val})
	}
	return dst, nil
}

// SkipValue returns the offset just past the msgpack value that starts at
// src[off], or a *DecodeError if none is there. Readers use it to pass over
// fields and frame elements they do not know.
func SkipValue(src []byte, off int) (int, error) {
	r := FrameReader{src: src, off: off}
	if err := r.skip(0); err != nil {
		return off, err
	}
	return r.off, nil
}

// skip passes over one msgpack value of any type.
func (r *FrameReader) skip(depth int) error {
	if depth > maxDepth {
		return r.fail(r.off, "values nested too deeply")
	}
	if err := r.need(1); err != nil {
		return err
	}
	c := r.src[r.off]
	var size, items int // payload bytes to jump, child values to skip
	hdr := 1
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
	case c >= 0xa0 && c <= 0xbf:
		size = int(c & 0x1f)
	case c >= 0x90 && c <= 0x9f:
		items = int(c & 0x0f)
	case c >= 0x80 && c <= 0x8f:
		items = 2 * int(c&0x0f)
	case c == 0xcc || c == 0xd0:
		size = 1
	case c == 0xcd || c == 0xd1:
		size = 2
	case c == 0xce || c == 0xd2 || c == 0xca:
		size = 4
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		size = 8
	case c == 0xd4:
		size = 2
	case c == 0xd5:
		size = 3
	case c == 0xd6:
		size = 5
	case c == 0xd7:
		size = 9
	case c == 0xd8:
		size = 17
	case c == 0xc4 || c == 0xd9 || c == 0xc7:
		if err := r.need(2); err != nil {
			return err
		}
		size, hdr = int(r.src[r.off+1]), 2
		if c == 0xc7 {
			size++
		}
	case c == 0xc5 || c == 0xda || c == 0xc8 || c == 0xdc || c == 0xde:
		if err := r.need(3); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(r.src[r.off+1:]))
		hdr = 3
		switch c {
		case 0xdc:
			items = n
		case 0xde:
			items = 2 * n
		case 0xc8:
			size = n + 1
		default:
			size = n
		}
	case c == 0xc6 || c == 0xdb || c == 0xc9 || c == 0xdd || c == 0xdf:
		if err := r.need(5); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(r.src[r.off+1:]))
		hdr = 5
		switch c {
		case 0xdd:
			items = n
		case 0xdf:
			items = 2 * n
		case 0xc9:
			size = n + 1
		default:
			size = n
		}
	default: // 0xc1 is never used
		return r.fail(r.off, fmt.Sprintf("invalid msgpack type byte 0x%02x", c))
	}
	if len(r.src)-r.off-hdr < size {
		return r.fail(r.off, "value runs past the end of the frame")
	}
	if items > len(r.src)-r.off-hdr {
		return r.fail(r.off, fmt.Sprintf("container of %d items but only %d bytes left", items, len(r.src)-r.off-hdr))
	}
	r.off += hdr + size
	for i := 0; i < items; i++ {
		if err := r.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

func typeName(c byte) string {
	switch {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return "an integer"
	case c >= 0x80 && c <= 0x8f, c == 0xde, c == 0xdf:
		return "a map"
	case c >= 0x90 && c <= 0x9f, c == 0xdc, c == 0xdd:
		return "an array"
	case c >= 0xa0 && c <= 0xbf, c >= 0xd9 && c <= 0xdb:
		return "a string"
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "a boolean"
	case c >= 0xc4 && c <= 0xc6:
		return "bin"
	case c == 0xca || c == 0xcb:
		return "a float"
	case c == 0xc1:
		return "the unused byte 0xc1"
	}
	return "an extension"
}

// AppendInt appends the smallest msgpack encoding of v.
func AppendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 0x7f:
		return append(b, byte(v))
	case v >= -32 && v < 0:
		return append(b, byte(v))
	case v >= 0:
		switch {
		case v <= math.MaxUint8:
			return append(b, 0xcc, byte(v))
		case v <= math.MaxUint16:
			return append(b, 0xcd, byte(v>>8), byte(v))
		case v <= math.MaxUint32:
			return append(b, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return append(b, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return append(b, 0xd2, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

// AppendStr appends the smallest msgpack str encoding of s.
func AppendStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n <= 31:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}

// AppendBin appends the smallest msgpack bin encoding of v.
func AppendBin(b []byte, v []byte) []byte {
	n := len(v)
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xc5, byte(n>>8), byte(n))
	default:
		b = append(b, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, v...)
}

func appendBinOrNil(b []byte, v []byte) []byte {
	if v == nil {
		return append(b, 0xc0)
	}
	return AppendBin(b, v)
}

func appendArrayHeader(b []byte, n uint32) []byte {
	switch {
	case n <= 15:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(b, 0xdc, byte(n>>8), byte(n))
	}
	return append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
