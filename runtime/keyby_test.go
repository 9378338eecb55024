package runtime_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// TestKeyByRoutesByJSONField guards issue #9 item 4: an operator had no way
// to key records by a field of their value, short of an extra stage or the
// source's key_field. With key_by: {json: user.name} the engine keys each
// record by that field before routing it, so with parallelism 2 every
// record of one user meets one instance and a keyed counter per user is
// exact, although the records arrive with unique keys.
func TestKeyByRoutesByJSONField(t *testing.T) {
	checkNoLeaks(t)
	const n, users = 6000, 13
	reg := testRegistry(nil)
	f := addTally(reg)
	spec := parse(t, reg, `
pipeline: keyby
batch: {size: 64, linger: 1ms}
source: {test: {}}
operators: [{tally: {parallelism: 2, key_by: {json: user.name}}}]
sink: {test: {}}
state: {query: "off"}
`)
	want := map[string]int64{}
	recs := make([]runtime.Record, n)
	for i := range recs {
		name := fmt.Sprintf("u%d", i%users)
		if i%users == 0 {
			name = `z\u00fcri \"q\"` // escapes are decoded in the key
		}
		recs[i] = runtime.Record{Key: fmt.Appendf(nil, "id-%d", i), Value: fmt.Appendf(nil, `{"id":%d,"user":{"name":"%s","n":1}}`, i, name)}
		if i%users == 0 {
			name = `züri "q"`
		}
		want[name]++
	}
	sink := runAll(t, spec, &memSource{recs: recs, chunk: 250})
	f.mu.Lock()
	defer f.mu.Unlock()
	met := map[int]bool{}
	for name, c := range want {
		if got := f.total[name]; got != c {
			t.Errorf("user %q counted %d, want %d", name, got, c)
		}
		if len(f.instances[name]) != 1 {
			t.Errorf("user %q met instances %v, want one", name, f.instances[name])
		}
		for i := range f.instances[name] {
			met[i] = true
		}
	}
	if len(met) != 2 {
		t.Errorf("the users met instances %v, want both", met)
	}
	if len(f.total) != users {
		t.Errorf("%d keys counted, want %d (one per user)", len(f.total), users)
	}
	out := sink.records()
	if len(out) != n {
		t.Errorf("%d records out, want %d", len(out), n)
	}
	for _, r := range out {
		if _, ok := want[string(r.Key)]; !ok {
			t.Fatalf("record %s reached the sink keyed %q, not by its user", r.Value, r.Key)
		}
	}
}

// TestKeyByForms guards issue #9 item 4: what key_by keys a record by, for
// each form and value kind; a record without the field or header is
// unkeyed, never failed, and counted in Stats.
func TestKeyByForms(t *testing.T) {
	tests := []struct {
		name, keyBy string
		rec         runtime.Record
		want        string // "<nil>" for unkeyed
	}{
		{"string field", `{json: user.name}`, runtime.Record{Key: []byte("old"), Value: []byte(`{"user":{"name":"ada"}}`)}, "ada"},
		{"string with escapes", `{json: a}`, runtime.Record{Value: []byte(`{"a":"x\ty\u00e9"}`)}, "x\tyé"},
		{"empty string", `{json: a}`, runtime.Record{Value: []byte(`{"a":""}`)}, ""},
		{"number as written", `{json: n}`, runtime.Record{Value: []byte(`{"n":1.50}`)}, "1.50"},
		{"bool", `{json: b}`, runtime.Record{Value: []byte(`{"b":true}`)}, "true"},
		{"object as written", `{json: o}`, runtime.Record{Value: []byte(`{"o":{"x":[1, 2]}}`)}, `{"x":[1, 2]}`},
		{"array index", `{json: items.1.id}`, runtime.Record{Value: []byte(`{"items":[{"id":"a"},{"id":"b"}]}`)}, "b"},
		{"null is unkeyed", `{json: a}`, runtime.Record{Key: []byte("old"), Value: []byte(`{"a":null}`)}, "<nil>"},
		{"missing field is unkeyed", `{json: a.b}`, runtime.Record{Key: []byte("old"), Value: []byte(`{"a":{}}`)}, "<nil>"},
		{"not JSON is unkeyed", `{json: a}`, runtime.Record{Key: []byte("old"), Value: []byte(`a=1`)}, "<nil>"},
		{"invalid JSON is unkeyed", `{json: a}`, runtime.Record{Value: []byte(`{"a":"x",}`)}, "<nil>"},
		{"header", `{header: user}`, runtime.Record{Key: []byte("old"), Headers: []runtime.Header{{Name: "other", Value: []byte("no")}, {Name: "user", Value: []byte("bob")}}}, "bob"},
		{"empty header", `{header: user}`, runtime.Record{Headers: []runtime.Header{{Name: "user"}}}, ""},
		{"missing header is unkeyed", `{header: user}`, runtime.Record{Key: []byte("old"), Headers: []runtime.Header{{Name: "User", Value: []byte("no")}}}, "<nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := testRegistry(nil)
			spec := parse(t, reg, fmt.Sprintf(`
pipeline: forms
source: {test: {}}
operators: [{func: {fn: upper, key_by: %s}}]
sink: {test: {}}
`, tt.keyBy))
			sink := &memSink{}
			p, err := runtime.Build(spec, runtime.WithSource(&memSource{recs: []runtime.Record{tt.rec}, chunk: 1}), runtime.WithSink(sink))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			out := sink.records()
			if len(out) != 1 {
				t.Fatalf("%d records out, want 1", len(out))
			}
			got := string(out[0].Key)
			if out[0].Key == nil {
				got = "<nil>"
			}
			if got != tt.want {
				t.Errorf("key %q, want %q", got, tt.want)
			}
			if n, unkeyed := p.Stats().Operators[0].Unkeyed, tt.want == "<nil>"; (n == 1) != unkeyed || n > 1 {
				t.Errorf("Stats counts %d unkeyed records, want %d", n, map[bool]int{true: 1}[unkeyed])
			}
		})
	}
}

// TestKeyByConfigProblems guards issue #9 item 4: a key_by that names
// nothing, both forms, an unknown form or a malformed path is a config
// problem at its field path, not a run-time surprise.
func TestKeyByConfigProblems(t *testing.T) {
	tests := []struct {
		name, keyBy, want string
	}{
		{"empty path", `{json: ""}`, `operators[0].func.key_by.json: empty path`},
		{"empty segment", `{json: user..name}`, `operators[0].func.key_by.json: path "user..name" has an empty segment`},
		{"trailing dot", `{json: user.}`, `operators[0].func.key_by.json: path "user." has an empty segment`},
		{"empty header", `{header: ""}`, `operators[0].func.key_by.header: empty header name`},
		{"both forms", `{json: a, header: b}`, `operators[0].func.key_by: set one of json and header, not both`},
		{"no form", `{}`, `operators[0].func.key_by: empty: set json: PATH`},
		{"unknown form", `{jsn: a}`, `operators[0].func.key_by.jsn: unknown field`},
		{"a scalar", `user.name`, `operators[0].func.key_by: want a map of settings`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runtime.Parse(fmt.Appendf(nil, `
pipeline: problems
source: {test: {}}
operators: [{func: {fn: upper, key_by: %s}}]
sink: {test: {}}
`, tt.keyBy), testRegistry(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want a problem %q", err, tt.want)
			}
		})
	}
}

// TestKeyByUnkeyedWarnsOnce guards issue #9 item 4: records key_by finds no
// key in are counted, each one, but warned about only once, so a stream of
// non-JSON records cannot flood the log.
func TestKeyByUnkeyedWarnsOnce(t *testing.T) {
	spec := parse(t, testRegistry(nil), `
pipeline: warn
batch: {size: 3, linger: 1ms}
source: {test: {}}
operators: [{name: up, func: {fn: upper, parallelism: 2, key_by: {json: id}}}]
sink: {test: {}}
`)
	recs := make([]runtime.Record, 100)
	for i := range recs {
		recs[i] = runtime.Record{Value: fmt.Appendf(nil, `{"id":%d}`, i)}
		if i%4 == 0 {
			recs[i].Value = []byte("not json")
		}
	}
	var log bytes.Buffer
	p, err := runtime.Build(spec, runtime.WithSource(&memSource{recs: recs, chunk: 10}), runtime.WithSink(&memSink{}),
		runtime.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().Operators[0].Unkeyed; n != 25 {
		t.Errorf("Stats counts %d unkeyed records, want 25", n)
	}
	if n := strings.Count(log.String(), "no key where its key_by looks"); n != 1 {
		t.Errorf("%d warnings about unkeyed records, want 1:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), `operator=up key_by="{json: id}"`) {
		t.Errorf("the warning does not name the operator and its key_by:\n%s", log.String())
	}
}
