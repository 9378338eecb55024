package abi

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Batch is a frame with an index of its records: the form in which the
// engine moves records between stages. Its records are bytes in one buffer,
// laid out as a canonical frame, and an index of offsets into it, so a
// batch of any size holds a handful of pointers, not several per record,
// and building one allocates nothing per record once its buffers have
// grown. A Wasm operator's input is the buffer itself, copied once into
// guest memory; its output frame is copied once out of guest memory and
// indexed in place.
//
// Records are read through View, which fills a Record whose slices alias
// the batch: they stay valid until the batch is Reset. The zero value is an
// empty batch. Not safe for concurrent use.
type Batch struct {
	buf  []byte    // frame header, then the records' bytes
	recs []recSpan // one per record
	hdrs []hdrSpan // the headers of every record, in order
	size int       // sum of Record.Size over the records
	kv   int       // sum of the keys' and values' lengths

	// canonical reports that every record of buf is in canonical form
	// with no output (fixarray(4), smallest widths): buf is then a
	// canonical frame as it is. Records from a guest may be in any valid
	// encoding; Frame re-encodes those.
	nonCanonical bool
	outputs      int // records with an output

	// Header and output names, interned: a record refers to them by index
	// and a View shares the strings, so reading names allocates nothing
	// once a name has been seen. Kept across Reset up to maxNames.
	names   []string
	nameIdx map[string]uint32

	views []Header // header views handed out by View, rebuilt per batch
	alt   []byte   // Frame's re-encoding of a non-canonical batch
}

// recSpan locates one record in Batch.buf. It holds no pointers.
type recSpan struct {
	start, end uint32 // the record's encoded bytes
	key, val   uint32 // payload offsets
	keyLen     int32  // -1: nil
	valLen     int32  // -1: nil
	ts         int64
	hdr, nhdr  uint32 // the record's headers: hdrs[hdr : hdr+nhdr]
	out        uint32 // 0: the default output; else names[out-1]
	nonCanon   bool   // encoded otherwise than Append would
}

// hdrSpan locates one header.
type hdrSpan struct {
	name   uint32 // names index
	val    uint32
	valLen int32 // -1: nil
}

// maxNames bounds the interned names a batch keeps across Reset.
const maxNames = 256

// RecordSpanBytes and HeaderSpanBytes are what a Batch spends on one
// record's and one header's index, besides their bytes.
const (
	RecordSpanBytes = 48
	HeaderSpanBytes = 12
)

// Reset empties the batch, keeping its buffers.
func (b *Batch) Reset() {
	b.buf = append(b.buf[:0], 0x91, 0xdd, 0, 0, 0, 0)
	b.recs, b.hdrs = b.recs[:0], b.hdrs[:0]
	b.size, b.kv = 0, 0
	b.nonCanonical, b.outputs = false, 0
	b.views = b.views[:0]
	if len(b.names) > maxNames {
		b.names, b.nameIdx = nil, nil
	}
}

// Len returns the number of records.
func (b *Batch) Len() int { return len(b.recs) }

// Size returns the sum of Record.Size over the records: the estimate used
// for batching by bytes and for queue bounds.
func (b *Batch) Size() int { return b.size }

// KeyValueBytes returns the summed length of the records' keys and values.
func (b *Batch) KeyValueBytes() int { return b.kv }

// HasOutputs reports whether any record names an output.
func (b *Batch) HasOutputs() bool { return b.outputs > 0 }

// Footprint returns the bytes the batch's buffers hold, used or not.
func (b *Batch) Footprint() int {
	return cap(b.buf) + cap(b.alt) + cap(b.recs)*RecordSpanBytes + cap(b.hdrs)*HeaderSpanBytes + cap(b.views)*40
}

func (b *Batch) ensureHeader() {
	if len(b.buf) == 0 {
		b.buf = append(b.buf, 0x91, 0xdd, 0, 0, 0, 0)
	}
}

// intern returns the index+1 of name among b's names, adding it.
func (b *Batch) intern(name []byte) uint32 {
	for i := len(b.names) - 1; i >= 0 && i >= len(b.names)-4; i-- {
		if b.names[i] == string(name) { // recent names first: no map lookup
			return uint32(i + 1)
		}
	}
	if i, ok := b.nameIdx[string(name)]; ok {
		return i
	}
	return b.add(string(name))
}

func (b *Batch) internString(name string) uint32 {
	for i := len(b.names) - 1; i >= 0 && i >= len(b.names)-4; i-- {
		if b.names[i] == name {
			return uint32(i + 1)
		}
	}
	if i, ok := b.nameIdx[name]; ok {
		return i
	}
	return b.add(name)
}

func (b *Batch) add(name string) uint32 {
	if b.nameIdx == nil {
		b.nameIdx = map[string]uint32{}
	}
	b.names = append(b.names, name)
	i := uint32(len(b.names))
	b.nameIdx[name] = i
	return i
}

// Append encodes r onto the batch in canonical form. The batch keeps none
// of r's slices.
func (b *Batch) Append(r *Record) {
	b.ensureHeader()
	buf := b.buf
	s := recSpan{start: uint32(len(buf)), ts: r.Timestamp, hdr: uint32(len(b.hdrs))}
	if r.Output == "" {
		buf = append(buf, 0x94)
	} else {
		buf = append(buf, 0x95)
	}
	buf, s.key, s.keyLen = appendBinAt(buf, r.Key)
	buf, s.val, s.valLen = appendBinAt(buf, r.Value)
	buf = AppendInt(buf, r.Timestamp)
	if len(r.Headers) == 0 {
		buf = append(buf, 0xc0)
	} else {
		buf = appendArrayHeader(buf, uint32(2*len(r.Headers)))
		for i := range r.Headers {
			h := &r.Headers[i]
			buf = AppendStr(buf, h.Name)
			hs := hdrSpan{name: b.internString(h.Name) - 1}
			buf, hs.val, hs.valLen = appendBinAt(buf, h.Value)
			b.hdrs = append(b.hdrs, hs)
		}
		s.nhdr = uint32(len(r.Headers))
	}
	if r.Output != "" {
		buf = AppendStr(buf, r.Output)
		s.out = b.internString(r.Output)
		b.outputs++
	}
	s.end = uint32(len(buf))
	b.buf = buf
	b.recs = append(b.recs, s)
	b.size += r.Size()
	b.kv += len(r.Key) + len(r.Value)
}

func appendBinAt(b []byte, v []byte) ([]byte, uint32, int32) {
	if v == nil {
		return append(b, 0xc0), 0, -1
	}
	b = AppendBin(b, v)
	return b, uint32(len(b) - len(v)), int32(len(v))
}

// AppendFrom copies record i of src onto b as it is encoded there.
func (b *Batch) AppendFrom(src *Batch, i int) {
	b.ensureHeader()
	s := src.recs[i]
	shift := uint32(len(b.buf)) - s.start
	b.buf = append(b.buf, src.buf[s.start:s.end]...)
	d := s
	d.start, d.end = s.start+shift, s.end+shift
	d.key, d.val = s.key+shift, s.val+shift
	d.hdr = uint32(len(b.hdrs))
	for _, h := range src.hdrs[s.hdr : s.hdr+s.nhdr] {
		h.val += shift
		h.name = b.internString(src.names[h.name]) - 1
		b.hdrs = append(b.hdrs, h)
	}
	if s.out != 0 {
		d.out = b.internString(src.names[s.out-1])
		b.outputs++
	}
	b.recs = append(b.recs, d)
	b.size += src.recordSize(i)
	b.kv += max(int(s.keyLen), 0) + max(int(s.valLen), 0)
	if s.nonCanon {
		b.nonCanonical = true
	}
}

// recordSize is Record.Size of record i.
func (b *Batch) recordSize(i int) int {
	s := &b.recs[i]
	n := 16 + max(int(s.keyLen), 0) + max(int(s.valLen), 0)
	if s.out != 0 {
		n += len(b.names[s.out-1])
	}
	for _, h := range b.hdrs[s.hdr : s.hdr+s.nhdr] {
		n += 10 + len(b.names[h.name]) + max(int(h.valLen), 0)
	}
	return n
}

// View fills r with record i. Its slices and header list alias the batch
// and stay valid until the batch is Reset; r's previous contents are
// overwritten.
func (b *Batch) View(i int, r *Record) {
	s := &b.recs[i]
	r.Key = b.slice(s.key, s.keyLen)
	r.Value = b.slice(s.val, s.valLen)
	r.Timestamp = s.ts
	r.Headers = nil
	if s.nhdr > 0 {
		if len(b.views) != len(b.hdrs) {
			b.buildViews()
		}
		r.Headers = b.views[s.hdr : s.hdr+s.nhdr : s.hdr+s.nhdr]
	}
	r.Output = ""
	if s.out != 0 {
		r.Output = b.names[s.out-1]
	}
}

// Key returns record i's key, aliasing the batch.
func (b *Batch) Key(i int) []byte {
	s := &b.recs[i]
	return b.slice(s.key, s.keyLen)
}

// Output returns the output record i is routed to ("" for the default).
func (b *Batch) Output(i int) string {
	if o := b.recs[i].out; o != 0 {
		return b.names[o-1]
	}
	return ""
}

func (b *Batch) slice(off uint32, n int32) []byte {
	if n < 0 {
		return nil
	}
	end := off + uint32(n)
	return b.buf[off:end:end]
}

func (b *Batch) buildViews() {
	if cap(b.views) < len(b.hdrs) {
		b.views = make([]Header, len(b.hdrs))
	}
	b.views = b.views[:len(b.hdrs)]
	for j, h := range b.hdrs {
		b.views[j] = Header{Name: b.names[h.name], Value: b.slice(h.val, h.valLen)}
	}
}

// AppendViews appends a view of every record to dst (see View).
func (b *Batch) AppendViews(dst []Record) []Record {
	n := len(dst)
	dst = append(dst, make([]Record, len(b.recs))...)
	for i := range b.recs {
		b.View(i, &dst[n+i])
	}
	return dst
}

// Frame returns the batch as a canonical frame: its own buffer when every
// record is canonical and routed to the default output, else a canonical
// re-encoding without the outputs. It stays valid until the next Reset or
// Frame.
func (b *Batch) Frame() []byte {
	b.ensureHeader()
	if !b.nonCanonical && b.outputs == 0 {
		binary.BigEndian.PutUint32(b.buf[2:], uint32(len(b.recs)))
		return b.buf
	}
	var w FrameWriter
	w.Reset(b.alt[:0])
	var r Record
	for i := range b.recs {
		b.View(i, &r)
		w.AppendParts(r.Key, r.Value, r.Timestamp, r.Headers, "")
	}
	b.alt = w.Bytes()
	return b.alt
}

// HeaderLimitError is returned by SetFrame when a frame's headers would
// pass the limit it was given.
type HeaderLimitError struct {
	Record, Records int // 1-based record at which the limit was reached, of how many
}

func (e *HeaderLimitError) Error() string {
	return fmt.Sprintf("header limit reached at record %d of %d", e.Record, e.Records)
}

// SetFrame replaces the batch's records with those of frame, which may be
// any valid encoding (a guest's output), copying the records once and
// indexing them. It validates frame as FrameReader does and returns the
// same *DecodeError for a malformed one, leaving the batch empty; it
// returns a *HeaderLimitError before indexing more than maxHeaders headers
// in all. The batch keeps no reference to frame.
func (b *Batch) SetFrame(frame []byte, maxHeaders int) error {
	b.Reset()
	err := b.index(frame, maxHeaders)
	if err != nil {
		b.Reset()
	}
	return err
}

func (b *Batch) index(frame []byte, maxHeaders int) error {
	r := FrameReader{src: frame}
	total, err := r.arrayHeader()
	if err != nil {
		return err
	}
	if total < 1 {
		return r.fail(0, "frame is an empty array; want [records, ...]")
	}
	count, err := r.arrayHeader()
	if err != nil {
		return err
	}
	if count > MaxRecords {
		return r.fail(1, fmt.Sprintf("frame declares %d records; the limit is %d", count, MaxRecords))
	}
	if uint64(count)*5 > uint64(len(r.src)-r.off) {
		return r.fail(1, fmt.Sprintf("frame declares %d records but has only %d bytes left", count, len(r.src)-r.off))
	}
	// The records are copied after the batch's own canonical 6-byte
	// header (whatever header the frame had); offsets are computed for
	// that position.
	base := r.off
	shift := uint32(6 - base)
	if cap(b.recs) < int(count) {
		b.recs = make([]recSpan, 0, count)
	}
	for j := uint32(0); j < count; j++ {
		start := r.off
		n, err := r.arrayHeader()
		if err != nil {
			return err
		}
		if n < 4 {
			return r.fail(start, fmt.Sprintf("record has %d fields; want at least 4 (key, value, timestamp, headers)", n))
		}
		s := recSpan{start: uint32(start) + shift, hdr: uint32(len(b.hdrs))}
		canon := frame[start] == 0x94 || frame[start] == 0x95
		at := r.off
		key, err := r.bytesOrNil("key")
		if err != nil {
			return err
		}
		s.key, s.keyLen = uint32(r.off-len(key))+shift, spanLen(key)
		canon = canon && canonicalBin(frame[at], key)
		at = r.off
		val, err := r.bytesOrNil("value")
		if err != nil {
			return err
		}
		s.val, s.valLen = uint32(r.off-len(val))+shift, spanLen(val)
		canon = canon && canonicalBin(frame[at], val)
		at = r.off
		if s.ts, err = r.int64("timestamp"); err != nil {
			return err
		}
		canon = canon && (frame[at] <= 0x7f || canonicalInt(frame[at:r.off], s.ts))
		hcanon, err := b.indexHeaders(&r, &s, shift, maxHeaders, int(j), int(count))
		if err != nil {
			return err
		}
		canon = canon && hcanon
		if n >= 5 {
			at = r.off
			out, err := r.bytesOrNil("output")
			if err != nil {
				return err
			}
			canon = canon && n == 5 && len(out) > 0 && canonicalStr(frame[at], len(out))
			if len(out) > 0 {
				s.out = b.intern(out)
				b.outputs++
			}
			for i := uint32(5); i < n; i++ {
				if err := r.skip(0); err != nil {
					return err
				}
			}
		} else {
			canon = canon && frame[start] == 0x94
		}
		s.end = uint32(r.off) + shift
		s.nonCanon = !canon
		if !canon {
			b.nonCanonical = true
		}
		b.recs = append(b.recs, s)
		if s.nhdr == 0 && s.out == 0 {
			b.size += 16 + len(key) + len(val)
		} else {
			b.size += b.recordSize(len(b.recs) - 1)
		}
		b.kv += len(key) + len(val)
	}
	end := r.off
	for i := uint32(1); i < total; i++ {
		if err := r.skip(0); err != nil {
			return err
		}
	}
	if r.off != len(r.src) {
		return r.fail(r.off, fmt.Sprintf("%d trailing bytes after the frame", len(r.src)-r.off))
	}
	b.buf = append(b.buf, frame[base:end]...)
	return nil
}

// canonicalBin reports whether a bin-or-nil field of type byte c holding v
// is in the form Append writes: nil, or the smallest bin.
func canonicalBin(c byte, v []byte) bool {
	switch {
	case v == nil:
		return c == 0xc0
	case len(v) <= math.MaxUint8:
		return c == 0xc4
	case len(v) <= math.MaxUint16:
		return c == 0xc5
	}
	return c == 0xc6
}

// canonicalStr reports whether a str of n bytes with type byte c is the
// smallest str.
func canonicalStr(c byte, n int) bool {
	switch {
	case n <= 31:
		return c == 0xa0|byte(n)
	case n <= math.MaxUint8:
		return c == 0xd9
	case n <= math.MaxUint16:
		return c == 0xda
	}
	return c == 0xdb
}

// canonicalInt reports whether enc is AppendInt's encoding of v.
func canonicalInt(enc []byte, v int64) bool {
	var tmp [9]byte
	return string(AppendInt(tmp[:0], v)) == string(enc)
}

func spanLen(b []byte) int32 {
	if b == nil {
		return -1
	}
	return int32(len(b))
}

// indexHeaders indexes a record's headers and reports whether they are
// encoded canonically.
func (b *Batch) indexHeaders(r *FrameReader, s *recSpan, shift uint32, maxHeaders, j, count int) (bool, error) {
	if err := r.need(1); err != nil {
		return false, err
	}
	if r.src[r.off] == 0xc0 {
		r.off++
		return true, nil
	}
	at := r.off
	n, err := r.arrayHeader()
	if err != nil {
		return false, err
	}
	if n%2 != 0 {
		return false, r.fail(at, fmt.Sprintf("headers: array of %d items; want name/value pairs", n))
	}
	if int(n) > len(r.src)-r.off {
		return false, r.fail(at, fmt.Sprintf("headers: %d items but only %d bytes left", n, len(r.src)-r.off))
	}
	if len(b.hdrs)+int(n/2) > maxHeaders {
		return false, &HeaderLimitError{Record: j + 1, Records: count}
	}
	canon := n > 0 && r.off-at == arrayHeaderLen(n)
	for i := uint32(0); i < n; i += 2 {
		c := r.peek()
		name, err := r.bytesOrNil("header name")
		if err != nil {
			return false, err
		}
		canon = canon && name != nil && canonicalStr(c, len(name))
		c = r.peek()
		val, err := r.bytesOrNil("header value")
		if err != nil {
			return false, err
		}
		canon = canon && canonicalBin(c, val)
		b.hdrs = append(b.hdrs, hdrSpan{name: b.intern(name) - 1, val: uint32(r.off-len(val)) + shift, valLen: spanLen(val)})
	}
	s.nhdr = n / 2
	return canon, nil
}

func arrayHeaderLen(n uint32) int {
	switch {
	case n <= 15:
		return 1
	case n <= math.MaxUint16:
		return 3
	}
	return 5
}

// peek returns the next byte, or 0 at the end (the read that follows
// reports it).
func (r *FrameReader) peek() byte {
	if r.off < len(r.src) {
		return r.src[r.off]
	}
	return 0
}
