// Package vectors reads the ABI's golden conformance vectors
// (abi/testdata/conformance and abi/testdata/conformance-state) and checks
// an operator's result against one, for the tests that replay them: the Go
// SDK natively, the Go conformance example, and every language's module in
// the host.
package vectors

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// Sets of vectors, by directory under abi/testdata.
const (
	Conformance = "conformance"
	State       = "conformance-state"
	// Async vectors carry results in their input frames and list the
	// requests the operator must submit (Vector.Submits).
	Async = "conformance-async"
)

// Vector is one case: an input frame and either the expected output frame
// or the expected error ("trap" for a trap).
type Vector struct {
	Name string
	In   []byte
	Out  []byte
	Err  string
	// Submits, for the async set, is the msgpack array of the requests
	// the operator submits, in order, each a map.
	Submits []byte
}

// Load reads every vector of a set, failing the test when there is none.
func Load(t testing.TB, set string) []Vector {
	t.Helper()
	root, err := guestbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "abi", "testdata", set)
	ins, err := filepath.Glob(filepath.Join(dir, "*.in.msgpack"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no vectors in %s: %v", dir, err)
	}
	var out []Vector
	for _, in := range ins {
		base := strings.TrimSuffix(in, ".in.msgpack")
		v := Vector{Name: filepath.Base(base)}
		if v.In, err = os.ReadFile(in); err != nil {
			t.Fatal(err)
		}
		if e, err := os.ReadFile(base + ".err"); err == nil {
			v.Err = strings.TrimSpace(string(e))
		} else if v.Out, err = os.ReadFile(base + ".out.msgpack"); err != nil {
			t.Fatalf("%s: neither an .err nor an .out.msgpack file: %v", base, err)
		}
		if set == Async {
			if v.Submits, err = os.ReadFile(base + ".submits.msgpack"); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, v)
	}
	return out
}

// Errors says how a runner reports the two kinds of expected failure.
type Errors struct {
	// Trap reports whether err is the trap of a "trap" record.
	Trap func(err error) bool
	// Failed reports whether err is the operator's error with message msg.
	Failed func(err error, msg string) bool
}

// Check compares a run's output frame and error with the vector's.
func (v Vector) Check(t testing.TB, got []byte, err error, errs Errors) {
	t.Helper()
	switch {
	case v.Err == "trap":
		if !errs.Trap(err) {
			t.Fatalf("%s: want a trap, got %v", v.Name, err)
		}
	case v.Err != "":
		if !errs.Failed(err, v.Err) {
			t.Fatalf("%s: want the operator error %q, got %v", v.Name, v.Err, err)
		}
	case err != nil:
		t.Fatalf("%s: %v", v.Name, err)
	case !bytes.Equal(got, v.Out):
		gr, _ := abi.DecodeFrame(got, nil)
		wr, _ := abi.DecodeFrame(v.Out, nil)
		for i := range min(len(gr), len(wr)) {
			if !bytes.Equal(gr[i].Value, wr[i].Value) {
				t.Errorf("%s: record %d: value %q, want %q", v.Name, i, gr[i].Value, wr[i].Value)
				break
			}
		}
		t.Fatalf("%s: output differs from %s.out.msgpack (%d bytes and %d records, want %d and %d)",
			v.Name, v.Name, len(got), len(gr), len(v.Out), len(wr))
	}
}

// CheckSubmits compares the requests an operator submitted (each encoded
// as async_submit received it) with the vector's, as values: a str and a
// bin with the same bytes are equal, and map keys may come in any order.
func (v Vector) CheckSubmits(t testing.TB, got [][]byte) {
	t.Helper()
	wantV, err := abi.DecodeValue(v.Submits)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	want, _ := wantV.([]any)
	if len(got) != len(want) {
		t.Fatalf("%s: %d requests submitted, want %d", v.Name, len(got), len(want))
	}
	for i, g := range got {
		gv, err := abi.DecodeValue(g)
		if err != nil {
			t.Fatalf("%s: request %d: %v", v.Name, i, err)
		}
		if a, b := normal(gv), normal(want[i]); !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: request %d is %v, want %v", v.Name, i, a, b)
		}
	}
}

func normal(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normal(x[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normal(e)
		}
		return out
	case uint64:
		return int64(x)
	}
	return v
}
