// Package lines holds the line formats shared by the connectors that write
// records as lines of text (the file sink, the stdio sinks and the socket
// sink) and the bounded line scanner used by the sources that read them (the
// file and socket sources).
//
// Two formats exist:
//
//   - text: the record's value followed by "\n". Key, timestamp and headers
//     are dropped.
//   - json: one JSON object per line,
//     {"key":…,"value":…,"timestamp":…,"headers":{…},"output":…}. Key and
//     value are JSON strings when they are valid UTF-8, and otherwise base64
//     (standard encoding, padded) under "key_base64" and "value_base64".
//     Absent fields are omitted: a nil key or value, a zero timestamp, no
//     headers, an empty output. Header names and values are strings;
//     invalid UTF-8 in them is replaced by U+FFFD. Repeated header names are
//     written as repeated object members, in order.
//
// The encoder appends to a caller's buffer and does not use reflection, so
// writing a record costs no allocation once the buffer has grown.
package lines

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/wasmstream/wasmstream/abi"
)

// MaxLineLimit is the largest max_line a connector accepts: a line is held
// in memory whole, so the setting bounds the memory one record can take.
const MaxLineLimit = 64 << 20

// Format is a line format.
type Format int

// The line formats.
const (
	Text Format = iota
	JSON
)

// FormatNames is the oneof tag value for config fields that choose a Format.
const FormatNames = "text|json"

// ParseFormat returns the format named s ("text" or "json").
func ParseFormat(s string) (Format, error) {
	switch s {
	case "text", "":
		return Text, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("unknown line format %q (known: text, json)", s)
}

func (f Format) String() string {
	if f == JSON {
		return "json"
	}
	return "text"
}

// Append appends r as one line in format f, with its trailing "\n", to dst.
func Append(dst []byte, r *abi.Record, f Format) []byte {
	if f != JSON {
		dst = append(dst, r.Value...)
		return append(dst, '\n')
	}
	return AppendJSON(dst, r)
}

// AppendJSON appends r as one JSON object line, with its trailing "\n".
func AppendJSON(dst []byte, r *abi.Record) []byte {
	dst = append(dst, '{')
	open := len(dst)
	if r.Key != nil {
		dst = appendBytesField(dst, "key", r.Key)
	}
	if r.Value != nil {
		dst = comma(dst, open)
		dst = appendBytesField(dst, "value", r.Value)
	}
	if r.Timestamp != 0 {
		dst = comma(dst, open)
		dst = append(dst, `"timestamp":`...)
		dst = strconv.AppendInt(dst, r.Timestamp, 10)
	}
	if len(r.Headers) > 0 {
		dst = comma(dst, open)
		dst = append(dst, `"headers":{`...)
		for i := range r.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, r.Headers[i].Name)
			dst = append(dst, ':')
			dst = AppendStringBytes(dst, r.Headers[i].Value)
		}
		dst = append(dst, '}')
	}
	if r.Output != "" {
		dst = comma(dst, open)
		dst = append(dst, `"output":`...)
		dst = AppendString(dst, r.Output)
	}
	return append(dst, '}', '\n')
}

// comma appends the separator before a member unless the object that
// starts at open is still empty.
func comma(dst []byte, open int) []byte {
	if len(dst) > open {
		dst = append(dst, ',')
	}
	return dst
}

// appendBytesField appends `"name":"…"`, or `"name_base64":"…"` when b is
// not valid UTF-8.
func appendBytesField(dst []byte, name string, b []byte) []byte {
	mark := len(dst)
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	if out, ok := appendEscaped(dst, b, false); ok {
		return out
	}
	dst = dst[:mark]
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `_base64":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// AppendString appends s as a JSON string, replacing invalid UTF-8 with
// U+FFFD.
func AppendString(dst []byte, s string) []byte {
	out, _ := appendEscaped(dst, s, true)
	return out
}

// AppendStringBytes appends b as a JSON string, replacing invalid UTF-8 with
// U+FFFD.
func AppendStringBytes(dst []byte, b []byte) []byte {
	out, _ := appendEscaped(dst, b, true)
	return out
}

const hexDigits = "0123456789abcdef"

// safe reports the ASCII bytes that appear in a JSON string unescaped.
var safe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendEscaped appends b as a quoted JSON string (RFC 8259). Invalid UTF-8
// is replaced by U+FFFD when replace is set; otherwise appendEscaped stops
// and returns false, and the caller discards what was appended. U+2028 and
// U+2029 are escaped so the output is also valid JavaScript.
func appendEscaped[T string | []byte](dst []byte, b T, replace bool) ([]byte, bool) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, b[start:i]...)
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
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			if !replace {
				return dst, false
			}
			dst = append(dst, b[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, b[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, b[start:]...)
	return append(dst, '"'), true
}

// decodeRune is utf8.DecodeRune for strings and byte slices alike: the
// first rune of s (which is not empty) and its length, or (RuneError, 1)
// for an invalid encoding.
func decodeRune[T string | []byte](s T) (rune, int) {
	const (
		cont    = 0x80 // continuation bytes are 10xxxxxx: 0x80..0xBF
		contMax = 0xBF
	)
	c0 := s[0]
	n := len(s)
	switch {
	case c0 < utf8.RuneSelf:
		return rune(c0), 1
	case c0 < 0xC2:
		return utf8.RuneError, 1
	case c0 < 0xE0:
		if n < 2 || s[1] < cont || s[1] > contMax {
			return utf8.RuneError, 1
		}
		return rune(c0&0x1F)<<6 | rune(s[1]&0x3F), 2
	case c0 < 0xF0:
		lo, hi := byte(cont), byte(contMax)
		if c0 == 0xE0 {
			lo = 0xA0 // overlong
		} else if c0 == 0xED {
			hi = 0x9F // surrogates
		}
		if n < 3 || s[1] < lo || s[1] > hi || s[2] < cont || s[2] > contMax {
			return utf8.RuneError, 1
		}
		return rune(c0&0x0F)<<12 | rune(s[1]&0x3F)<<6 | rune(s[2]&0x3F), 3
	case c0 < 0xF5:
		lo, hi := byte(cont), byte(contMax)
		if c0 == 0xF0 {
			lo = 0x90 // overlong
		} else if c0 == 0xF4 {
			hi = 0x8F // above U+10FFFF
		}
		if n < 4 || s[1] < lo || s[1] > hi || s[2] < cont || s[2] > contMax || s[3] < cont || s[3] > contMax {
			return utf8.RuneError, 1
		}
		return rune(c0&0x07)<<18 | rune(s[1]&0x3F)<<12 | rune(s[2]&0x3F)<<6 | rune(s[3]&0x3F), 4
	}
	return utf8.RuneError, 1
}
