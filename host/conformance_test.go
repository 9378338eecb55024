package host_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
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
	ins, err := filepath.Glob(filepath.Join("..", "abi", "testdata", "conformance", "*.in.msgpack"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no conformance vectors: %v", err)
	}
	c := cfg()
	c.MemoryLimit = 256 << 20
	inst, err := m.Instantiate(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { inst.Close(t.Context()) }()
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.msgpack")
		t.Run(name, func(t *testing.T) {
			frame, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(in, ".in.msgpack")
			if inst.Broken() {
				inst.Close(t.Context())
				if inst, err = m.Instantiate(t.Context(), c); err != nil {
					t.Fatal(err)
				}
			}
			got, err := inst.ProcessFrame(frame)
			if wantErr, rerr := os.ReadFile(base + ".err"); rerr == nil {
				msg := strings.TrimSpace(string(wantErr))
				switch {
				case msg == "trap":
					if !errors.Is(err, host.ErrTrap) {
						t.Fatalf("want a trap, got %v", err)
					}
				case !errors.Is(err, host.ErrOperator) || !strings.HasSuffix(err.Error(), ": "+msg):
					t.Fatalf("want operator error %q, got %v", msg, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(base + ".out.msgpack")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s.out.msgpack (%d bytes, want %d)", name, len(got), len(want))
			}
		})
	}
}

// TestGuestStateConformance runs every language's conformance operator over
// the state vectors (abi/testdata/conformance-state), each with a fresh
// state store: outputs must match byte for byte.
func TestGuestStateConformance(t *testing.T) {
	guests := guestbuild.Guests(filepath.Join("..", "examples", "wasm", "conformance"))
	ins, err := filepath.Glob(filepath.Join("..", "abi", "testdata", "conformance-state", "*.in.msgpack"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no state vectors: %v", err)
	}
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
			for _, in := range ins {
				name := strings.TrimSuffix(filepath.Base(in), ".in.msgpack")
				t.Run(name, func(t *testing.T) {
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
					frame, err := os.ReadFile(in)
					if err != nil {
						t.Fatal(err)
					}
					got, err := inst.ProcessFrame(frame)
					if err != nil {
						t.Fatal(err)
					}
					want, err := os.ReadFile(strings.TrimSuffix(in, ".in.msgpack") + ".out.msgpack")
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						gr, _ := abi.DecodeFrame(got, nil)
						wr, _ := abi.DecodeFrame(want, nil)
						for i := range min(len(gr), len(wr)) {
							if !bytes.Equal(gr[i].Value, wr[i].Value) {
								t.Errorf("record %d: value %q, want %q", i, gr[i].Value, wr[i].Value)
							}
						}
						t.Fatalf("output differs from %s.out.msgpack (%d records, want %d)", name, len(gr), len(wr))
					}
				})
			}
		})
	}
}
