package host

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

func wat(t testing.TB, name string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	if b, err := exec.Command("wat2wasm", "--debug-names", filepath.Join("testdata", name+".wat"), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runRenumber instantiates testdata/renumber.wat's module in a bare wazero
// runtime and returns what each export computes.
func runRenumber(t *testing.T, wasm []byte) map[string]uint64 {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	env := rt.NewHostModuleBuilder("env")
	env.NewFunctionBuilder().WithFunc(func(a, b int32) int32 { return a + b }).Export("add")
	if _, err := env.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	// A host module cannot export globals: genv is a Wasm module.
	if _, err := rt.InstantiateWithConfig(ctx, []byte("\x00asm\x01\x00\x00\x00"+
		"\x06\x06\x01\x7f\x00\x41\x07\x0b"+ // global i32 = 7
		"\x07\x05\x01\x01g\x03\x00"), // export "g"
		wazero.NewModuleConfig().WithName("genv")); err != nil {
		t.Fatal(err)
	}
	var ticks int
	y := rt.NewHostModuleBuilder(yieldModule)
	y.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
		ticks++
		stack[0] = fuelPerYield
	}), nil, []api.ValueType{api.ValueTypeI32}).Export(yieldName)
	if _, err := y.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName("m").WithStartFunctions("_start", exportStart))
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]uint64{}
	call := func(name string, args ...uint64) {
		out, err := mod.ExportedFunction(name).Call(ctx, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res[name] = out[0]
	}
	call("indirect", 1000)
	call("nested", 1000)
	call("refs", 12)
	call("fref_is_set")
	call("double", 21)
	res["ticks"] = uint64(ticks)
	return res
}

// TestInstrumentPreservesBehaviour runs a module that uses every kind of
// function reference (calls, call_indirect through active and expression
// element segments, ref.func in code and globals, exports, a start
// function, imports before the defined functions) before and after
// instrument: every result must match, and the instrumented module must
// have yielded for its 10^6 nested loop iterations.
func TestInstrumentPreservesBehaviour(t *testing.T) {
	orig := wat(t, "renumber")
	ins, err := instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	if !ins.hasStart || ins.loops != 3 {
		t.Fatalf("hasStart %v, loops %d; want true, 3", ins.hasStart, ins.loops)
	}
	want, got := runRenumber(t, orig), runRenumber(t, ins.wasm)
	if want["ticks"] != 0 {
		t.Fatalf("the original module yielded")
	}
	if min := uint64(1000*1000/fuelPerYield - 1); got["ticks"] < min {
		t.Errorf("instrumented module yielded %d times, want at least %d", got["ticks"], min)
	}
	delete(got, "ticks")
	delete(want, "ticks")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: instrumented %d, original %d", k, got[k], v)
		}
	}
	// The sums themselves, so that a bug shared by both runs still fails.
	if want["nested"] != 1000*1000 || want["double"] != 42 || want["fref_is_set"] != 1 || want["refs"] != 13+144 {
		t.Errorf("unexpected results %v", want)
	}
}

// TestInstrumentKeepsNames: the name section is renumbered with the
// functions, so stack traces still name the right ones.
func TestInstrumentKeepsNames(t *testing.T) {
	ins, err := instrument(wat(t, "renumber"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, ins.wasm)
	if err != nil {
		t.Fatal(err)
	}
	d := cm.ExportedFunctions()["double"]
	// Imports: env.add, then the yield function; $init is 2, $double 3.
	if d.Name() != "double" || d.Index() != 3 {
		t.Fatalf("export double: name %q, index %d; want \"double\", 3", d.Name(), d.Index())
	}
}

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine(t.Context(), WithoutCache(), WithLoadDeadline(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// TestStartAndInitUnderDeadline: a start function or init export that never
// returns is stopped by the deadline instead of hanging Load or
// Instantiate.
func TestStartAndInitUnderDeadline(t *testing.T) {
	e := newTestEngine(t)
	start := time.Now()
	_, err := e.Compile(t.Context(), "startloop.wasm", wat(t, "startloop"))
	if !errors.Is(err, ErrDeadline) || !strings.Contains(err.Error(), exportStart) {
		t.Fatalf("Compile = %v, want a deadline error in the start function", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	m, err := e.Compile(t.Context(), "initloop.wasm", wat(t, "initloop"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Instantiate(t.Context(), InstanceConfig{Deadline: 200 * time.Millisecond})
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("Instantiate = %v, want a deadline error", err)
	}
}

// TestRunawayDoesNotStallGC: compiled code cannot be preempted, so a guest
// that looped without ever returning to Go would hold up the garbage
// collector's stop-the-world pauses and with them every goroutine. Fuel
// makes it yield: runtime.GC completes while a guest spins.
func TestRunawayDoesNotStallGC(t *testing.T) {
	e := newTestEngine(t)
	m, err := e.Compile(t.Context(), "loop.wasm", wat(t, "loop"))
	if err != nil {
		t.Fatal(err)
	}
	i, err := m.Instantiate(t.Context(), InstanceConfig{Deadline: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close(t.Context())
	done := make(chan error, 1)
	go func() { _, err := i.ProcessFrame([]byte{0x90}); done <- err }()
	time.Sleep(50 * time.Millisecond) // let the guest enter its loop; nothing to wait on
	gc := make(chan struct{})
	go func() { runtime.GC(); close(gc) }()
	select {
	case <-gc:
	case <-time.After(2 * time.Second):
		t.Fatal("runtime.GC did not complete while a guest looped")
	}
	if err := <-done; !errors.Is(err, ErrDeadline) {
		t.Fatalf("ProcessFrame = %v, want a deadline error", err)
	}
}

// FuzzInstrument: any input is rewritten or refused with an error, never a
// panic; whatever wazero accepts before instrument it accepts after.
func FuzzInstrument(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.wat"))
	for _, n := range names {
		f.Add(wat(f, strings.TrimSuffix(filepath.Base(n), ".wat")))
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		ins, err := instrument(wasm)
		if err != nil {
			return
		}
		cm, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			return
		}
		cm.Close(ctx)
		cm, err = rt.CompileModule(ctx, ins.wasm)
		if err != nil {
			t.Fatalf("wazero compiles the module but not its instrumented form: %v", err)
		}
		cm.Close(ctx)
	})
}
