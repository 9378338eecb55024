package query

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// A response is built once as a tree of doc (objects), []any, strings,
// numbers and the byte types below, then written as JSON or msgpack. Bytes
// keep their type until then because the two formats show them
// differently: JSON has no bytes, so a field "value" of bytes becomes
// "value" (text) or "value_base64"; msgpack carries them as bin.
type doc = map[string]any

// bytesAuto is shown as text when it is printable UTF-8, else base64.
type bytesAuto []byte

// bytesText is shown as text (its validity is checked before).
type bytesText []byte

// bytesB64 is shown as base64 in JSON.
type bytesB64 []byte

// Value decodings (?as=).
const (
	asAuto    = "auto"
	asText    = "text"
	asBase64  = "base64"
	asCounter = "counter"
	asList    = "list"
)

func validAs(as string) bool {
	switch as {
	case asAuto, asText, asBase64, asCounter, asList:
		return true
	}
	return false
}

// printable reports whether b is UTF-8 text that reads as text: no control
// characters other than tab, newline and carriage return.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// decodeError is a value that cannot be shown the way ?as= asks.
type decodeError struct{ msg string }

func (e *decodeError) Error() string { return e.msg }

// putValue adds a value's fields to d, decoded as as says:
//
//	auto     value (text or base64), and counter when it is 8 bytes
//	text     value, which must be UTF-8
//	base64   value as base64 (bin in msgpack)
//	counter  counter: an 8-byte little-endian integer
//	list     list: the elements of a state list
//
// A float64 counter (float, see state.Entry) is shown as a number in
// "float", never as "counter": in auto beside its value as base64, and
// alone for counter.
func putValue(d doc, v []byte, float bool, as string) error {
	if float && (as == asAuto || as == asCounter) {
		if as == asAuto {
			d["value"] = bytesB64(v)
		}
		d["float"] = math.Float64frombits(binary.LittleEndian.Uint64(v))
		return nil
	}
	switch as {
	case asText:
		if !utf8.Valid(v) {
			return &decodeError{"the value is not UTF-8 text; ask for as=base64"}
		}
		d["value"] = bytesText(v)
	case asBase64:
		d["value"] = bytesB64(v)
	case asCounter:
		if len(v) != 8 {
			return &decodeError{fmt.Sprintf("the value is %d bytes, not an 8-byte counter", len(v))}
		}
		d["counter"] = int64(binary.LittleEndian.Uint64(v))
	case asList:
		items, err := state.ListItems(v)
		if err != nil {
			return &decodeError{"the value is not a state list: " + err.Error()}
		}
		l := make([]any, len(items))
		for i, it := range items {
			l[i] = bytesAuto(it)
		}
		d["list"] = l
	default:
		d["value"] = bytesAuto(v)
		if len(v) == 8 {
			d["counter"] = int64(binary.LittleEndian.Uint64(v))
		}
	}
	return nil
}

// entryDoc describes one state entry. A value that cannot be decoded as
// asked is shown as base64 with an "error".
func entryDoc(e state.Entry, as string) doc {
	d := doc{"name": bytesAuto(e.Name)}
	if err := putValue(d, e.Value, e.Float, as); err != nil {
		d["error"] = err.Error()
		d["value"] = bytesB64(e.Value)
	}
	if !e.Expiry.IsZero() {
		d["expiry"] = e.Expiry.UTC().Format(time.RFC3339Nano)
	}
	return d
}

// wantsMsgpack reports whether the request accepts msgpack.
func wantsMsgpack(r *http.Request) bool {
	for _, a := range r.Header.Values("Accept") {
		for _, part := range strings.Split(a, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "application/msgpack", "application/x-msgpack", "application/vnd.msgpack":
				return true
			}
		}
	}
	return false
}

func writeDoc(w http.ResponseWriter, r *http.Request, status int, d doc) {
	var body []byte
	var err error
	if wantsMsgpack(r) {
		w.Header().Set("Content-Type", "application/msgpack")
		body, err = abi.AppendValue(nil, forMsgpack(d))
	} else {
		w.Header().Set("Content-Type", "application/json")
		body, err = json.Marshal(forJSON(d))
		body = append(body, '\n')
	}
	if err != nil { // a bug: every type in a doc is encodable
		http.Error(w, "encoding the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	w.Write(body)
}

func writeError(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	writeDoc(w, r, status, doc{"error": fmt.Sprintf(format, args...), "status": status})
}

// forJSON rewrites byte fields for JSON: "k" text or "k_base64".
func forJSON(v any) any {
	switch x := v.(type) {
	case doc:
		out := make(doc, len(x))
		for k, e := range x {
			switch b := e.(type) {
			case bytesAuto:
				if printable(b) {
					out[k] = string(b)
				} else {
					out[k+"_base64"] = base64.StdEncoding.EncodeToString(b)
				}
			case bytesText:
				out[k] = string(b)
			case bytesB64:
				out[k+"_base64"] = base64.StdEncoding.EncodeToString(b)
			default:
				out[k] = forJSON(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			switch b := e.(type) {
			case bytesAuto: // a list element: an object, as a field would be
				out[i] = forJSON(doc{"value": b})
			default:
				out[i] = forJSON(e)
			}
		}
		return out
	}
	return v
}

// forMsgpack rewrites byte fields for msgpack: bin, or str for text.
func forMsgpack(v any) any {
	switch x := v.(type) {
	case doc:
		out := make(doc, len(x))
		for k, e := range x {
			out[k] = forMsgpack(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = forMsgpack(e)
		}
		return out
	case bytesAuto:
		return []byte(x)
	case bytesB64:
		return []byte(x)
	case bytesText:
		return string(x)
	}
	return v
}
