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
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// Sets of vectors, by directory under abi/testdata.
const (
	Conformance = "conformance"
	State       = "conformance-state"
)

// Vector is one case: an input frame and either the expected output frame
// or the expected error ("trap" for a trap).
type Vector struct {
	Name string
	In   []byte
	Out  []byte
	Err  string
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
