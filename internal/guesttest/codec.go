// Package guesttest checks a guest SDK's compiled code in the host engine
// against abi: its frame codec on the conformance vectors and random
// mutations of them, and its state API through the state imports. The
// AssemblyScript and Zig SDKs, whose own tests run outside Go, use it from
// their Go tests.
package guesttest

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// SDK says how to build an SDK's test operators.
type SDK struct {
	Lang abi.Language
	// Build compiles the named test operator and returns the module's
	// path; it skips the test when the toolchain is missing.
	Build func(t testing.TB, name string) string
}

// Guest is a test operator loaded in a host engine.
type Guest struct {
	M    *host.Module
	inst *host.Instance
}

// Load builds and loads a test operator, checking its language.
func (s SDK) Load(t testing.TB, name string) *Guest {
	t.Helper()
	e, err := host.NewEngine(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(t.Context()) })
	m, err := e.Load(t.Context(), s.Build(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if info := m.Info(); info.Language != s.Lang {
		t.Fatalf("language %v, want %v", info.Language, s.Lang)
	}
	return &Guest{M: m}
}

// check runs frame through the guest and compares the result with abi's.
func (g *Guest) check(t testing.TB, frame []byte) {
	t.Helper()
	if g.inst == nil || g.inst.Broken() {
		var err error
		if g.inst, err = g.M.Instantiate(t.Context(), host.InstanceConfig{MemoryLimit: 256 << 20, Deadline: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	recs, derr := abi.DecodeFrame(frame, nil)
	var want []byte
	if derr == nil {
		want = abi.AppendFrame(nil, recs) // before the guest call: recs alias frame
	}
	got, err := g.inst.ProcessFrame(frame)
	switch {
	case g.inst.Broken():
		t.Fatalf("frame %x: the guest trapped: %v", frame, err)
	case derr != nil:
		if !errors.Is(err, host.ErrOperator) || !strings.HasSuffix(err.Error(), ": decoding input batch: "+derr.Error()) {
			t.Fatalf("frame %x: abi: %v; guest: %v", frame, derr, err)
		}
	case err != nil:
		t.Fatalf("frame %x: %v", frame, err)
	case !bytes.Equal(got, want):
		t.Fatalf("frame %x:\n got  %x\n want %x", frame, got, want)
	}
}

func seeds(t testing.TB) [][]byte {
	root, err := guestbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	ins, err := filepath.Glob(filepath.Join(root, "abi", "testdata", "conformance", "*.in.msgpack"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no conformance vectors: %v", err)
	}
	var out [][]byte
	for _, in := range ins {
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	// Every field in another encoding: array16s, str key, bin16 value,
	// int64 timestamp, headers with a nil name, an output and an extra field.
	out = append(out, []byte{0xdc, 0, 1, 0xdc, 0, 1, 0x96, 0xd9, 1, 'k', 0xc5, 0, 1, 'v', 0xd3, 0, 0, 0, 0, 0, 0, 0, 5,
		0xdc, 0, 2, 0xc0, 0xc4, 1, 'x', 0xa1, 'o', 0xc3})
	return out
}

// Mutations runs the conformance vectors and random mutations of them
// (bytes changed, inserted and cut) through each named test operator, an
// identity map or a re-encoding one: the output must be what abi makes of
// the input, or abi's decoding error.
func (s SDK) Mutations(t *testing.T, operators ...string) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for _, name := range operators {
		t.Run(name, func(t *testing.T) {
			g := s.Load(t, name)
			ss := seeds(t)
			for _, s := range ss {
				g.check(t, bytes.Clone(s))
			}
			rng := rand.New(rand.NewSource(1))
			special := []byte{0xc0, 0xc4, 0xc5, 0xd9, 0xcf, 0xd3, 0x90, 0x92, 0x94, 0x95, 0xdc, 0xdd, 0xc1, 0xa0, 0xff}
			for i := 0; i < n; i++ {
				f := bytes.Clone(ss[rng.Intn(len(ss))])
				if len(f) > 4096 {
					continue
				}
				for k := rng.Intn(4) + 1; k > 0; k-- {
					switch p := rng.Intn(len(f) + 1); rng.Intn(4) {
					case 0:
						if p < len(f) {
							f[p] = byte(rng.Intn(256))
						}
					case 1:
						f = f[:p]
					case 2:
						f = append(f[:p], append([]byte{byte(rng.Intn(256))}, f[p:]...)...)
					case 3:
						if p < len(f) {
							f[p] = special[rng.Intn(len(special))]
						}
					}
				}
				g.check(t, f)
			}
		})
	}
}

// Fuzz is Mutations' check of one operator for go test -fuzz.
func (s SDK) Fuzz(f *testing.F, operator string) {
	for _, seed := range seeds(f) {
		if len(seed) <= 4096 {
			f.Add(seed)
		}
	}
	g := s.Load(f, operator)
	f.Fuzz(func(t *testing.T, frame []byte) { g.check(t, frame) })
}

// Script returns a Build that compiles DIR/NAME+EXT with the SDK's
// ./build-guest script (run from the SDK's directory) as `./build-guest SRC
// OUT.wasm`. A script exiting with status 3 (its toolchain is missing)
// skips the test, unless the test command asked for every toolchain.
func Script(dir, ext string) func(t testing.TB, name string) string {
	return func(t testing.TB, name string) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), name+".wasm")
		cmd := exec.Command("./build-guest", filepath.Join(dir, name+ext), out)
		msg, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 && !guestbuild.Required() {
			t.Skipf("%s", bytes.TrimSpace(msg))
		}
		if err != nil {
			t.Fatalf("build-guest %s: %v\n%s", name, err, msg)
		}
		return out
	}
}
