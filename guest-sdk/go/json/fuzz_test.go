package json_test

import (
	stdjson "encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/wasmstream/wasmstream/guest-sdk/go/json"
)

// depth returns how deep a document encoding/json accepts nests.
func depth(doc []byte) int {
	d, most, inString := 0, 0, false
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			d++
			most = max(most, d)
		case c == ']' || c == '}':
			d--
		}
	}
	return most
}

// FuzzDocument guards issue #9 item 3: on any bytes the reader agrees with
// encoding/json about validity (where encoding/json checks the same rules:
// UTF-8 and the depth limit are the reader's own), never panics, and
// patching a valid document gives a valid one. The vectors' documents are
// the seed corpus, run by every go test.
func FuzzDocument(f *testing.F) {
	for _, v := range vectors {
		f.Add([]byte(v.doc), v.path)
	}
	f.Fuzz(func(t *testing.T, doc []byte, path string) {
		err := json.Valid(doc)
		if utf8.Valid(doc) && depth(doc) <= json.MaxDepth {
			if want := stdjson.Valid(doc); (err == nil) != want {
				t.Fatalf("Valid(%q) = %v, encoding/json says valid=%v", doc, err, want)
			}
		} else if err == nil && !stdjson.Valid(doc) {
			t.Fatalf("Valid(%q) = nil, encoding/json says invalid", doc)
		}
		v, gerr := json.Get(doc, path)
		if err != nil {
			if gerr == nil {
				t.Fatalf("Get on an invalid document found %q", v.Raw)
			}
			return
		}
		if gerr == nil {
			if verr := json.Valid(v.Raw); verr != nil {
				t.Fatalf("Get(%q) = %q, not valid JSON: %v", path, v.Raw, verr)
			}
			var buf []byte
			v.Text(buf)
			v.Int()
			v.Float()
		}
		if out, serr := json.Set(nil, doc, path, []byte(`{"x":[1,"y"]}`)); serr == nil {
			if verr := json.Valid(out); verr != nil {
				t.Fatalf("Set(%q, %q) = %q, not valid JSON: %v", doc, path, out, verr)
			}
		}
		if out, derr := json.Delete(nil, doc, path); derr == nil {
			if verr := json.Valid(out); verr != nil {
				t.Fatalf("Delete(%q, %q) = %q, not valid JSON: %v", doc, path, out, verr)
			}
		}
	})
}
