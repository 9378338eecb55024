package json_test

import (
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/wasmstream/wasmstream/guest-sdk/go/json"
)

// errKind names err as the vectors do.
func errKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{json.ErrSyntax, "syntax"}, {json.ErrUTF8, "utf8"}, {json.ErrDepth, "depth"},
		{json.ErrNotFound, "notfound"}, {json.ErrType, "type"}, {json.ErrRange, "range"},
	} {
		if errors.Is(err, k.err) {
			return "error:" + k.name
		}
	}
	return "error:" + err.Error()
}

// run applies one vector's op and returns what the vectors file calls its
// result.
func run(v vector) string {
	doc := []byte(v.doc)
	var buf [8]byte
	result := func(s string, err error) string {
		if err != nil {
			return errKind(err)
		}
		return s
	}
	switch v.op {
	case "valid":
		return result("ok", json.Valid(doc))
	case "quote":
		return string(json.AppendString(nil, v.arg))
	case "set":
		out, err := json.Set(nil, doc, v.path, []byte(v.arg))
		return result(string(out), err)
	case "delete":
		out, err := json.Delete(nil, doc, v.path)
		return result(string(out), err)
	}
	val, err := json.Get(doc, v.path)
	if v.op == "equals" {
		return strconv.FormatBool(err == nil && val.TextEquals(v.arg))
	}
	if err != nil {
		return errKind(err)
	}
	switch v.op {
	case "kind":
		return val.Kind.String()
	case "raw":
		return string(val.Raw)
	case "text":
		s, err := val.Text(buf[:0])
		return result(string(s), err)
	case "int":
		n, err := val.Int()
		return result(strconv.FormatInt(n, 10), err)
	case "float":
		f, err := val.Float()
		return result(strconv.FormatFloat(f, 'g', -1, 64), err)
	case "bool":
		b, err := val.Bool()
		return result(strconv.FormatBool(b), err)
	}
	return "unknown op " + v.op
}

// TestVectors guards issue #9 item 3: the Go SDK's JSON reader and writer
// give every result the shared vectors file expects.
func TestVectors(t *testing.T) {
	for _, v := range readVectors(t) {
		t.Run(v.op+"/"+v.name, func(t *testing.T) {
			got := run(v)
			if got != v.want {
				t.Errorf("%s %q on %.80q path %q arg %q: got %q, want %q", v.op, v.name, v.doc, v.path, v.arg, got, v.want)
			}
			if v.op == "float" && v.want == "-0" {
				val, _ := json.Get([]byte(v.doc), v.path)
				if f, _ := val.Float(); !math.Signbit(f) {
					t.Errorf("got +0, want -0")
				}
			}
		})
	}
}

// TestWriter guards issue #9 item 3: the Writer places commas and colons
// and refuses misuse instead of writing invalid JSON.
func TestWriter(t *testing.T) {
	tests := []struct {
		name  string
		build func(w *json.Writer)
		want  string
		err   bool
	}{
		{"object", func(w *json.Writer) {
			w.BeginObject()
			w.Key("id")
			w.Int(-7)
			w.Key("q\"")
			w.Text("a\nb")
			w.Key("tags")
			w.BeginArray()
			w.Bool(true)
			w.Null()
			w.Float(1.5)
			w.BeginObject()
			w.EndObject()
			w.Raw([]byte(`[1,2]`))
			w.EndArray()
			w.EndObject()
		}, `{"id":-7,"q\"":"a\nb","tags":[true,null,1.5,{},[1,2]]}`, false},
		{"scalar", func(w *json.Writer) { w.TextBytes([]byte("x")) }, `"x"`, false},
		{"floats", func(w *json.Writer) {
			w.BeginArray()
			for _, f := range []float64{0, math.Copysign(0, -1), 1e21, 1e-7, 123456789, math.NaN(), math.Inf(1)} {
				w.Float(f)
			}
			w.EndArray()
		}, `[0,-0,1e+21,1e-07,123456789,null,null]`, false},
		{"value without key", func(w *json.Writer) { w.BeginObject(); w.Int(1) }, "", true},
		{"key in array", func(w *json.Writer) { w.BeginArray(); w.Key("a") }, "", true},
		{"two keys", func(w *json.Writer) { w.BeginObject(); w.Key("a"); w.Key("b") }, "", true},
		{"key without value", func(w *json.Writer) { w.BeginObject(); w.Key("a"); w.EndObject() }, "", true},
		{"wrong end", func(w *json.Writer) { w.BeginArray(); w.EndObject() }, "", true},
		{"end without begin", func(w *json.Writer) { w.EndArray() }, "", true},
		{"unclosed", func(w *json.Writer) { w.BeginArray() }, "", true},
		{"two documents", func(w *json.Writer) { w.Int(1); w.Int(2) }, "", true},
		{"too deep", func(w *json.Writer) {
			for range json.MaxDepth + 1 {
				w.BeginArray()
			}
		}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w json.Writer
			w.Reset(nil)
			tt.build(&w)
			out, err := w.Bytes()
			if tt.err {
				if !errors.Is(err, json.ErrWriter) {
					t.Fatalf("got %q, %v; want ErrWriter", out, err)
				}
				return
			}
			if err != nil || string(out) != tt.want {
				t.Fatalf("got %q, %v; want %q", out, err, tt.want)
			}
			if err := json.Valid(out); err != nil {
				t.Fatalf("wrote invalid JSON %q: %v", out, err)
			}
		})
	}
}

// TestWriterMaxDepth guards issue #9 item 3: a Writer nests exactly as deep
// as the reader accepts.
func TestWriterMaxDepth(t *testing.T) {
	var w json.Writer
	for range json.MaxDepth {
		w.BeginArray()
	}
	for range json.MaxDepth {
		w.EndArray()
	}
	out, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Valid(out); err != nil {
		t.Fatal(err)
	}
}

var record = []byte(`{"id":12345,"user":{"name":"ada","country":"CH"},"event":"click","amount":12.5,"tags":["a","b"],"ok":true}`)

// TestNoAllocations guards issue #9 item 3: reading fields, comparing and
// decoding text, and building or patching a record into a reused buffer
// allocate nothing.
func TestNoAllocations(t *testing.T) {
	buf := make([]byte, 0, 256)
	escaped := []byte(`{"s":"a\u00e9\n"}`)
	bob := []byte(`"bob"`)
	paths := []string{"event", "user.name", "nope"}
	vals := make([]json.Value, len(paths))
	var w json.Writer
	allocs := testing.AllocsPerRun(100, func() {
		v, err := json.Get(record, "user.country")
		if err != nil || !v.TextEquals("CH") {
			t.Fatal("user.country")
		}
		if _, err := json.Get(record, "missing"); err != json.ErrNotFound {
			t.Fatal(err)
		}
		if err := json.GetAll(record, paths, vals); err != nil || !vals[0].TextEquals("click") || vals[2].Exists() {
			t.Fatal("GetAll", err)
		}
		n, _ := json.Get(record, "id")
		if i, err := n.Int(); err != nil || i != 12345 {
			t.Fatal(i, err)
		}
		a, _ := json.Get(record, "amount")
		if f, err := a.Float(); err != nil || f != 12.5 {
			t.Fatal(f, err)
		}
		s, _ := json.Get(escaped, "s")
		if txt, err := s.Text(buf[:0]); err != nil || string(txt) != "a\u00e9\n" {
			t.Fatal(txt, err)
		}
		if _, err := json.Set(buf[:0], record, "user.name", bob); err != nil {
			t.Fatal(err)
		}
		w.Reset(buf[:0])
		w.BeginObject()
		w.Key("id")
		w.Raw(n.Raw)
		w.Key("name")
		w.Text("ada")
		w.EndObject()
		if _, err := w.Bytes(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per record, want 0", allocs)
	}
}

func BenchmarkGet(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(record)))
	for b.Loop() {
		v, err := json.Get(record, "user.country")
		if err != nil || !v.TextEquals("CH") {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetAll(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(record)))
	paths := []string{"event", "user.name"}
	vals := make([]json.Value, 2)
	for b.Loop() {
		if err := json.GetAll(record, paths, vals); err != nil || !vals[0].TextEquals("click") {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(record)))
	buf := make([]byte, 0, 256)
	bob := []byte(`"bob"`)
	for b.Loop() {
		if _, err := json.Set(buf[:0], record, "user.name", bob); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGetAllMatchesGet guards issue #9 item 3: looking up several paths in
// one pass finds what one Get per path finds, for every vector's document
// and path, next to other paths that share its prefix or lead elsewhere.
func TestGetAllMatchesGet(t *testing.T) {
	for _, v := range readVectors(t) {
		switch v.op {
		case "valid", "quote", "set", "delete":
			continue
		}
		doc := []byte(v.doc)
		paths := []string{"id", v.path, "", v.path + ".0", "tags.2.deep.1", v.path}
		vals := make([]json.Value, len(paths))
		err := json.GetAll(doc, paths, vals)
		for i, p := range paths {
			want, werr := json.Get(doc, p)
			if werr == json.ErrNotFound {
				werr = nil
			}
			if (err == nil) != (werr == nil) || (err != nil && errKind(err) != errKind(werr)) {
				t.Fatalf("%s %q: GetAll error %v, Get(%q) error %v", v.op, v.name, err, p, werr)
			}
			if err == nil && (vals[i].Kind != want.Kind || string(vals[i].Raw) != string(want.Raw)) {
				t.Errorf("%s %q: GetAll path %q = %v %q, Get = %v %q", v.op, v.name, p, vals[i].Kind, vals[i].Raw, want.Kind, want.Raw)
			}
		}
	}
	vals := make([]json.Value, json.MaxPaths+1)
	if err := json.GetAll(record, make([]string, json.MaxPaths+1), vals); err == nil {
		t.Error("GetAll accepted more than MaxPaths paths")
	}
	if err := json.GetAll(record, []string{"a", "b"}, vals[:1]); err == nil {
		t.Error("GetAll accepted fewer values than paths")
	}
}
