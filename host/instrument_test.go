package host

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
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
	if !ins.hasStart || ins.checks != 3+9 {
		t.Fatalf("hasStart %v, fuel checks %d; want true, 12", ins.hasStart, ins.checks)
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

// sec encodes a section.
func sec(id byte, body ...byte) []byte {
	return append(append([]byte{id}, appendU32(nil, uint32(len(body)))...), body...)
}

// module encodes a module of sections.
func module(sections ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

// invalidModules are modules the rewriter used to turn into valid ones,
// and the part of wazero's reason for refusing each.
var invalidModules = []struct {
	name, reason string
	wasm         []byte
}{
	// global.get 0 without globals read the appended fuel.
	{"undeclared global", "global", module(sec(1, 1, 0x60, 0, 1, 0x7f), sec(3, 1, 0), sec(10, 1, 4, 0, 0x23, 0, 0x0b))},
	// Renumbering wrapped call 4294967295 to the yield import.
	{"call 4294967295", "function", module(sec(1, 1, 0x60, 0, 0), sec(3, 1, 0), sec(10, 1, 8, 0, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b))},
	// Type 1 was the appended () -> i32.
	{"type index out of range", "type", module(sec(1, 1, 0x60, 0, 0), sec(3, 1, 1), sec(10, 1, 2, 0, 0x0b))},
	// The start section was dropped, its function exported.
	{"start function of the wrong type", "start", module(sec(1, 1, 0x60, 0, 1, 0x7f), sec(3, 1, 0), sec(8, 0), sec(10, 1, 4, 0, 0x41, 0, 0x0b))},
	// The export of the start function declared it.
	{"undeclared ref.func of the start function", "undeclared", module(sec(1, 1, 0x60, 0, 0), sec(3, 2, 0, 0), sec(8, 0),
		sec(10, 2, 2, 0, 0x0b, 5, 0, 0xd2, 0, 0x1a, 0x0b))},
	// The unused bits of the last byte of an i32.const are not a sign
	// extension.
	{"over-long signed LEB128", "", module(sec(1, 1, 0x60, 0, 1, 0x7f), sec(3, 1, 0), sec(10, 1, 8, 0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x70, 0x0b))},
	// 2^32 as a function index.
	{"over-long unsigned LEB128", "", module(sec(1, 1, 0x60, 0, 0), sec(3, 1, 0), sec(10, 1, 8, 0, 0x10, 0x80, 0x80, 0x80, 0x80, 0x10, 0x0b))},
	{"section with trailing bytes", "", module(sec(1, 1, 0x60, 0, 0), sec(3, 1, 0, 0), sec(10, 1, 2, 0, 0x0b))},
	{"duplicate start sections", "", module(sec(1, 1, 0x60, 0, 0), sec(3, 1, 0), sec(8, 0), sec(8, 0), sec(10, 1, 2, 0, 0x0b))},
	// A branch out of the function's own block reached the block the
	// rewrite wraps the body in.
	{"branch past the function", "br", module(sec(1, 1, 0x60, 0, 0), sec(3, 1, 0), sec(10, 1, 4, 0, 0x0c, 1, 0x0b))},
	// A memory.fill got a scratch local at index 0.
	{"undeclared local", "local", module(sec(1, 1, 0x60, 0, 0), sec(3, 1, 0), sec(5, 1, 0, 1),
		sec(10, 1, 13, 0, 0x41, 0, 0x41, 0, 0x20, 0, 0xfc, 11, 0, 0x0b))},
}

// TestCompileRefusesInvalid guards issue #8 (item 2): Engine.Compile
// validates the original bytes with wazero before the rewrite and refuses
// an invalid module with wazero's own reason, and the rewriter refuses
// each of these modules even alone. A module wazero accepts against the
// specification (a constant expression reading a mutable global) is
// refused by the rewriter.
func TestCompileRefusesInvalid(t *testing.T) {
	e := newTestEngine(t)
	for _, c := range invalidModules {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Compile(t.Context(), c.name, c.wasm)
			var me *ModuleError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), "validating: ") || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("Compile = %v, want wazero's reason, mentioning %q", err, c.reason)
			}
			if _, err := instrument(c.wasm); !errors.Is(err, errInstrument) {
				t.Fatalf("instrument = %v, want an error", err)
			}
		})
	}
	t.Run("mutable global in a constant expression", func(t *testing.T) {
		wasm := module(sec(2, 1, 1, 'm', 1, 'g', 3, 0x7f, 1), sec(6, 1, 0x7f, 0, 0x23, 0, 0x0b))
		_, err := e.Compile(t.Context(), "constexpr", wasm)
		if err == nil || !strings.Contains(err.Error(), "rewriting: ") || !strings.Contains(err.Error(), "mutable") {
			t.Fatalf("Compile = %v, want the rewriter's refusal", err)
		}
	})
}

// refusedOnPurpose reports whether instrument refused a module wazero
// accepts for one of its own rules: the host's limits and reserved names,
// what the specification forbids (constant expressions reading mutable
// globals, unknown reference types in imported tables), name sections whose
// subsections do not hold what their sizes say (wazero reads function
// and local names past them; the rewriter renumbers only what it reads
// exactly).
func refusedOnPurpose(err error) bool {
	for _, s := range []string{"the host allows at most", "the host reserves", "which is mutable or not imported", "unknown reference type", "the name section"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// FuzzInstrument guards issue #8 (item 2): any input is rewritten or
// refused with an error, never a panic; wazero accepts the rewritten form
// exactly when it accepts the original (a module it rejects is rejected
// after the rewrite, which never makes an invalid module valid); and on a
// module both accept, instantiation and every exported function, called
// with zeros, give the same results or the same trap.
func FuzzInstrument(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.wat"))
	for _, n := range names {
		f.Add(wat(f, strings.TrimSuffix(filepath.Base(n), ".wat")))
	}
	for _, c := range invalidModules {
		f.Add(c.wasm)
	}
	ctx := context.Background()
	// 32 MiB of memory at most, so that the fuzzer does not run out of
	// memory; the same for both runtimes, which therefore agree on what is
	// valid.
	config := wazero.NewRuntimeConfig().WithCoreFeatures(coreFeatures).WithCloseOnContextDone(true).WithMemoryLimitPages(512)
	plain := wazero.NewRuntimeWithConfig(ctx, config)
	defer plain.Close(ctx)
	rewritten := bareRuntimeWith(f, config, nil)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		ins, ierr := instrument(wasm)
		if _, err := splitSections(wasm); err != nil {
			// Engine.Compile refuses it before wazero sees it.
			if ierr == nil {
				t.Fatalf("instrument accepts a module splitSections refuses: %v", err)
			}
			return
		}
		cm, err := plain.CompileModule(ctx, wasm)
		if err != nil {
			if ierr == nil {
				if cm, err := rewritten.CompileModule(ctx, ins.wasm); err == nil {
					cm.Close(ctx)
					t.Fatal("the rewrite made a module wazero refuses valid")
				}
			}
			return
		}
		defer cm.Close(ctx)
		if ierr != nil {
			if !refusedOnPurpose(ierr) {
				t.Fatalf("wazero accepts the module, instrument refuses it: %v", ierr)
			}
			return
		}
		rcm, err := rewritten.CompileModule(ctx, ins.wasm)
		if err != nil {
			t.Fatalf("wazero compiles the module but not its instrumented form: %v", err)
		}
		defer rcm.Close(ctx)
		if ins.grows == 0 { // a bounded table.grow differs on purpose
			sameBehaviour(t, plain, cm, rewritten, rcm)
		}
	})
}

// sameBehaviour instantiates a module and its rewritten form and calls
// every exported function of both with zero arguments, comparing what
// they return. A call that runs for 100 ms ends the comparison.
func sameBehaviour(t *testing.T, plain wazero.Runtime, cm wazero.CompiledModule, rewritten wazero.Runtime, rcm wazero.CompiledModule) {
	run := func(rt wazero.Runtime, cm wazero.CompiledModule, mc wazero.ModuleConfig) (api.Module, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		return rt.InstantiateModule(ctx, cm, mc)
	}
	mo, eo := run(plain, cm, wazero.NewModuleConfig().WithName(""))
	mr, er := run(rewritten, rcm, wazero.NewModuleConfig().WithName("").WithStartFunctions("_start", exportStart))
	if mo != nil {
		defer mo.Close(context.Background())
	}
	if mr != nil {
		defer mr.Close(context.Background())
	}
	if stopped(eo) || stopped(er) {
		return
	}
	// Both fail or neither; the messages name imports and start
	// functions differently.
	if (eo == nil) != (er == nil) {
		t.Fatalf("instantiation: original %v, rewritten %v", eo, er)
	}
	if eo != nil {
		return
	}
	exports := cm.ExportedFunctions()
	names := make([]string, 0, len(exports))
	for name := range exports {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names[:min(len(names), 16)] {
		d := exports[name]
		args := make([]uint64, len(d.ParamTypes())+countV128(d.ParamTypes()))
		call := func(m api.Module) ([]uint64, error) {
			if g, ok := m.ExportedGlobal(exportDepth).(api.MutableGlobal); ok {
				g.Set(0)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			return m.ExportedFunction(name).Call(ctx, args...)
		}
		ro, eo := call(mo)
		rr, er := call(mr)
		switch {
		case stopped(eo) || stopped(er):
			return
		case (eo == nil) != (er == nil):
			t.Fatalf("%s: original %v, %v; rewritten %v, %v", name, ro, eo, rr, er)
		case eo != nil && !sameTrap(eo, er):
			t.Fatalf("%s: original traps with %q, rewritten with %q", name, firstLine(eo), firstLine(er))
		case eo == nil && !sameResults(ro, rr, d.ResultTypes()):
			t.Fatalf("%s: original returns %v, rewritten %v", name, ro, rr)
		}
	}
}

func countV128(ts []api.ValueType) int {
	n := 0
	for _, t := range ts {
		if t == valueTypeV128 {
			n++
		}
	}
	return n
}

// stopped reports whether a call was ended by its context.
func stopped(err error) bool {
	var exit *sys.ExitError
	return errors.As(err, &exit)
}

// sameTrap compares two traps; stack exhaustion is the same trap whether
// wazero or the host's limit found it.
func sameTrap(orig, rewritten error) bool {
	if firstLine(orig) == firstLine(rewritten) {
		return true
	}
	return strings.Contains(orig.Error(), "stack overflow") && errors.Is(rewritten, errStackExhausted)
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
	// Twice 500 ms leaves room for a loaded machine: the guest itself
	// stops within about 100 µs of its deadline.
	const deadline = 500 * time.Millisecond
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
			// Three collections in a row while the guest runs; the median
			// must be at most 50 ms. Without a safe point in the guest the
			// first one alone waits for the whole call (seconds), so one
			// slow collection on a loaded machine does not decide the test.
			gc := make(chan []time.Duration, 1)
			go func() {
				var ds []time.Duration
				for range 3 {
					s := time.Now()
					runtime.GC()
					ds = append(ds, time.Since(s))
				}
				gc <- ds
			}()
			select {
			case ds := <-gc:
				sorted := slices.Clone(ds)
				slices.Sort(sorted)
				if sorted[1] > 50*time.Millisecond {
					t.Errorf("runtime.GC took %v while the guest ran (median of three), want at most 50ms", ds)
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
	return bareRuntimeWith(t, wazero.NewRuntimeConfig().WithCoreFeatures(coreFeatures), ticks)
}

// bareRuntimeWith is bareRuntime with another configuration.
func bareRuntimeWith(t testing.TB, config wazero.RuntimeConfig, ticks *int) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, config)
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

// TestTableGrowBounded guards issue #8 (item 1): table.grow that would
// take a module's tables past maxTableElements elements in all returns -1,
// as the specification allows a host to, instead of growing host memory
// without bound (a loop of table.grow reached 24 GB). The original module,
// in plain wazero, grows its tables as far as it asks.
func TestTableGrowBounded(t *testing.T) {
	orig := wat(t, "tablegrow")
	ins, err := instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	if ins.grows != 3 {
		t.Fatalf("%d table.grow instructions bounded, want 3", ins.grows)
	}
	const step = 65536
	for _, c := range []struct {
		name, fn string
		wasm     []byte
		want     uint64
	}{
		{"original", "grow", orig, 1 + 64*step},
		{"original", "grow_both", orig, 2 * (1 + 32*step)},
		// The first grow that would pass 2^20 elements fails.
		{"instrumented", "grow", ins.wasm, 1 + (maxTableElements-1)/step*step},
		{"instrumented", "grow_both", ins.wasm, 2 + (maxTableElements-2)/step*step},
	} {
		t.Run(c.name+"/"+c.fn, func(t *testing.T) {
			mod, err := bareRuntime(t, nil).Instantiate(t.Context(), c.wasm)
			if err != nil {
				t.Fatal(err)
			}
			res, err := mod.ExportedFunction(c.fn).Call(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if res[0] != c.want {
				t.Fatalf("the tables grew to %d elements, want %d", res[0], c.want)
			}
		})
	}
	t.Run("tables too large at start", func(t *testing.T) {
		// (table 600000 funcref) (table 600000 funcref)
		wasm := module(sec(4, 2, 0x70, 0, 0xc0, 0xcf, 0x24, 0x70, 0, 0xc0, 0xcf, 0x24))
		if _, err := instrument(wasm); err == nil || !strings.Contains(err.Error(), "the host allows at most") {
			t.Fatalf("instrument = %v, want a refusal of the tables' size", err)
		}
	})
}
