package abi

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Batch is a frame with an index of its records: the form in which the
// engine moves records between stages. Its records are bytes in one buffer,
// laid out as a canonical frame, and an index of offsets into it, so a
// batch of any size holds a handful of pointers, not several per record,
// and building one allocates nothing per record once its buffers have
// grown. A Wasm operator's input is the buffer itself, copied once into
// guest memory; its output frame is copied once out of guest memory.
//
// The index is built when first needed (View, Key, Output, AppendFrom):
// a batch that only passes from a source to a Wasm operator, or from one
// Wasm operator to the next, is never indexed.
//
// Records are read through View, which fills a Record whose slices alias
// the batch: they stay valid until the batch is Reset. The zero value is an
// empty batch. Not safe for concurrent use.
type Batch struct {
	buf    []byte    // frame header, then the records' bytes
	n      int       // records in buf
	recs   []recSpan // the index of the first len(recs) records
	idxEnd int       // where in buf the records not yet indexed start
	hdrs   []hdrSpan // the headers of the indexed records, in order
	size   int       // sum of Record.Size over the records
	kv     int       // sum of the keys' and values' lengths

	// nonCanonical reports that some record is encoded otherwise than
	// Append would (a guest's output may use any valid encoding); Frame
	// re-encodes those.
	nonCanonical bool
	outputs      int // records with an output

	// Header and output names, interned: a record refers to them by index
	// and a View shares the strings, so reading names allocates nothing
	// once a name has been seen. Kept across Reset up to maxNames.
	names   []string
	nameIdx map[string]uint32

	views []Header // header views handed out by View, rebuilt per batch
	alt   []byte   // Frame's re-encoding of a non-canonical batch

	// layout holds, for every record, where its value's bytes start and
	// end in buf, when noLayout is false: a guest's output that differs
	// from buf only inside values has the same structure (SetFrameLike).
	layout   []uint32
	noLayout bool
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
	b.n, b.idxEnd = 0, frameHeaderLen
	b.recs, b.hdrs = b.recs[:0], b.hdrs[:0]
	b.size, b.kv = 0, 0
	b.nonCanonical, b.outputs = false, 0
	b.views = b.views[:0]
	b.layout, b.noLayout = b.layout[:0], false
	if len(b.names) > maxNames {
		b.names, b.nameIdx = nil, nil
	}
}

// Len returns the number of records.
func (b *Batch) Len() int { return b.n }

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
		b.idxEnd = frameHeaderLen
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
	if r.Output == "" {
		buf = append(buf, 0x94)
	} else {
		buf = append(buf, 0x95)
		b.outputs++
	}
	buf = appendBinOrNil(buf, r.Key)
	buf = appendBinOrNil(buf, r.Value)
	b.layout = append(b.layout, uint32(len(buf)-len(r.Value)), uint32(len(buf)))
	buf = AppendInt(buf, r.Timestamp)
	size := 16 + len(r.Key) + len(r.Value) + len(r.Output)
	if len(r.Headers) == 0 {
		buf = append(buf, 0xc0)
	} else {
		buf = appendArrayHeader(buf, uint32(2*len(r.Headers)))
		for i := range r.Headers {
			h := &r.Headers[i]
			buf = AppendStr(buf, h.Name)
			buf = appendBinOrNil(buf, h.Value)
			size += 10 + len(h.Name) + len(h.Value)
		}
	}
	if r.Output != "" {
		buf = AppendStr(buf, r.Output)
	}
	b.buf = buf
	b.n++
	b.size += size
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
	src.ensureIndex()
	b.ensureHeader()
	s := &src.recs[i]
	if s.valLen < 0 {
		b.noLayout = true
	} else {
		at := uint32(len(b.buf)) + s.val - s.start
		b.layout = append(b.layout, at, at+uint32(s.valLen))
	}
	b.buf = append(b.buf, src.buf[s.start:s.end]...)
	b.n++
	b.size += src.recordSize(i)
	b.kv += max(int(s.keyLen), 0) + max(int(s.valLen), 0)
	if s.out != 0 {
		b.outputs++
	}
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
	b.ensureIndex()
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
	b.ensureIndex()
	s := &b.recs[i]
	return b.slice(s.key, s.keyLen)
}

// Output returns the output record i is routed to ("" for the default).
func (b *Batch) Output(i int) string {
	b.ensureIndex()
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
	b.ensureIndex()
	n := len(dst)
	dst = slices.Grow(dst, b.n)[:n+b.n] // View sets every field: no zeroing
	if len(b.hdrs) > 0 && len(b.views) != len(b.hdrs) {
		b.buildViews()
	}
	for i := range b.recs {
		s := &b.recs[i]
		r := &dst[n+i]
		r.Key = b.slice(s.key, s.keyLen)
		r.Value = b.slice(s.val, s.valLen)
		r.Timestamp = s.ts
		r.Headers = nil
		if s.nhdr > 0 {
			r.Headers = b.views[s.hdr : s.hdr+s.nhdr : s.hdr+s.nhdr]
		}
		r.Output = ""
		if s.out != 0 {
			r.Output = b.names[s.out-1]
		}
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
		binary.BigEndian.PutUint32(b.buf[2:], uint32(b.n))
		return b.buf
	}
	var w FrameWriter
	w.Reset(b.alt[:0])
	var r Record
	for i := 0; i < b.n; i++ {
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
// any valid encoding (a guest's output), copying the records once. It
// validates frame as FrameReader does and returns the same *DecodeError
// for a malformed one, leaving the batch empty; it returns a
// *HeaderLimitError, having copied nothing, when the frame holds more than
// maxHeaders headers in all. The batch keeps no reference to frame.
func (b *Batch) SetFrame(frame []byte, maxHeaders int) error {
	b.Reset()
	var r FrameReader
	if err := r.Reset(frame); err != nil {
		return err
	}
	b.noLayout = true
	base := r.off
	sc := scanner{r: r, count: int(r.left), maxHeaders: maxHeaders}
	if err := sc.scan(nil); err != nil {
		b.Reset()
		return err
	}
	end := sc.r.off
	sc.r.left = 0
	if err := sc.r.Close(); err != nil { // reserved elements, trailing bytes
		b.Reset()
		return err
	}
	count := r.left
	// The records follow the batch's own canonical 6-byte header, whatever
	// header the frame had.
	b.buf = append(b.buf, frame[base:end]...)
	b.n, b.size, b.kv, b.outputs, b.nonCanonical = int(count), sc.size, sc.kv, sc.outputs, sc.nonCanonical
	return nil
}

// SetFrameLike sets the batch to frame, as SetFrame does, if frame has the
// very structure of like's Frame (the frame a guest was given): the same
// length and the same bytes everywhere but inside the records' values, as
// when a guest changed values in place. It then copies frame without
// validating it record by record (its structure is like's, which is
// valid) and reports true; otherwise it leaves the batch alone and reports
// false.
func (b *Batch) SetFrameLike(frame []byte, like *Batch) bool {
	if like.noLayout || like.nonCanonical || like.outputs > 0 || len(like.layout) != 2*like.n || len(frame) != len(like.buf) {
		return false
	}
	src := like.buf[:len(frame)]
	prev := uint32(0)
	for k := 0; k+1 < len(like.layout); k += 2 {
		vs := like.layout[k]
		if vs < prev || int(vs) > len(frame) {
			return false
		}
		if n := vs - prev; n >= 8 && n <= 16 {
			// The few bytes between two values (a timestamp, headers,
			// the next record's start): two overlapping words, where a
			// call to compare them costs more than the comparison.
			a, b := frame[prev:vs], src[prev:vs]
			if binary.LittleEndian.Uint64(a) != binary.LittleEndian.Uint64(b) ||
				binary.LittleEndian.Uint64(a[n-8:]) != binary.LittleEndian.Uint64(b[n-8:]) {
				return false
			}
		} else if string(frame[prev:vs]) != string(src[prev:vs]) {
			return false
		}
		prev = like.layout[k+1]
	}
	if string(frame[prev:]) != string(src[prev:]) {
		return false
	}
	b.Reset()
	b.buf = append(b.buf[:0], frame...)
	b.n, b.size, b.kv, b.outputs, b.nonCanonical = like.n, like.size, like.kv, 0, false
	b.layout = append(b.layout, like.layout...)
	return true
}

// ensureIndex indexes the records not indexed yet.
func (b *Batch) ensureIndex() {
	if len(b.recs) == b.n {
		return
	}
	if cap(b.recs) < b.n {
		recs := make([]recSpan, len(b.recs), b.n)
		copy(recs, b.recs)
		b.recs = recs
	}
	sc := scanner{r: FrameReader{src: b.buf, off: b.idxEnd}, count: b.n - len(b.recs), maxHeaders: math.MaxInt}
	if err := sc.scan(b); err != nil {
		// The bytes were validated by SetFrame or written by Append.
		panic(fmt.Sprintf("abi: indexing a batch: %v", err))
	}
	b.idxEnd = sc.r.off
}

// scanner reads count records from r: validating them and summing their
// sizes, and with a batch to index them into, recording their spans too.
type scanner struct {
	r            FrameReader
	count        int
	maxHeaders   int
	headers      int
	size, kv     int
	outputs      int
	nonCanonical bool
}

func (sc *scanner) scan(b *Batch) error {
	src := sc.r.src
	var tmp recSpan
	for j := 0; j < sc.count; j++ {
		if b == nil {
			// Validating only: the fast path keeps no span.
			if end, kv := skipFast(src, sc.r.off); end > 0 {
				sc.r.off = end
				sc.size += 16 + kv
				sc.kv += kv
				continue
			}
		}
		s := &tmp
		if b != nil {
			b.recs = append(b.recs, recSpan{})
			s = &b.recs[len(b.recs)-1]
		}
		if end := fastRecord(src, sc.r.off, s); end > 0 {
			// The common record: canonical, no headers, no output.
			sc.r.off = end
			kv := max(int(s.keyLen), 0) + max(int(s.valLen), 0)
			sc.size += 16 + kv
			sc.kv += kv
			if b != nil {
				s.hdr = uint32(len(b.hdrs))
			}
			continue
		}
		if b != nil {
			b.recs = b.recs[:len(b.recs)-1]
		}
		if err := sc.record(b, j); err != nil {
			return err
		}
	}
	return nil
}

// skipFast returns where the record at src[o] ends, and its key's and
// value's summed length, if it is a record fastRecord takes; else 0.
func skipFast(src []byte, o int) (end, kv int) {
	n := len(src)
	if o+4 <= n {
		// The commonest record of all: no key, a value of at most 255
		// bytes, no headers, in two loads.
		if w := binary.LittleEndian.Uint32(src[o:]); w&0xffffff == 0xc4c094 {
			l := int(w >> 24)
			if p := o + 4 + l; p+2 <= n {
				if t := src[p]; t <= 0x7f && src[p+1] == 0xc0 {
					return p + 2, l
				} else if t == 0xcf && p+10 <= n && src[p+9] == 0xc0 {
					if v := binary.BigEndian.Uint64(src[p+1:]); v > math.MaxUint32 && v <= math.MaxInt64 {
						return p + 10, l
					}
				}
			}
		}
	}
	if o+5 > n || src[o] != 0x94 {
		return 0, 0
	}
	p := o + 1
	switch src[p] {
	case 0xc0:
		p++
	case 0xc4:
		l := int(src[p+1])
		kv = l
		p += 2 + l
	default:
		return 0, 0
	}
	if p+2 > n {
		return 0, 0
	}
	switch src[p] {
	case 0xc0:
		p++
	case 0xc4:
		l := int(src[p+1])
		kv += l
		p += 2 + l
	case 0xc5:
		if p+3 > n {
			return 0, 0
		}
		l := int(binary.BigEndian.Uint16(src[p+1:]))
		if l <= math.MaxUint8 {
			return 0, 0
		}
		kv += l
		p += 3 + l
	default:
		return 0, 0
	}
	if p+2 > n {
		return 0, 0
	}
	if c := src[p]; c <= 0x7f {
		p++
	} else if c == 0xcf && p+10 <= n {
		v := binary.BigEndian.Uint64(src[p+1:])
		if v <= math.MaxUint32 || v > math.MaxInt64 {
			return 0, 0
		}
		p += 9
	} else {
		return 0, 0
	}
	if src[p] != 0xc0 {
		return 0, 0
	}
	return p + 1, kv
}

// fastRecord decodes the record at src[o] into s if it is in canonical
// form with a key of at most 255 bytes, no headers and no output, and a
// small or a millisecond timestamp, and returns where it ends; it returns
// 0 for anything else, leaving s partly written.
func fastRecord(src []byte, o int, s *recSpan) int {
	n := len(src)
	if o+5 > n || src[o] != 0x94 {
		return 0
	}
	s.start = uint32(o)
	p := o + 1
	switch src[p] {
	case 0xc0:
		s.key, s.keyLen = 0, -1
		p++
	case 0xc4:
		l := int(src[p+1])
		s.key, s.keyLen = uint32(p+2), int32(l)
		p += 2 + l
	default:
		return 0
	}
	if p+2 > n {
		return 0
	}
	switch c := src[p]; c {
	case 0xc0:
		s.val, s.valLen = 0, -1
		p++
	case 0xc4:
		l := int(src[p+1])
		s.val, s.valLen = uint32(p+2), int32(l)
		p += 2 + l
	case 0xc5:
		if p+3 > n {
			return 0
		}
		l := int(binary.BigEndian.Uint16(src[p+1:]))
		if l <= math.MaxUint8 {
			return 0
		}
		s.val, s.valLen = uint32(p+3), int32(l)
		p += 3 + l
	case 0xc6:
		if p+5 > n {
			return 0
		}
		l := int(binary.BigEndian.Uint32(src[p+1:]))
		if l <= math.MaxUint16 || l > n {
			return 0
		}
		s.val, s.valLen = uint32(p+5), int32(l)
		p += 5 + l
	default:
		return 0
	}
	if p+2 > n {
		return 0
	}
	switch c := src[p]; {
	case c <= 0x7f:
		s.ts = int64(c)
		p++
	case c == 0xcf:
		if p+10 > n {
			return 0
		}
		v := binary.BigEndian.Uint64(src[p+1:])
		if v <= math.MaxUint32 || v > math.MaxInt64 {
			return 0
		}
		s.ts = int64(v)
		p += 9
	default:
		return 0
	}
	if src[p] != 0xc0 {
		return 0
	}
	s.nhdr, s.out, s.nonCanon = 0, 0, false
	s.end = uint32(p + 1)
	return p + 1
}

// record reads record j in full generality: any encoding FrameReader
// accepts, with its errors.
func (sc *scanner) record(b *Batch, j int) error {
	r := &sc.r
	frame := r.src
	start := r.off
	n, err := r.arrayHeader()
	if err != nil {
		return err
	}
	if n < 4 {
		return r.fail(start, fmt.Sprintf("record has %d fields; want at least 4 (key, value, timestamp, headers)", n))
	}
	s := recSpan{start: uint32(start)}
	if b != nil {
		s.hdr = uint32(len(b.hdrs))
	}
	canon := frame[start] == 0x94 || frame[start] == 0x95
	at := r.off
	key, err := r.bytesOrNil("key")
	if err != nil {
		return err
	}
	s.key, s.keyLen = uint32(r.off-len(key)), spanLen(key)
	canon = canon && canonicalBin(frame[at], key)
	at = r.off
	val, err := r.bytesOrNil("value")
	if err != nil {
		return err
	}
	s.val, s.valLen = uint32(r.off-len(val)), spanLen(val)
	canon = canon && canonicalBin(frame[at], val)
	at = r.off
	if s.ts, err = r.int64("timestamp"); err != nil {
		return err
	}
	canon = canon && (frame[at] <= 0x7f || canonicalInt(frame[at:r.off], s.ts))
	size := 16 + len(key) + len(val)
	hcanon, hsize, err := sc.headersOf(b, &s, j)
	if err != nil {
		return err
	}
	canon = canon && hcanon
	size += hsize
	if n >= 5 {
		at = r.off
		out, err := r.bytesOrNil("output")
		if err != nil {
			return err
		}
		canon = canon && n == 5 && len(out) > 0 && canonicalStr(frame[at], len(out))
		if len(out) > 0 {
			sc.outputs++
			size += len(out)
			if b != nil {
				s.out = b.intern(out)
			}
		}
		for i := uint32(5); i < n; i++ {
			if err := r.skip(0); err != nil {
				return err
			}
		}
	} else {
		canon = canon && frame[start] == 0x94
	}
	s.end = uint32(r.off)
	s.nonCanon = !canon
	if !canon {
		sc.nonCanonical = true
	}
	sc.size += size
	sc.kv += len(key) + len(val)
	if b != nil {
		b.recs = append(b.recs, s)
	}
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

// headersOf reads a record's headers, counting them against maxHeaders,
// and reports whether they are encoded canonically and what they add to
// the record's Size.
func (sc *scanner) headersOf(b *Batch, s *recSpan, j int) (canon bool, size int, err error) {
	r := &sc.r
	if err := r.need(1); err != nil {
		return false, 0, err
	}
	if r.src[r.off] == 0xc0 {
		r.off++
		return true, 0, nil
	}
	at := r.off
	n, err := r.arrayHeader()
	if err != nil {
		return false, 0, err
	}
	if n%2 != 0 {
		return false, 0, r.fail(at, fmt.Sprintf("headers: array of %d items; want name/value pairs", n))
	}
	if int(n) > len(r.src)-r.off {
		return false, 0, r.fail(at, fmt.Sprintf("headers: %d items but only %d bytes left", n, len(r.src)-r.off))
	}
	if sc.headers+int(n/2) > sc.maxHeaders {
		return false, 0, &HeaderLimitError{Record: j + 1, Records: sc.count}
	}
	sc.headers += int(n / 2)
	canon = n > 0 && r.off-at == arrayHeaderLen(n)
	for i := uint32(0); i < n; i += 2 {
		c := r.peek()
		name, err := r.bytesOrNil("header name")
		if err != nil {
			return false, 0, err
		}
		canon = canon && name != nil && canonicalStr(c, len(name))
		c = r.peek()
		val, err := r.bytesOrNil("header value")
		if err != nil {
			return false, 0, err
		}
		canon = canon && canonicalBin(c, val)
		size += 10 + len(name) + len(val)
		if b != nil {
			b.hdrs = append(b.hdrs, hdrSpan{name: b.intern(name) - 1, val: uint32(r.off - len(val)), valLen: spanLen(val)})
		}
	}
	s.nhdr = n / 2
	return canon, size, nil
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
