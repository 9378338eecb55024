package host_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
)

// buildGoGuest builds a Go guest package for wasip1 from source.
func buildGoGuest(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg)+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, b)
	}
	return out
}

// TestGoGuestConformance runs the Go SDK's conformance operator, compiled to
// Wasm, over every vector in abi/testdata/conformance: outputs must match
// byte for byte, errors and traps must come back classified.
func TestGoGuestConformance(t *testing.T) {
	e := newEngine(t)
	m, err := e.Load(t.Context(), buildGoGuest(t, "./examples/wasm/conformance/go"))
	if err != nil {
		t.Fatal(err)
	}
	if info := m.Info(); info.Language != abi.LanguageGo || info.ABIVersion != 1 {
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
