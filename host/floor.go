package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmstream/wasmstream/abi"
)

// Floor calls an operator module's process export in a plain loop, the way
// a program using wazero directly would: alloc, write the frame into guest
// memory, process, and a view of the output. It exists for benchmarks, as
// the reference a runtime cannot beat: none of the runtime's batching,
// decoding, routing, deadlines or error handling is in the way, so the
// ratio of an end-to-end figure to a Floor's measures everything the
// runtime adds around the guest's own code.
//
// A Floor runs the module either as built or rewritten by instrument (the
// fuel, depth and table checks every module the Engine loads gets), so
// that the gap between the two and the runtime can be told apart:
// instrumentation against the rest. Its runtime supplies the guest's
// imports as the Engine's does (WASI, the wasmstream host functions, the
// yield and stack functions of the rewrite), with no Instance behind them:
// host functions that would report to one do nothing, and the fuel is
// renewed with no deadline. Not safe for concurrent use.
type Floor struct {
	rt             wazero.Runtime
	mod            api.Module
	alloc, process api.Function
	stack          []uint64
}

// NewFloor compiles and instantiates the module at wasmPath in a runtime of
// its own, instrumented or as built, and runs its start function and
// _initialize once, as the Engine does.
func NewFloor(ctx context.Context, wasmPath string, instrumented bool) (*Floor, error) {
	wasm, err := readModule(wasmPath)
	if err != nil {
		return nil, err
	}
	if instrumented {
		ins, err := instrument(wasm)
		if err != nil {
			return nil, fmt.Errorf("instrumenting %s: %w", wasmPath, err)
		}
		wasm = ins.wasm
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(coreFeatures))
	f, err := newFloor(ctx, rt, wasm)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("floor for %s: %w", wasmPath, err)
	}
	return f, nil
}

func newFloor(ctx context.Context, rt wazero.Runtime, wasm []byte) (*Floor, error) {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return nil, err
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		return nil, err
	}
	if err := instantiateStackModule(ctx, rt); err != nil {
		return nil, err
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, err
	}
	for _, name := range []string{exportStart, abi.ExportInitialize} {
		if fn := mod.ExportedFunction(name); fn != nil {
			if _, err := fn.Call(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	f := &Floor{rt: rt, mod: mod, alloc: mod.ExportedFunction(abi.ExportAlloc), process: mod.ExportedFunction(abi.ExportProcess), stack: make([]uint64, 2)}
	if f.alloc == nil || f.process == nil || mod.Memory() == nil {
		return nil, errors.New("the module lacks alloc, process or its memory")
	}
	return f, nil
}

// Process hands frame to the guest's process export and returns the output
// frame as a view of guest memory, valid until the next call.
func (f *Floor) Process(ctx context.Context, frame []byte) ([]byte, error) {
	f.stack[0] = uint64(len(frame))
	if err := f.alloc.CallWithStack(ctx, f.stack); err != nil {
		return nil, fmt.Errorf("alloc: %w", err)
	}
	ptr := api.DecodeU32(f.stack[0])
	if !f.mod.Memory().Write(ptr, frame) {
		return nil, errors.New("alloc returned a buffer outside memory")
	}
	f.stack[0], f.stack[1] = uint64(ptr), uint64(len(frame))
	if err := f.process.CallWithStack(ctx, f.stack); err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	res := int64(f.stack[0])
	if res == abi.ResultError {
		return nil, errors.New("process: the operator reported an error")
	}
	out, ok := f.mod.Memory().Read(abi.Unpack(res))
	if !ok {
		return nil, errors.New("process returned an output outside memory")
	}
	return out, nil
}

// Close releases the Floor's runtime and module.
func (f *Floor) Close(ctx context.Context) error { return f.rt.Close(ctx) }
