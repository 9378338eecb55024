package host

import (
	"context"
	"errors"
	"log/slog"
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
	if err := instantiateStackModule(ctx, rt); err != nil {
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
	// 3 loop headers and 9 function entries.
	if !ins.hasStart || ins.loops != 3+9 {
		t.Fatalf("hasStart %v, fuel checks %d; want true, 12", ins.hasStart, ins.loops)
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
	// Imports: env.add, then the yield and stack functions; $init is 3,
	// $double 4.
	if d.Name() != "double" || d.Index() != 4 {
		t.Fatalf("export double: name %q, index %d; want \"double\", 4", d.Name(), d.Index())
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

// startedHandler signals when a guest logs "started".
type startedHandler struct{ started chan struct{} }

func (h startedHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h startedHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "started" {
		select {
		case h.started <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h startedHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h startedHandler) WithGroup(string) slog.Handler      { return h }

// TestDeadlineWithoutLoops guards issue #8 (item 1): fuel is taken at
// function entry and by the length of bulk instructions, not only at loop
// headers. A guest without loops (fib(50) by double recursion) and a guest
// whose loop body is one 1 MiB memory.copy each stop within twice their
// deadline, and runtime.GC, started while they run, completes within
// 50 ms. Before, both ran for minutes and held up the collector the whole
// time.
func TestDeadlineWithoutLoops(t *testing.T) {
	const deadline = 250 * time.Millisecond
	for _, name := range []string{"fib", "bulkcopy"} {
		t.Run(name, func(t *testing.T) {
			e := newTestEngine(t)
			m, err := e.Compile(t.Context(), name+".wasm", wat(t, name))
			if err != nil {
				t.Fatal(err)
			}
			started := make(chan struct{}, 1)
			i, err := m.Instantiate(t.Context(), InstanceConfig{Deadline: deadline, MemoryLimit: 64 << 20,
				Logger: slog.New(startedHandler{started})})
			if err != nil {
				t.Fatal(err)
			}
			defer i.Close(t.Context())
			done := make(chan error, 1)
			begin := time.Now()
			go func() { _, err := i.ProcessFrame([]byte{0x90}); done <- err }()
			select {
			case <-started:
			case err := <-done:
				t.Fatalf("ProcessFrame returned before the guest started: %v", err)
			}
			gc := make(chan time.Duration, 1)
			go func() { s := time.Now(); runtime.GC(); gc <- time.Since(s) }()
			select {
			case d := <-gc:
				if d > 50*time.Millisecond {
					t.Errorf("runtime.GC took %v while the guest ran, want at most 50ms", d)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("runtime.GC did not complete while the guest ran")
			}
			select {
			case err := <-done:
				if !errors.Is(err, ErrDeadline) {
					t.Fatalf("ProcessFrame = %v, want a deadline error", err)
				}
				if d := time.Since(begin); d > 2*deadline {
					t.Fatalf("a deadline of %v stopped the guest after %v", deadline, d)
				}
			case <-time.After(4 * time.Second):
				t.Fatalf("a deadline of %v has not stopped the guest after 4s", deadline)
			}
		})
	}
}

// TestStackBounded guards issue #8 (item 1): unbounded recursion ends in a
// trap that names the host's stack limit after a few MB of host memory;
// before, wazero grew the guest's stack to 400 MB (about 240 MB of heap
// per instance) before it overflowed.
func TestStackBounded(t *testing.T) {
	e := newTestEngine(t)
	m, err := e.Compile(t.Context(), "deeprec.wasm", wat(t, "deeprec"))
	if err != nil {
		t.Fatal(err)
	}
	i, err := m.Instantiate(t.Context(), InstanceConfig{Deadline: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close(t.Context())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = i.ProcessFrame([]byte{0x90})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "call stack exhausted") {
		t.Fatalf("ProcessFrame = %v, want a trap for the exhausted call stack", err)
	}
	const most = 8 << 20
	if grew := after.TotalAlloc - before.TotalAlloc; grew > most {
		t.Fatalf("the overflow allocated %d bytes of host memory, want at most %d", grew, most)
	} else {
		t.Logf("the overflow allocated %d KiB", grew>>10)
	}
}

// bareRuntime is a wazero runtime with the host modules instrumented
// code imports and nothing else; yield counts its calls in ticks.
func bareRuntime(t testing.TB, ticks *int) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(coreFeatures))
	t.Cleanup(func() { rt.Close(ctx) })
	y := rt.NewHostModuleBuilder(yieldModule)
	y.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
		if ticks != nil {
			*ticks++
		}
		stack[0] = fuelPerYield
	}), nil, []api.ValueType{api.ValueTypeI32}).Export(yieldName)
	if _, err := y.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := instantiateStackModule(ctx, rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestTableGrowBounded guards issue #8 (item 1): table.grow past
// maxTableElements returns -1, as the specification allows a host to,
// instead of growing host memory without bound (a loop of table.grow
// reached 24 GB). The original module, in plain wazero, grows the table to
// the 4Mi elements (and one) it stops at by itself.
func TestTableGrowBounded(t *testing.T) {
	orig := wat(t, "tablegrow")
	ins, err := instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	if ins.grows != 1 {
		t.Fatalf("%d table.grow instructions bounded, want 1", ins.grows)
	}
	for _, c := range []struct {
		name string
		wasm []byte
		want uint64
	}{
		{"original", orig, 0x400001},
		{"instrumented", ins.wasm, 1 + (maxTableElements-1)/65536*65536},
	} {
		t.Run(c.name, func(t *testing.T) {
			mod, err := bareRuntime(t, nil).Instantiate(t.Context(), c.wasm)
			if err != nil {
				t.Fatal(err)
			}
			res, err := mod.ExportedFunction("grow").Call(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if res[0] != c.want {
				t.Fatalf("the table grew to %d elements, want %d", res[0], c.want)
			}
		})
	}
}
