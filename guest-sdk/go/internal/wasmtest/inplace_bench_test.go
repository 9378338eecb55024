package wasmtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmstream/wasmstream/abi"
)

// wasmShapes are the guests BenchmarkWasmProcess runs: the uppercase example
// and each handler shape of testdata/benchguest (selected by build tag).
var wasmShapes = []struct {
	name, pkg, tags string
}{
	{"uppercase", "./examples/wasm/uppercase/go", ""},
	{"Map", "./guest-sdk/go/testdata/benchguest", ""},
	{"MapIdentity", "./guest-sdk/go/testdata/benchguest", "identity"},
	{"MapInPlace", "./guest-sdk/go/testdata/benchguest", "inplace"},
	{"MapInPlaceIdentity", "./guest-sdk/go/testdata/benchguest", "inplaceidentity"},
	{"MapNewValue", "./guest-sdk/go/testdata/benchguest", "mapcopy"},
	{"FilterAll", "./guest-sdk/go/testdata/benchguest", "filter"},
	{"FilterHalf", "./guest-sdk/go/testdata/benchguest", "filterhalf"},
	{"FlatMap", "./guest-sdk/go/testdata/benchguest", "flatmap"},
}

// BenchmarkWasmProcess measures the SDK inside a real Wasm guest: each
// shape is built for wasip1 as users build operators and its process export
// is called on a batch of 1000 records of 100 bytes (the input of the
// host's BenchmarkInstrumentCost), with no engine around it: alloc, write
// the frame, process, as the host does per batch. WASMSTREAM_BENCH_MODULES,
// a comma-separated list of .wasm files, runs those modules instead.
//
//	go test -run '^$' -bench WasmProcess -count 5 ./guest-sdk/go/internal/wasmtest
func BenchmarkWasmProcess(b *testing.B) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skipf("the go tool is needed to build the guests: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt, lastErr := guestRuntime(b, ctx)
	defer rt.Close(ctx)
	recs := make([]abi.Record, 1000)
	for i := range recs {
		recs[i].Value = bytes.Repeat([]byte{'a' + byte(i%26)}, 100)
	}
	frame := abi.AppendFrame(nil, recs)
	type module struct{ name, path, pkg, tags string }
	var mods []module
	if list := os.Getenv("WASMSTREAM_BENCH_MODULES"); list != "" {
		// Modules built elsewhere, say from two revisions of the SDK, to
		// compare in one run: WASMSTREAM_BENCH_MODULES=old.wasm,new.wasm.
		for _, path := range strings.Split(list, ",") {
			mods = append(mods, module{name: filepath.Base(path), path: path})
		}
	} else {
		for _, s := range wasmShapes {
			mods = append(mods, module{name: s.name, pkg: s.pkg, tags: s.tags})
		}
	}
	// The modules are built into a directory of the whole benchmark's, not
	// a sub-benchmark's TempDir: with -count, a sub-benchmark runs again
	// after its cleanups, and builds once.
	dir, err := os.MkdirTemp("", "wasmprocess")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for i := range mods {
		s := &mods[i]
		b.Run(s.name, func(b *testing.B) {
			if s.path == "" {
				s.path = filepath.Join(dir, s.name+".wasm")
				cmd := exec.Command(goTool, "build", "-buildmode=c-shared", "-tags="+s.tags, "-o", s.path, s.pkg)
				cmd.Dir = root
				cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
				if msg, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("building %s: %v\n%s", s.pkg, err, msg)
				}
			}
			code, err := os.ReadFile(s.path)
			if err != nil {
				b.Fatal(err)
			}
			mod, err := rt.InstantiateWithConfig(ctx, code, wazero.NewModuleConfig().WithName("").WithStartFunctions(abi.ExportInitialize))
			if err != nil {
				b.Fatal(err)
			}
			defer mod.Close(ctx)
			alloc, process := mod.ExportedFunction(abi.ExportAlloc), mod.ExportedFunction(abi.ExportProcess)
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				res, err := alloc.Call(ctx, uint64(len(frame)))
				if err != nil {
					b.Fatal(err)
				}
				if !mod.Memory().Write(api.DecodeU32(res[0]), frame) {
					b.Fatal("alloc returned a buffer outside memory")
				}
				if res, err = process.Call(ctx, res[0], uint64(len(frame))); err != nil || int64(res[0]) == abi.ResultError {
					b.Fatalf("process: %v %s", err, *lastErr)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
		})
	}
}
