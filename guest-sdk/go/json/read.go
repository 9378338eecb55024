// Package json reads and writes JSON record values inside a wasmstream
// operator without allocating per record: Get finds a value by path and
// returns a Value that aliases the document, strings are decoded only when
// asked for and only into a buffer the caller passes, and Writer, Set and
// the Append functions build or patch a document into a caller buffer.
//
//	v, err := json.Get(r.Value, "user.address.city")
//	city, err := v.Text(buf[:0]) // the raw bytes when there are no escapes
//
// GetAll finds several paths in the same single pass.
//
// A path is a list of segments joined by '.': an object key, or an array
// index in decimal ("items.0.id"); the empty path is the document itself.
// Keys are compared with their escapes decoded; only the first of duplicate
// keys is followed. A key containing '.' cannot be named by a path.
//
// Every function that reads a document validates all of it against RFC 8259
// in one pass (strict grammar, UTF-8 in strings, no leading zeros, nothing
// after the value) and fails with an error matching ErrSyntax, ErrUTF8 or
// ErrDepth (nesting deeper than MaxDepth) instead of reading on: an invalid
// document never yields a value. The reader is one loop with an explicit,
// bounded stack, so no document can exhaust the goroutine's stack. A lone UTF-16 surrogate in a \u escape is valid and
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
}

// segment returns the segment of path at offset at and the offset of the
// next one; at == len(path)+1 is past the end.
func segment(path string, at int) (seg string, next int) {
	for i := at; i < len(path); i++ {
		if path[i] == '.' {
			return path[at:i], i + 1
		}
	}
	return path[at:], len(path) + 1
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

func syntaxErr(err error, at int) error { return &SyntaxError{Offset: at, Err: err} }

// cursor follows one path through a document. match says the value about
// to be read is on the path, at is the offset in path of what is left of
// it, and the container at depth mdepth is the one whose members are
// compared with seg (the next segment; next is the offset after it). Once a
// member matched, that container compares no more (the first of duplicate
// keys wins), and once a matched container closes without the value,
// nothing else can match.
type cursor struct {
	path    string
	match   bool
	found   bool
	at      int
	mdepth  int
	seg     string
	next    int
	elem    int
	wantIdx int
	hereAt  int // the depth at which the found container closes, or -1
	res     span
}

func newCursor(path string) cursor {
	c := cursor{path: path, match: true, mdepth: -1, hereAt: -1}
	if path == "" {
		c.at = 1
	}
	return c
}

// find validates doc and, when want is set, locates path in it.
func find(doc []byte, path string, want bool) (span, error) {
	if !want {
		return span{}, scan(doc, nil)
	}
	cs := [1]cursor{newCursor(path)}
	if err := scan(doc, cs[:]); err != nil {
		return span{}, err
	}
	if !cs[0].found {
		return span{}, ErrNotFound
	}
	return cs[0].res, nil
}

// MaxPaths is the most paths one GetAll call looks up.
const MaxPaths = 8

// GetAll looks up every path of paths in doc in one pass, as Get does for
// one, and stores the value at paths[i] in vals[i], or the zero Value
// (Exists reports false) when doc has none. It validates all of doc and
// returns its error; vals must be at least as long as paths, which may hold
// at most MaxPaths paths. It allocates nothing.
func GetAll(doc []byte, paths []string, vals []Value) error {
	if len(paths) > MaxPaths || len(vals) < len(paths) {
		return fmt.Errorf("json.GetAll: %d paths into %d values (at most %d paths): %w", len(paths), len(vals), MaxPaths, ErrType)
	}
	var arr [MaxPaths]cursor
	cs := arr[:len(paths)]
	for i, p := range paths {
		cs[i] = newCursor(p)
	}
	if err := scan(doc, cs); err != nil {
		return err
	}
	for i := range cs {
		vals[i] = Value{}
		if cs[i].found {
			vals[i] = Value{Kind: cs[i].res.kind, Raw: doc[cs[i].res.start:cs[i].res.end]}
		}
	}
	return nil
}

// scan validates doc, moving every cursor along it. It is one loop over the
// document with an explicit stack, not a recursive descent: Go compiled to
// Wasm pays dearly for calls.
func scan(doc []byte, cs []cursor) error {
	var (
		d     = doc
		i     int
		depth int
		stack [MaxDepth]byte
	)
	const (
		stValue = iota // a value is due at i
		stAfter        // a value ended at i
		stKey          // an object key is due at i
	)
	st := stValue
	for {
		switch st {
		case stValue:
			if i < len(d) && d[i] <= ' ' {
				for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
					i++
				}
			}
			if i >= len(d) {
				return syntaxErr(ErrSyntax, i)
			}
			start := i
			var kind Kind
			switch c := d[i]; c {
			case '{', '[':
				if depth == MaxDepth {
					return syntaxErr(ErrDepth, i)
				}
				stack[depth] = c
				depth++
				i++
				for k := range cs {
					cu := &cs[k]
					if !cu.match || cu.found {
						continue
					}
					cu.match = false
					if cu.at > len(cu.path) {
						cu.res = span{kind: Object, start: start}
						if c == '[' {
							cu.res.kind = Array
						}
						cu.hereAt = depth
						continue
					}
					cu.mdepth = depth
					cu.seg, cu.next = segment(cu.path, cu.at)
					cu.elem, cu.wantIdx = 0, -1
					if c == '[' {
						cu.wantIdx = index(cu.seg)
					}
				}
				if i < len(d) && d[i] <= ' ' {
					for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
						i++
					}
				}
				if i < len(d) && d[i] == c+2 { // '{'+2 is '}', '['+2 is ']'
					st = stAfter
					continue
				}
				if c == '{' {
					st = stKey
					continue
				}
				for k := range cs {
					if cu := &cs[k]; cu.mdepth == depth && cu.wantIdx == 0 {
						cu.match, cu.at, cu.mdepth = true, cu.next, -1
					}
				}
				continue
			case '"':
				var err error
				if i, err = scanString(d, i); err != nil {
					return err
				}
				kind = String
			case 't', 'f', 'n':
				lit, k := "null", Null
				if c == 't' {
					lit, k = "true", Bool
				} else if c == 'f' {
					lit, k = "false", Bool
				}
				if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
					return syntaxErr(ErrSyntax, i)
				}
				i += len(lit)
				kind = k
			default:
				if c != '-' && (c < '0' || c > '9') {
					return syntaxErr(ErrSyntax, i)
				}
				if c == '-' {
					i++
				}
				switch {
				case i < len(d) && d[i] == '0':
					i++
				case i < len(d) && '1' <= d[i] && d[i] <= '9':
					for i < len(d) && '0' <= d[i] && d[i] <= '9' {
						i++
					}
				default:
					return syntaxErr(ErrSyntax, i)
				}
				if i < len(d) && d[i] == '.' {
					i++
					if i >= len(d) || d[i] < '0' || d[i] > '9' {
						return syntaxErr(ErrSyntax, i)
					}
					for i < len(d) && '0' <= d[i] && d[i] <= '9' {
						i++
					}
				}
				if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
					i++
					if i < len(d) && (d[i] == '+' || d[i] == '-') {
						i++
					}
					if i >= len(d) || d[i] < '0' || d[i] > '9' {
						return syntaxErr(ErrSyntax, i)
					}
					for i < len(d) && '0' <= d[i] && d[i] <= '9' {
						i++
					}
				}
				kind = Number
			}
			for k := range cs {
				cu := &cs[k]
				if cu.match && !cu.found && cu.at > len(cu.path) {
					cu.res, cu.found = span{kind: kind, start: start, end: i}, true
				}
				cu.match = false
			}
			st = stAfter

		case stAfter:
			if i < len(d) && d[i] <= ' ' {
				for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
					i++
				}
			}
			if depth == 0 {
				if i != len(d) {
					return syntaxErr(ErrSyntax, i)
				}
				return nil
			}
			if i >= len(d) {
				return syntaxErr(ErrSyntax, i)
			}
			top := stack[depth-1]
			switch d[i] {
			case ',':
				i++
				if top == '{' {
					st = stKey
					continue
				}
				for k := range cs {
					if cu := &cs[k]; cu.mdepth == depth {
						cu.elem++
						if cu.elem == cu.wantIdx {
							cu.match, cu.at, cu.mdepth = true, cu.next, -1
						}
					}
				}
				st = stValue
			case top + 2:
				i++
				for k := range cs {
					cu := &cs[k]
					if cu.hereAt == depth {
						cu.res.end, cu.found, cu.hereAt = i, true, -1
					}
					if cu.mdepth == depth {
						cu.mdepth = -1
					}
				}
				depth--
			default:
				return syntaxErr(ErrSyntax, i)
			}

		case stKey:
			if i < len(d) && d[i] <= ' ' {
				for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
					i++
				}
			}
			if i >= len(d) || d[i] != '"' {
				return syntaxErr(ErrSyntax, i)
			}
			kstart := i + 1
			var err error
			if i, err = scanString(d, i); err != nil {
				return err
			}
			for k := range cs {
				if cu := &cs[k]; cu.mdepth == depth && textEquals(d[kstart:i-1], cu.seg) {
					cu.match, cu.at, cu.mdepth = true, cu.next, -1
				}
			}
			if i < len(d) && d[i] <= ' ' {
				for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
					i++
				}
			}
			if i >= len(d) || d[i] != ':' {
				return syntaxErr(ErrSyntax, i)
			}
			i++
			st = stValue
		}
	}
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// plain marks the bytes a string holds as they are: printable ASCII but
// the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString reads the string whose opening quote is d[i], validating
// escapes and UTF-8, and returns the offset after its closing quote.
func scanString(d []byte, i int) (int, error) {
	i++
	for {
		for i < len(d) && plain[d[i]] {
			i++
		}
		if i >= len(d) {
			return i, syntaxErr(ErrSyntax, i)
		}
		switch c := d[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(d) {
				return len(d), syntaxErr(ErrSyntax, len(d))
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(d)-i < 6 || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return i, syntaxErr(ErrSyntax, i)
				}
				i += 6
			default:
				return i, syntaxErr(ErrSyntax, i)
			}
		case c < 0x20:
			return i, syntaxErr(ErrSyntax, i)
		default:
			n := utf8Len(d[i:])
			if n == 0 {
				return i, syntaxErr(ErrUTF8, i)
			}
			i += n
		}
	}
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
