package json

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"unsafe"
)

// ErrWriter is a Writer used out of order: a value where a key is due, a
// key outside an object, an End without its Begin, nesting deeper than
// MaxDepth, or Bytes before every container is closed.
var ErrWriter = errors.New("JSON writer used out of order")

const hexDigits = "0123456789abcdef"

// AppendString appends s to dst as a JSON string: quoted, with '"', '\\'
// and control characters escaped (\n, \r, \t, \b, \f or \u00XX) and every
// other byte as it is. s should be UTF-8; its bytes are not checked.
func AppendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendInt appends n to dst as a JSON number.
func AppendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// AppendFloat appends f to dst as the shortest JSON number that reads back
// as f, in exponent form below 1e-6 and from 1e21 on; NaN and the
// infinities, which JSON cannot hold, are written as null.
func AppendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.AppendFloat(dst, f, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// Writer builds one JSON document into a buffer, placing commas and colons:
//
//	var w json.Writer
//	w.Reset(buf[:0])
//	w.BeginObject()
//	w.Key("id")
//	w.Int(7)
//	w.Key("tags")
//	w.BeginArray()
//	w.Text("a")
//	w.EndArray()
//	w.EndObject()
//	out, err := w.Bytes() // {"id":7,"tags":["a"]}
//
// A misuse is recorded and returned by Bytes; the calls after it do
// nothing. The zero Writer is ready to use. Not safe for concurrent use.
type Writer struct {
	buf   []byte
	depth int
	// open[i] is the container open at depth i+1: '{' or '['.
	open [MaxDepth]byte
	// count[i] is the number of values written at depth i.
	count [MaxDepth + 1]uint32
	key   bool // a key was written and its value is due
	err   error
}

// Reset starts a new document appended to dst; the Writer may keep and grow
// dst.
func (w *Writer) Reset(dst []byte) {
	*w = Writer{buf: dst}
}

// Bytes returns the document, or ErrWriter after a misuse or while a
// container is open.
func (w *Writer) Bytes() ([]byte, error) {
	if w.err == nil && (w.depth != 0 || w.key) {
		w.err = ErrWriter
	}
	return w.buf, w.err
}

// pre writes what comes before a value: a comma in an array or at the top
// level; it fails a value in an object without a key.
func (w *Writer) pre() bool {
	if w.err != nil {
		return false
	}
	switch {
	case w.depth > 0 && w.open[w.depth-1] == '{':
		if !w.key {
			w.err = ErrWriter
			return false
		}
		w.key = false
	case w.depth == 0 && w.count[0] > 0:
		w.err = ErrWriter // one document, one value
		return false
	case w.count[w.depth] > 0:
		w.buf = append(w.buf, ',')
	}
	w.count[w.depth]++
	return true
}

// Key writes an object key; a value must follow.
func (w *Writer) Key(k string) {
	if w.err != nil {
		return
	}
	if w.depth == 0 || w.open[w.depth-1] != '{' || w.key {
		w.err = ErrWriter
		return
	}
	if w.count[w.depth] > 0 {
		w.buf = append(w.buf, ',')
	}
	w.buf = AppendString(w.buf, k)
	w.buf = append(w.buf, ':')
	w.key = true
}

func (w *Writer) begin(c byte) {
	if w.depth == MaxDepth {
		w.err = ErrWriter
		return
	}
	if !w.pre() {
		return
	}
	w.buf = append(w.buf, c)
	w.open[w.depth] = c
	w.depth++
	w.count[w.depth] = 0
}

func (w *Writer) end(open, c byte) {
	if w.err != nil {
		return
	}
	if w.depth == 0 || w.open[w.depth-1] != open || w.key {
		w.err = ErrWriter
		return
	}
	w.buf = append(w.buf, c)
	w.depth--
}

// BeginObject opens an object.
func (w *Writer) BeginObject() { w.begin('{') }

// EndObject closes the object opened last.
func (w *Writer) EndObject() { w.end('{', '}') }

// BeginArray opens an array.
func (w *Writer) BeginArray() { w.begin('[') }

// EndArray closes the array opened last.
func (w *Writer) EndArray() { w.end('[', ']') }

// Text writes a string value, escaped as AppendString does.
func (w *Writer) Text(s string) {
	if w.pre() {
		w.buf = AppendString(w.buf, s)
	}
}

// TextBytes writes a string value from bytes, as Text does.
func (w *Writer) TextBytes(s []byte) {
	if w.pre() {
		w.buf = AppendString(w.buf, s)
	}
}

// Int writes an integer.
func (w *Writer) Int(n int64) {
	if w.pre() {
		w.buf = AppendInt(w.buf, n)
	}
}

// Float writes a number as AppendFloat does.
func (w *Writer) Float(f float64) {
	if w.pre() {
		w.buf = AppendFloat(w.buf, f)
	}
}

// Bool writes true or false.
func (w *Writer) Bool(b bool) {
	if w.pre() {
		if b {
			w.buf = append(w.buf, "true"...)
		} else {
			w.buf = append(w.buf, "false"...)
		}
	}
}

// Null writes null.
func (w *Writer) Null() {
	if w.pre() {
		w.buf = append(w.buf, "null"...)
	}
}

// Raw writes raw, which must be one valid JSON value (such as a Value's
// Raw), as it is; it is not checked.
func (w *Writer) Raw(raw []byte) {
	if w.pre() {
		w.buf = append(w.buf, raw...)
	}
}

// Set appends to dst the document doc with the value at path replaced by
// value, which must be one valid JSON value (Set checks it). When only the
// last segment of path is missing and what it names is an object, the
// pair "key":value is appended to that object, before its closing brace.
// Everything else of doc is copied byte for byte. It returns ErrNotFound
// when path has no value and no parent object, a document error when doc or
// value is not valid JSON, and ErrDepth when the result would nest deeper
// than MaxDepth.
func Set(dst, doc []byte, path string, value []byte) ([]byte, error) {
	if err := Valid(value); err != nil {
		return dst, err
	}
	out, err := set(dst, doc, path, value)
	if err != nil {
		return dst, err
	}
	// A container value may nest the result deeper than MaxDepth.
	if v := bytes.TrimLeft(value, " \t\n\r"); v[0] == '{' || v[0] == '[' {
		if err := Valid(out[len(dst):]); err != nil {
			return dst, err
		}
	}
	return out, nil
}

func set(dst, doc []byte, path string, value []byte) ([]byte, error) {
	sp, err := find(doc, path, true)
	if err == nil {
		dst = append(dst, doc[:sp.start]...)
		dst = append(dst, value...)
		return append(dst, doc[sp.end:]...), nil
	}
	if err != ErrNotFound || path == "" {
		return dst, err
	}
	parent, key := "", path
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '.' {
			parent, key = path[:i], path[i+1:]
			break
		}
	}
	sp, err = find(doc, parent, true)
	if err != nil {
		return dst, err
	}
	if sp.kind != Object {
		return dst, ErrNotFound
	}
	closing := sp.end - 1
	dst = append(dst, doc[:closing]...)
	for i := sp.start + 1; i < closing; i++ {
		if c := doc[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			dst = append(dst, ',')
			break
		}
	}
	dst = AppendString(dst, key)
	dst = append(dst, ':')
	dst = append(dst, value...)
	return append(dst, doc[closing:]...), nil
}

// Delete appends to dst the document doc without the object member or
// array element at path (and the comma that separated it), copying
// everything else byte for byte. It returns ErrNotFound when path has no
// value or is empty.
func Delete(dst, doc []byte, path string) ([]byte, error) {
	if path == "" {
		if err := Valid(doc); err != nil {
			return dst, err
		}
		return dst, ErrNotFound
	}
	sp, err := find(doc, path, true)
	if err != nil {
		return dst, err
	}
	// The member starts at its key (for an object) and runs to the value's
	// end; take the comma after it and the space after that, or else the
	// comma before it and the space before that.
	start, end := sp.start, sp.end
	i := start - 1
	for isSpace(doc[i]) {
		i--
	}
	if doc[i] == ':' { // object member: back over the key
		i--
		for isSpace(doc[i]) {
			i--
		}
		i-- // closing quote of the key
		for !(doc[i] == '"' && !escaped(doc, i)) {
			i--
		}
		start = i
		i--
		for isSpace(doc[i]) {
			i--
		}
	}
	j := end
	for j < len(doc) && isSpace(doc[j]) {
		j++
	}
	switch {
	case doc[j] == ',':
		end = j + 1
		for end < len(doc) && isSpace(doc[end]) {
			end++
		}
	case doc[i] == ',':
		for start = i; isSpace(doc[start-1]); start-- {
		}
	}
	dst = append(dst, doc[:start]...)
	return append(dst, doc[end:]...), nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// escaped reports whether doc[i] is preceded by an odd number of
// backslashes.
func escaped(doc []byte, i int) bool {
	n := 0
	for i--; i >= 0 && doc[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// unsafeString views b as a string for a call that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
