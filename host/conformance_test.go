package host_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/internal/vectors"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// buildGuest builds one language's guest from source; a missing toolchain
// skips the test unless the test command asked for every toolchain.
func buildGuest(t *testing.T, g guestbuild.Guest) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), g.Lang+".wasm")
	err := guestbuild.Build(g.Dir, out)
	if errors.Is(err, guestbuild.ErrNoToolchain) && !guestbuild.Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGuestConformance runs every language's conformance operator
// (examples/wasm/conformance/<language>), compiled to Wasm from source, over
// every vector in abi/testdata/conformance: outputs must match byte for
// byte, errors and traps must come back classified.
func TestGuestConformance(t *testing.T) {
	guests := guestbuild.Guests(filepath.Join("..", "examples", "wasm", "conformance"))
	if len(guests) == 0 {
		t.Fatal("no conformance guests under examples/wasm/conformance")
	}
	for _, g := range guests {
		t.Run(g.Lang, func(t *testing.T) { testConformance(t, g) })
	}
}

var languages = map[string]abi.Language{
	"go": abi.LanguageGo, "rust": abi.LanguageRust, "c": abi.LanguageC,
	"assemblyscript": abi.LanguageAssemblyScript, "zig": abi.LanguageZig,
}

func testConformance(t *testing.T, g guestbuild.Guest) {
	e := newEngine(t)
	m, err := e.Load(t.Context(), buildGuest(t, g))
	if err != nil {
		t.Fatal(err)
	}
	if info := m.Info(); info.Language != languages[g.Lang] || info.ABIVersion != 1 {
		t.Fatalf("info: language %v, ABI %d", info.Language, info.ABIVersion)
	}
	c := cfg()
	c.MemoryLimit = 256 << 20
	inst, err := m.Instantiate(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { inst.Close(t.Context()) }()
	for _, v := range vectors.Load(t, vectors.Conformance) {
		t.Run(v.Name, func(t *testing.T) {
			if inst.Broken() {
				inst.Close(t.Context())
				if inst, err = m.Instantiate(t.Context(), c); err != nil {
					t.Fatal(err)
				}
			}
			got, err := inst.ProcessFrame(v.In)
			v.Check(t, got, err, hostErrors)
		})
		// The runtime's path: the vector's input as a batch, the output
		// indexed into one and encoded again (canonically, outputs kept).
		t.Run("batch/"+v.Name, func(t *testing.T) {
			if inst.Broken() {
				inst.Close(t.Context())
				if inst, err = m.Instantiate(t.Context(), c); err != nil {
					t.Fatal(err)
				}
			}
			var in, out abi.Batch
			// Built as a source's records are (with the layout a guest
			// changing values in place is checked against), when the
			// vector's input is canonical.
			if recs, err := abi.DecodeFrame(v.In, nil); err == nil && bytes.Equal(abi.AppendFrame(nil, recs), v.In) {
				for i := range recs {
					in.Append(&recs[i])
				}
			} else if err := in.SetFrame(v.In, 1<<20); err != nil {
				t.Fatalf("the vector's input: %v", err)
			}
			var got []byte
			err := inst.ProcessBatch(t.Context(), &in, &out)
			if err == nil {
				got = abi.AppendFrame(nil, out.AppendViews(nil))
			}
			v.Check(t, got, err, hostErrors)
		})
	}
}

// hostErrors recognises a guest's trap and its operator errors.
var hostErrors = vectors.Errors{
	Trap: func(err error) bool { return errors.Is(err, host.ErrTrap) },
	Failed: func(err error, msg string) bool {
		return errors.Is(err, host.ErrOperator) && strings.HasSuffix(err.Error(), ": "+msg)
	},
}

// TestGuestStateConformance runs every language's conformance operator over
// the state vectors (abi/testdata/conformance-state), each with a fresh
// state store: outputs must match byte for byte.
func TestGuestStateConformance(t *testing.T) {
	guests := guestbuild.Guests(filepath.Join("..", "examples", "wasm", "conformance"))
	vs := vectors.Load(t, vectors.State)
	for _, g := range guests {
		t.Run(g.Lang, func(t *testing.T) {
			e := newEngine(t)
			m, err := e.Load(t.Context(), buildGuest(t, g))
			if err != nil {
				t.Fatal(err)
			}
			uses := false
			for _, imp := range m.Info().Imports {
				uses = uses || strings.HasPrefix(imp.Name, "state_")
			}
			if !uses {
				t.Fatalf("the %s conformance operator imports no state function: it does not implement the state operations", g.Lang)
			}
			for _, v := range vs {
				t.Run(v.Name, func(t *testing.T) {
					st, _, err := state.Open(state.Options{Dir: t.TempDir(), MaxValue: abi.ConformanceMaxValue})
					if err != nil {
						t.Fatal(err)
					}
					defer st.Close()
					c := cfg()
					c.MemoryLimit = 64 << 20
					c.State = st.NewTxn("conformance")
					inst, err := m.Instantiate(t.Context(), c)
					if err != nil {
						t.Fatal(err)
					}
					defer inst.Close(t.Context())
					got, err := inst.ProcessFrame(v.In)
					v.Check(t, got, err, hostErrors)
				})
			}
		})
	}
}
