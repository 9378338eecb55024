package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestTopField(t *testing.T) {
	tests := []struct {
		doc, name string
		want      string
		ok        bool
	}{
		{`{"a":1,"b":"x"}`, "b", `"x"`, true},
		{` { "a" : [1,{"b":2}] , "b" : {"c":"}"} } `, "b", `{"c":"}"}`, true},
		{`{"a":{"b":1}}`, "b", "", false},
		{`{"x\"y":1,"b":true}`, `x"y`, "1", true},
		{`{"\u0062":null}`, "b", "null", true},
		{`{"b":1,"b":2}`, "b", "2", true},
		{`{}`, "b", "", false},
		{`[{"b":1}]`, "b", "", false},
		{`"b"`, "b", "", false},
		{`{"a":"\\","b":-1.5e3}`, "b", "-1.5e3", true},
	}
	for _, tt := range tests {
		got, ok := topField([]byte(tt.doc), tt.name)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("topField(%s, %q) = %s, %v; want %s, %v", tt.doc, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAppendKeyAndTimestamp(t *testing.T) {
	keys := []struct{ raw, want string }{
		{`"abc"`, "abc"}, {`"a\u00e9\n"`, "aé\n"}, {`42`, "42"}, {`{"x":1}`, `{"x":1}`}, {`true`, "true"},
	}
	for _, k := range keys {
		got, ok := appendKey([]byte("p:"), []byte(k.raw))
		if !ok || string(got) != "p:"+k.want {
			t.Errorf("appendKey(%s) = %q, %v", k.raw, got, ok)
		}
	}
	if _, ok := appendKey(nil, []byte("null")); ok {
		t.Error("null gave a key")
	}
	stamps := []struct {
		raw  string
		want int64
		set  bool
		bad  bool
	}{
		{`1700000000123`, 1700000000123, true, false},
		{`-5`, -5, true, false},
		{`1.7e12`, 1700000000000, true, false},
		{`"2024-05-01T12:00:00Z"`, 1714564800000, true, false},
		{`"2024-05-01T14:00:00.25+02:00"`, 1714564800250, true, false},
		{`null`, 0, false, false},
		{`"yesterday"`, 0, false, true},
		{`true`, 0, false, true},
		{`1e300`, 0, false, true},
	}
	for _, s := range stamps {
		ms, set, err := parseTimestamp([]byte(s.raw))
		if ms != s.want || set != s.set || (err != nil) != s.bad {
			t.Errorf("parseTimestamp(%s) = %d, %v, %v", s.raw, ms, set, err)
		}
		if err != nil && !errors.Is(err, errBadTimestamp) {
			t.Errorf("parseTimestamp(%s) error %v is not errBadTimestamp", s.raw, err)
		}
	}
}

// FuzzTopField checks topField against encoding/json.
func FuzzTopField(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":"x"}`), "b")
	f.Add([]byte(`{"a\"":[{"b":"]"}],"b":{"c":[1,2]} }`), "b")
	f.Add([]byte(`{"\u0061":1}`), "a")
	f.Fuzz(func(t *testing.T, doc []byte, name string) {
		if !json.Valid(doc) {
			return
		}
		got, ok := topField(doc, name)
		var m map[string]json.RawMessage
		if json.Unmarshal(doc, &m) != nil {
			if ok {
				t.Fatalf("found %q in a non-object %s", name, doc)
			}
			return
		}
		want, wantOK := m[name]
		if ok != wantOK || !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Fatalf("topField(%s, %q) = %s, %v; encoding/json: %s, %v", doc, name, got, ok, want, wantOK)
		}
	})
}
