package host_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// The tests below pin what abi/SPEC.md promises guest authors about the
// edges of the ABI, with the hand-written guests in testdata: spec.wat
// answers by the record count of its input, alloczero.wat has an alloc that
// fails by returning 0, reentry.wat traps if alloc runs during a call.

// TestSpecOutputFrames guards issue #9 (item 10): the host accepts any valid
// msgpack encoding of an output frame (canonical output is what SDKs write,
// not what the host requires), ignores record elements past the output
// name and frame elements past the records, and accepts an output frame
// that is the input frame itself, in place.
func TestSpecOutputFrames(t *testing.T) {
	inst := instantiate(t, load(t, newEngine(t), "spec"), cfg())
	echo := records(5)
	echo[3].Headers = []abi.Header{{Name: "h", Value: []byte("v")}, {Name: "h"}}
	for _, tc := range []struct {
		name string
		in   []abi.Record
		want []abi.Record
	}{
		{"non-canonical encoding", nil,
			[]abi.Record{{Key: []byte("k"), Value: []byte("hi"), Timestamp: 7, Headers: []abi.Header{{Name: "h", Value: []byte("v")}}}}},
		{"extra record and frame elements", records(1),
			[]abi.Record{{Value: []byte("x"), Timestamp: 5, Output: "out"}}},
		{"output aliases input", echo, echo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := inst.Process(t.Context(), tc.in)
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if !slices.EqualFunc(out, tc.want, recordEqual) {
				t.Errorf("output = %+v, want %+v", out, tc.want)
			}
		})
	}
}

func recordEqual(a, b abi.Record) bool {
	return string(a.Key) == string(b.Key) && (a.Key == nil) == (b.Key == nil) &&
		string(a.Value) == string(b.Value) && a.Timestamp == b.Timestamp && a.Output == b.Output &&
		slices.EqualFunc(a.Headers, b.Headers, func(x, y abi.Header) bool {
			return x.Name == y.Name && string(x.Value) == string(y.Value) && (x.Value == nil) == (y.Value == nil)
		})
}

// TestSpecErrorMessages guards issue #9 (item 10): process returning -1
// without set_error fails with a message saying so, not with the message of
// an earlier call; the last set_error of a call wins; a message set by a
// call that succeeds is dropped. None of them breaks the instance.
func TestSpecErrorMessages(t *testing.T) {
	inst := instantiate(t, load(t, newEngine(t), "spec"), cfg())
	for _, tc := range []struct {
		name    string
		records int
		want    string // "" for success
	}{
		{"-1 without set_error", 2, "process: operator reported an error: process failed without setting an error message"},
		{"set_error twice", 3, "process: operator reported an error: second"},
		{"-1 after a call that set a message", 2, "process: operator reported an error: process failed without setting an error message"},
		{"set_error, then success", 4, ""},
		{"-1 after a successful call that set a message", 2, "process: operator reported an error: process failed without setting an error message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := inst.Process(t.Context(), records(tc.records))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Process: %v", err)
			case tc.want == "" && len(out) != tc.records:
				t.Fatalf("Process returned %d records, want %d", len(out), tc.records)
			case tc.want != "" && (!errors.Is(err, host.ErrOperator) || !strings.HasSuffix(err.Error(), tc.want)):
				t.Fatalf("Process = %v, want an operator error ending in %q", err, tc.want)
			}
			if inst.Broken() {
				t.Fatal("the instance is broken")
			}
		})
	}
}

// TestSpecAllocFailure guards issue #9 (item 10): alloc returning 0 for a
// non-empty input is a failed allocation, reported as such (a memory limit
// hit when the guest's memory.grow was refused during the call), and the
// host no longer writes the input at address 0; alloc(0) may return 0.
func TestSpecAllocFailure(t *testing.T) {
	m := load(t, newEngine(t), "alloczero")
	for _, tc := range []struct {
		name    string
		records int
		kind    error
		want    string
	}{
		{"returns 0", 0, host.ErrBadOutput, "alloc: guest returned invalid output: alloc(6) returned 0: the guest has no buffer for the input"},
		{"returns 0 after a refused grow", 1, host.ErrMemoryLimit, "alloc: guest exceeded its memory limit: alloc(114) returned 0 after growing memory to 67239936 bytes was refused; the limit is 4194304"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := instantiate(t, m, cfg())
			_, err := inst.Process(t.Context(), records(tc.records))
			if !errors.Is(err, tc.kind) || !strings.HasSuffix(err.Error(), tc.want) {
				t.Fatalf("Process = %v, want an error ending in %q", err, tc.want)
			}
			if !inst.Broken() {
				t.Error("a failed alloc left the instance in use")
			}
		})
	}
	t.Run("alloc(0)", func(t *testing.T) {
		inst := instantiate(t, m, cfg())
		if out, err := inst.ProcessFrame(nil); err != nil || len(out) != 0 {
			t.Fatalf("ProcessFrame(empty) = %q, %v; want an empty output and no error", out, err)
		}
	})
}

// TestSpecNoReentrantAlloc guards issue #9 (item 10): the host calls alloc
// once before each call and never while one runs, in particular not from
// state_get returning a value, log, metric_add, set_error or WASI fd_write,
// so a guest's single grow-only input buffer stays valid for the whole call.
func TestSpecNoReentrantAlloc(t *testing.T) {
	st, _, err := state.Open(state.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := cfg()
	c.State = st.NewTxn("op")
	metrics := &countingMetrics{}
	c.Metrics = metrics
	inst := instantiate(t, load(t, newEngine(t), "reentry"), c)
	for n := 1; n <= 3; n++ {
		out, err := inst.Process(t.Context(), records(n))
		if err != nil {
			t.Fatalf("call %d: %v", n, err)
		}
		// allocs so far, the length state_get returned, the first byte it copied
		if want := []byte{byte(n), 4, 'a'}; len(out) != 1 || string(out[0].Value) != string(want) {
			t.Fatalf("call %d: output %+v, want one record of value %v", n, out, want)
		}
	}
	if got := metrics.v["abcd"]; got != 3 {
		t.Errorf("metric abcd = %d, want 3 (one per call)", got)
	}
}

// TestSpecFeatures guards issue #9 (item 10): the WebAssembly features
// abi/SPEC.md lists are the ones the host runs: a module using a feature
// of WebAssembly 2.0 loads and runs; one using a later proposal is refused
// at load with the reason.
func TestSpecFeatures(t *testing.T) {
	e := newEngine(t)
	for _, tc := range []struct {
		name, flag, mod, body string
		memory                string // the memory declaration, when not the usual one
		refused               bool
	}{
		{"SIMD", "", "", `(drop (i32x4.extract_lane 0 (i32x4.add (i32x4.splat (i32.const 1)) (v128.const i32x4 1 2 3 4))))`, "", false},
		{"bulk memory", "", "", `(memory.fill (i32.const 0) (i32.const 0) (i32.const 16))`, "", false},
		{"multi-value", "", `(func $two (result i32 i32) (i32.const 1) (i32.const 2))`, `(drop (i32.add (call $two)))`, "", false},
		{"reference types", "", `(table 1 funcref)`, `(drop (ref.is_null (table.get 0 (i32.const 0))))`, "", false},
		{"sign extension", "", "", `(drop (i32.extend8_s (i32.const 255)))`, "", false},
		{"non-trapping conversions", "", "", `(drop (i32.trunc_sat_f32_s (f32.const 1e30)))`, "", false},
		{"mutable global export", "", `(global (export "g") (mut i32) (i32.const 0))`, `(global.set 0 (i32.const 1))`, "", false},
		{"threads", "--enable-threads", "", `(drop (i32.atomic.load (i32.const 0)))`, `(memory (export "memory") 2 2 shared)`, true},
		{"tail calls", "--enable-tail-call", `(func $f (result i64) (return_call $f))`, ``, "", true},
		{"multiple memories", "--enable-multi-memory", `(memory 1)`, ``, "", true},
		{"64-bit memory", "--enable-memory64", "", "", `(memory (export "memory") i64 2)`, true},
		{"exception handling", "--enable-exceptions", `(tag $e)`, `(try (do (throw $e)) (catch $e))`, "", true},
		{"extended constants", "--enable-extended-const", `(global i32 (i32.add (i32.const 1) (i32.const 2)))`, ``, "", true},
		{"an imported memory", "", "", "", `(import "wasi_snapshot_preview1" "memory" (memory 2)) (export "memory" (memory 0))`, true},
		{"an imported global", "", "", "", `(import "wasmstream" "g" (global i32)) (memory (export "memory") 2)`, true},
		{"relaxed SIMD", "--enable-relaxed-simd", "", `(drop (i32x4.relaxed_trunc_f32x4_s (v128.const f32x4 1 2 3 4)))`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := `(memory (export "memory") 2)`
			if tc.memory != "" {
				mem = tc.memory
			}
			alloc := watAlloc
			if strings.Contains(mem, " i64 ") {
				// watAlloc grows an i32 memory.
				alloc = `
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 65536))`
			}
			src := "(module " + mem + alloc + tc.mod + `
  (func (export "process") (param i32 i32) (result i64) ` + tc.body + ` (i64.const 0)))`
			dir := t.TempDir()
			wat, wasm := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
			if err := os.WriteFile(wat, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{wat, "-o", wasm}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			if b, err := exec.Command("wat2wasm", args...).CombinedOutput(); err != nil {
				t.Fatalf("wat2wasm: %v\n%s\n%s", err, b, src)
			}
			m, err := e.Load(t.Context(), wasm)
			if tc.refused {
				var me *host.ModuleError
				if !errors.As(err, &me) {
					t.Fatalf("Load = %v, want a *ModuleError refusing the module", err)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			inst := instantiate(t, m, cfg())
			if _, err := inst.ProcessFrame(abi.AppendFrame(nil, nil)); err != nil {
				t.Fatalf("ProcessFrame: %v", err)
			}
		})
	}
}
