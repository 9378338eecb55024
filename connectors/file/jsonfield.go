package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// topField returns the raw JSON text of the top-level member name of doc,
// which must be valid JSON (checked with json.Valid). When the member
// repeats, the last one wins, as with encoding/json. It returns false when
// doc is not an object or has no such member.
func topField(doc []byte, name string) ([]byte, bool) {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, false
	}
	var found []byte
	ok := false
	i = skipSpace(doc, i+1)
	if doc[i] == '}' {
		return nil, false
	}
	for {
		kEnd := skipString(doc, i)
		match := keyIs(doc[i:kEnd], name)
		i = skipSpace(doc, kEnd)
		i = skipSpace(doc, i+1) // ':'
		vEnd := skipValue(doc, i)
		if match {
			found, ok = doc[i:vEnd], true
		}
		i = skipSpace(doc, vEnd)
		if doc[i] != ',' {
			return found, ok
		}
		i = skipSpace(doc, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// keyIs reports whether the quoted JSON string raw is name.
func keyIs(raw []byte, name string) bool {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == name
}

// appendKey appends the key a field's raw JSON value gives: a string's
// text, nothing for null (ok false), or the JSON text of anything else.
func appendKey(dst, raw []byte) ([]byte, bool) {
	switch {
	case string(raw) == "null":
		return dst, false
	case raw[0] == '"':
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return append(dst, inner...), true
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return append(dst, inner...), true
		}
		return append(dst, s...), true
	}
	return append(dst, raw...), true
}

var errBadTimestamp = errors.New("not an RFC 3339 time or epoch milliseconds")

// parseTimestamp reads a field's raw JSON value as epoch milliseconds: an
// RFC 3339 string or a number of milliseconds. null gives ok false.
func parseTimestamp(raw []byte) (ms int64, ok bool, err error) {
	switch {
	case string(raw) == "null":
		return 0, false, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", raw, errBadTimestamp)
		}
		return t.UnixMilli(), true, nil
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return n, true, nil
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f > 1<<62 || f < -(1<<62) {
			return 0, false, fmt.Errorf("%s: %w", raw, errBadTimestamp)
		}
		return int64(f), true, nil
	}
	return 0, false, fmt.Errorf("%s: %w", raw, errBadTimestamp)
}
