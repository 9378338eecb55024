package assemblyscript_test

// The AssemblyScript SDK's frame codec, compiled to Wasm and run by the
// host, against abi's reader and writer: for any input frame, an identity
// map must return exactly what abi.DecodeFrame and abi.AppendFrame make of
// it, or fail with abi's decoding error. ./test runs the SDK's own tests in
// node; this checks it in the engine the host actually runs.

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

// operators are test operators in tests/.
var operators = []string{"identity", "reencode"}

// build compiles tests/NAME.ts with build-guest; a missing compiler
// skips the test unless the test command asked for every toolchain.
func build(t testing.TB, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command("./build-guest", filepath.Join("tests", name+".ts"), out)
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

type guest struct {
	m    *host.Module
	inst *host.Instance
}

func load(t testing.TB, name string) *guest {
	t.Helper()
	e, err := host.NewEngine(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(t.Context()) })
	m, err := e.Load(t.Context(), build(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if info := m.Info(); info.Language != abi.LanguageAssemblyScript {
		t.Fatalf("language %v, want AssemblyScript", info.Language)
	}
	return &guest{m: m}
}

// check runs frame through the guest and compares the result with abi's.
func (g *guest) check(t testing.TB, frame []byte) {
	t.Helper()
	if g.inst == nil || g.inst.Broken() {
		var err error
		if g.inst, err = g.m.Instantiate(t.Context(), host.InstanceConfig{MemoryLimit: 256 << 20, Deadline: 10 * time.Second}); err != nil {
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
	ins, err := filepath.Glob(filepath.Join("..", "..", "abi", "testdata", "conformance", "*.in.msgpack"))
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

// TestMutationsMatchABI runs the vectors and random mutations of them
// (bytes changed, inserted and cut) through each test operator.
func TestMutationsMatchABI(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for _, name := range operators {
		t.Run(name, func(t *testing.T) {
			g := load(t, name)
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

// FuzzIdentityMatchesABI is TestMutationsMatchABI's check for go test -fuzz.
func FuzzIdentityMatchesABI(f *testing.F) {
	for _, s := range seeds(f) {
		if len(s) <= 4096 {
			f.Add(s)
		}
	}
	g := load(f, "identity")
	f.Fuzz(func(t *testing.T, frame []byte) { g.check(t, frame) })
}
