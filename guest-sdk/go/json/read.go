// Package json reads and writes JSON record values inside a wasmstream
// operator without allocating per record: Get finds a value by path and
// returns a Value that aliases the document, strings are decoded only when
// asked for and only into a buffer the caller passes, and Writer, Set and
// the Append functions build or patch a document into a caller buffer.
//
//	v, err := json.Get(r.Value, "user.address.city")
//	city, err := v.Text(buf[:0]) // the raw bytes when there are no escapes
//
// A path is a list of segments joined by '.': an object key, or an array
// index in decimal ("items.0.id"); the empty path is the document itself.
// Keys are compared with their escapes decoded; the first of duplicate keys
// wins. A key containing '.' cannot be named by a path.
//
// Every function that reads a document validates all of it against RFC 8259
// in one pass (strict grammar, UTF-8 in strings, no leading zeros, nothing
// after the value) and fails with an error matching ErrSyntax, ErrUTF8 or
// ErrDepth (nesting deeper than MaxDepth) instead of reading on: an invalid
// document never yields a value. Nesting is bounded, so no document can
// exhaust the stack. A lone UTF-16 surrogate in a \u escape is valid and
// decodes to U+FFFD.
//
// The same test vectors (guest-sdk/testdata/json) check this package and the
// JSON readers of the Rust, C, AssemblyScript and Zig SDKs.
//
// Nothing in the package keeps state between calls; a Writer is not safe for
// concurrent use.
package json

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects a document may have:
// a document with MaxDepth nested arrays is valid, one more is ErrDepth.
const MaxDepth = 128

// Errors, matched with errors.Is. A document error is a *SyntaxError that
// wraps one of ErrSyntax, ErrUTF8 and ErrDepth.
var (
	ErrSyntax   = errors.New("invalid JSON")
	ErrUTF8     = errors.New("invalid UTF-8 in a JSON string")
	ErrDepth    = fmt.Errorf("JSON nested deeper than %d", MaxDepth)
	ErrNotFound = errors.New("no JSON value at path")
	ErrType     = errors.New("JSON value of another type")
	ErrRange    = errors.New("JSON number out of range")
)

// SyntaxError is an invalid document: Err is ErrSyntax, ErrUTF8 or ErrDepth,
// Offset the byte offset in the document where reading stopped.
type SyntaxError struct {
	Offset int
	Err    error
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%v at byte %d", e.Err, e.Offset) }

// Unwrap returns ErrSyntax, ErrUTF8 or ErrDepth.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Kind is the type of a JSON value.
type Kind uint8

// The kinds of JSON values.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"invalid", "null", "bool", "number", "string", "array", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one JSON value of a document. Raw aliases the document: it is
// valid as long as the document's bytes are, and changes with them.
type Value struct {
	Kind Kind
	// Raw is the value's JSON text, quotes included for a string.
	Raw []byte
}

// Valid reports whether doc is one valid JSON document, with an error
// matching ErrSyntax, ErrUTF8 or ErrDepth when it is not.
func Valid(doc []byte) error {
	_, err := find(doc, "", false)
	return err
}

// Get returns the value at path in doc, after validating all of doc. It
// returns ErrNotFound (unwrapped, without allocating) when doc is valid but
// has nothing at path.
func Get(doc []byte, path string) (Value, error) {
	sp, err := find(doc, path, true)
	if err != nil {
		return Value{}, err
	}
	return Value{Kind: sp.kind, Raw: doc[sp.start:sp.end]}, nil
}

// Get returns the value at path inside v, as the package-level Get does on
// v.Raw.
func (v Value) Get(path string) (Value, error) { return Get(v.Raw, path) }

// Exists reports whether v was found: the zero Value is not.
func (v Value) Exists() bool { return v.Kind != Invalid }

// IsNull reports whether v is JSON null.
func (v Value) IsNull() bool { return v.Kind == Null }

// Bool returns a JSON true or false, or ErrType.
func (v Value) Bool() (bool, error) {
	if v.Kind != Bool {
		return false, ErrType
	}
	return v.Raw[0] == 't', nil
}

// Int returns a number written as an integer (no fraction or exponent) as an
// int64: ErrType for any other value, ErrRange outside the int64 range.
// -0 is 0.
func (v Value) Int() (int64, error) {
	if v.Kind != Number || bytes.ContainsAny(v.Raw, ".eE") {
		return 0, ErrType
	}
	b := v.Raw
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	var n uint64
	for _, c := range b {
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, ErrRange
		}
		n = n*10 + d
	}
	if neg {
		if n > 1<<63 {
			return 0, ErrRange
		}
		return -int64(n), nil
	}
	if n > 1<<63-1 {
		return 0, ErrRange
	}
	return int64(n), nil
}

// Float returns a number as the nearest float64, or ErrType for another
// value, or ErrRange when its magnitude is too large for a float64 (a number
// too small becomes zero).
func (v Value) Float() (float64, error) {
	if v.Kind != Number {
		return 0, ErrType
	}
	f, err := strconv.ParseFloat(unsafeString(v.Raw), 64)
	if err != nil {
		return 0, ErrRange
	}
	return f, nil
}

// Text returns a string's contents with its escapes decoded: the bytes
// between its quotes, aliasing the document, when it has no escapes;
// otherwise the decoded text appended to buf[:0] (growing it only when it is
// too small). It returns ErrType for a value that is not a string.
func (v Value) Text(buf []byte) ([]byte, error) {
	if v.Kind != String {
		return nil, ErrType
	}
	in := v.Raw[1 : len(v.Raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return in, nil
	}
	return unescape(buf[:0], in), nil
}

// TextEquals reports whether v is a string whose decoded contents are s,
// without decoding it anywhere.
func (v Value) TextEquals(s string) bool {
	return v.Kind == String && textEquals(v.Raw[1:len(v.Raw)-1], s)
}

// span is a value found in a document.
type span struct {
	kind       Kind
	start, end int
	found      bool
}

// scanner validates a document, recording the value at its path.
type scanner struct {
	data []byte
	pos  int
	err  error
	res  span
	// path is the path looked up: the segment at offset at runs to the
	// next '.'; at == len(path)+1 is past its end.
	path string
}

// find validates doc and locates path in it when want is set.
func find(doc []byte, path string, want bool) (span, error) {
	s := scanner{data: doc, path: path}
	at := 0
	if path == "" {
		at = 1
	}
	s.value(0, at, want)
	if s.err == nil {
		s.ws()
		if s.pos != len(s.data) {
			s.fail(ErrSyntax)
		}
	}
	if s.err != nil {
		return span{}, s.err
	}
	if want && !s.res.found {
		return span{}, ErrNotFound
	}
	return s.res, nil
}

func (s *scanner) fail(err error) {
	if s.err == nil {
		s.err = &SyntaxError{Offset: s.pos, Err: err}
	}
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads one value at s.pos, at nesting depth; match says the path so
// far leads here and at is where the rest of it begins.
func (s *scanner) value(depth int, at int, match bool) {
	s.ws()
	if s.pos >= len(s.data) {
		s.fail(ErrSyntax)
		return
	}
	start := s.pos
	var kind Kind
	here := match && at > len(s.path)
	switch c := s.data[s.pos]; {
	case c == '{':
		kind = Object
		s.object(depth+1, at, match && !here)
	case c == '[':
		kind = Array
		s.array(depth+1, at, match && !here)
	case c == '"':
		kind = String
		s.str()
	case c == '-' || ('0' <= c && c <= '9'):
		kind = Number
		s.number()
	case c == 't':
		kind = Bool
		s.literal("true")
	case c == 'f':
		kind = Bool
		s.literal("false")
	case c == 'n':
		kind = Null
		s.literal("null")
	default:
		s.fail(ErrSyntax)
	}
	if here && s.err == nil && !s.res.found {
		s.res = span{kind: kind, start: start, end: s.pos, found: true}
	}
}

// segment returns the path segment at offset at and the offset of the next.
func (s *scanner) segment(at int) (seg string, next int) {
	if at > len(s.path) {
		return "", at
	}
	for i := at; i < len(s.path); i++ {
		if s.path[i] == '.' {
			return s.path[at:i], i + 1
		}
	}
	return s.path[at:], len(s.path) + 1
}

func (s *scanner) object(depth int, at int, match bool) {
	if depth > MaxDepth {
		s.fail(ErrDepth)
		return
	}
	s.pos++ // {
	seg, rest := s.segment(at)
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return
	}
	for s.err == nil {
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			s.fail(ErrSyntax)
			return
		}
		kstart := s.pos + 1
		s.str()
		if s.err != nil {
			return
		}
		key := s.data[kstart : s.pos-1]
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			s.fail(ErrSyntax)
			return
		}
		s.pos++
		s.value(depth, rest, match && !s.res.found && textEquals(key, seg))
		if s.err != nil {
			return
		}
		s.ws()
		if s.pos >= len(s.data) {
			s.fail(ErrSyntax)
			return
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return
		default:
			s.fail(ErrSyntax)
			return
		}
	}
}

// index parses an array index segment, or returns -1.
func index(seg string) int {
	if seg == "" || len(seg) > 9 || (seg[0] == '0' && len(seg) > 1) {
		return -1
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func (s *scanner) array(depth int, at int, match bool) {
	if depth > MaxDepth {
		s.fail(ErrDepth)
		return
	}
	s.pos++ // [
	want := -1
	seg, rest := s.segment(at)
	if match {
		want = index(seg)
	}
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return
	}
	for i := 0; s.err == nil; i++ {
		s.value(depth, rest, i == want)
		if s.err != nil {
			return
		}
		s.ws()
		if s.pos >= len(s.data) {
			s.fail(ErrSyntax)
			return
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return
		default:
			s.fail(ErrSyntax)
			return
		}
	}
}

func (s *scanner) literal(lit string) {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		s.fail(ErrSyntax)
		return
	}
	s.pos += len(lit)
}

func (s *scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

func (s *scanner) number() {
	if s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case s.digits() == 0:
		s.fail(ErrSyntax)
		return
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			s.fail(ErrSyntax)
			return
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			s.fail(ErrSyntax)
			return
		}
	}
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// str reads a string at s.pos (its opening quote), validating escapes and
// UTF-8, and leaves s.pos after the closing quote.
func (s *scanner) str() {
	s.pos++
	d := s.data
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return
		case c == '\\':
			if s.pos+1 >= len(d) {
				s.pos = len(d)
				s.fail(ErrSyntax)
				return
			}
			switch d[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if len(d)-s.pos < 6 || !isHex(d[s.pos+2]) || !isHex(d[s.pos+3]) || !isHex(d[s.pos+4]) || !isHex(d[s.pos+5]) {
					s.fail(ErrSyntax)
					return
				}
				s.pos += 6
			default:
				s.fail(ErrSyntax)
				return
			}
		case c < 0x20:
			s.fail(ErrSyntax)
			return
		case c < 0x80:
			s.pos++
		default:
			n := utf8Len(d[s.pos:])
			if n == 0 {
				s.fail(ErrUTF8)
				return
			}
			s.pos += n
		}
	}
	s.fail(ErrSyntax)
}

// utf8Len returns the length of the valid UTF-8 sequence b starts with
// (b[0] >= 0x80), or 0 when it is not one: no overlong forms, surrogates or
// code points past U+10FFFF.
func utf8Len(b []byte) int {
	c := b[0]
	var n int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case 0xC2 <= c && c <= 0xDF:
		n = 2
	case c == 0xE0:
		n, lo = 3, 0xA0
	case 0xE1 <= c && c <= 0xEC, c == 0xEE, c == 0xEF:
		n = 3
	case c == 0xED:
		n, hi = 3, 0x9F
	case c == 0xF0:
		n, lo = 4, 0x90
	case 0xF1 <= c && c <= 0xF3:
		n = 4
	case c == 0xF4:
		n, hi = 4, 0x8F
	default:
		return 0
	}
	if len(b) < n || b[1] < lo || b[1] > hi {
		return 0
	}
	for i := 2; i < n; i++ {
		if b[i] < 0x80 || b[i] > 0xBF {
			return 0
		}
	}
	return n
}

func hexVal(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c <= '9':
			r |= rune(c - '0')
		case c >= 'a':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// escape decodes the escape at in[0] ('\\') of a validated string into out
// and returns the bytes written to out and the bytes of in consumed.
func escape(in []byte, out *[4]byte) (n, used int) {
	switch in[1] {
	case 'b':
		out[0] = '\b'
	case 'f':
		out[0] = '\f'
	case 'n':
		out[0] = '\n'
	case 'r':
		out[0] = '\r'
	case 't':
		out[0] = '\t'
	case 'u':
		r := hexVal(in[2:])
		used = 6
		switch {
		case 0xD800 <= r && r <= 0xDBFF:
			if len(in) >= 12 && in[6] == '\\' && in[7] == 'u' {
				if lo := hexVal(in[8:]); 0xDC00 <= lo && lo <= 0xDFFF {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					used = 12
					break
				}
			}
			r = utf8.RuneError
		case 0xDC00 <= r && r <= 0xDFFF:
			r = utf8.RuneError
		}
		return utf8.EncodeRune(out[:], r), used
	default: // " \ /
		out[0] = in[1]
	}
	return 1, 2
}

// unescape appends the decoded contents of a validated string to dst.
func unescape(dst, in []byte) []byte {
	var tmp [4]byte
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\\')
		if i < 0 {
			return append(dst, in...)
		}
		dst = append(dst, in[:i]...)
		n, used := escape(in[i:], &tmp)
		dst = append(dst, tmp[:n]...)
		in = in[i+used:]
	}
	return dst
}

// textEquals reports whether the validated string contents in decode to s.
func textEquals(in []byte, s string) bool {
	var tmp [4]byte
	for len(in) > 0 {
		if in[0] != '\\' {
			if len(s) == 0 || in[0] != s[0] {
				return false
			}
			in, s = in[1:], s[1:]
			continue
		}
		n, used := escape(in, &tmp)
		if len(s) < n || string(tmp[:n]) != s[:n] {
			return false
		}
		in, s = in[used:], s[n:]
	}
	return len(s) == 0
}
