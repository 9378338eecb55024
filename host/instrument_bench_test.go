package host

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// BenchmarkInstrumentCost measures what the rewrite costs each language's
// uppercase operator (examples/wasm/uppercase): process on a batch of 1000
// records of 100 bytes, the module as it is against its rewritten form,
// in the same wazero runtime (the README's instrumentation cost; compare
// with benchstat or medians of -count runs).
//
//	go test -run '^$' -bench InstrumentCost -count 5 ./host
func BenchmarkInstrumentCost(b *testing.B) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(coreFeatures))
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		b.Fatal(err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		b.Fatal(err)
	}
	if err := instantiateStackModule(ctx, rt); err != nil {
		b.Fatal(err)
	}
	recs := make([]abi.Record, 1000)
	for i := range recs {
		recs[i].Value = bytes.Repeat([]byte{'a' + byte(i%26)}, 100)
	}
	frame := abi.AppendFrame(nil, recs)
	for _, g := range guestbuild.Guests(filepath.Join("..", "examples", "wasm", "uppercase")) {
		out := filepath.Join(b.TempDir(), g.Lang+".wasm")
		err := guestbuild.Build(g.Dir, out)
		if errors.Is(err, guestbuild.ErrNoToolchain) && !guestbuild.Required() {
			b.Logf("skipping %s: %v", g.Lang, err)
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		orig, err := readModule(out)
		if err != nil {
			b.Fatal(err)
		}
		ins, err := instrument(orig)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range []struct {
			name string
			wasm []byte
		}{{"original", orig}, {"rewritten", ins.wasm}} {
			b.Run(g.Lang+"/"+v.name, func(b *testing.B) {
				mod, err := rt.InstantiateWithConfig(ctx, v.wasm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
				if err != nil {
					b.Fatal(err)
				}
				defer mod.Close(ctx)
				for _, name := range []string{exportStart, abi.ExportInitialize} {
					if fn := mod.ExportedFunction(name); fn != nil {
						if _, err := fn.Call(ctx); err != nil {
							b.Fatal(err)
						}
					}
				}
				alloc, process := mod.ExportedFunction(abi.ExportAlloc), mod.ExportedFunction(abi.ExportProcess)
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				for b.Loop() {
					res, err := alloc.Call(ctx, uint64(len(frame)))
					if err != nil {
						b.Fatal(err)
					}
					if !mod.Memory().Write(api.DecodeU32(res[0]), frame) {
						b.Fatal("alloc returned a buffer outside memory")
					}
					if res, err = process.Call(ctx, res[0], uint64(len(frame))); err != nil || int64(res[0]) == abi.ResultError {
						b.Fatalf("process: %v", err)
					}
				}
			})
		}
	}
}
