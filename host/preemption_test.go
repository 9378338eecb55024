package host_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/connectors/file"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// assemble writes src to a .wat file in a temporary directory, assembles it
// with wat2wasm and returns the .wasm file's path.
func assemble(t *testing.T, name, src string) string {
	t.Helper()
	dir := t.TempDir()
	wat, wasm := filepath.Join(dir, name+".wat"), filepath.Join(dir, name+".wasm")
	if err := os.WriteFile(wat, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("wat2wasm", wat, "-o", wasm).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s (install wabt: the test command does): %v\n%s", name, err, b)
	}
	return wasm
}

// TestUnpreemptedUppercase runs the Go uppercase operator over the example's
// input file in a pipeline, with `preemption: true` and `preemption: false`
// in one engine: both give the input upper-cased, record for record, and
// only the operator with preemption off logs a warning at start, naming it.
func TestUnpreemptedUppercase(t *testing.T) {
	e := newEngine(t)
	dir := filepath.Join("..", "examples", "wasm", "uppercase")
	mod := buildGuest(t, guestbuild.Guest{Lang: "go", Dir: filepath.Join(dir, "go")})
	input, err := os.ReadFile(filepath.Join(dir, "input.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// Only ASCII letters change.
	upper := bytes.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 32
		}
		return r
	}, input)
	want := strings.Split(strings.TrimSuffix(string(upper), "\n"), "\n")
	inputPath, err := filepath.Abs(filepath.Join(dir, "input.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, preempt := range []bool{true, false} {
		t.Run(fmt.Sprintf("preemption=%v", preempt), func(t *testing.T) {
			sink := &connectortest.Collector{}
			reg := runtime.NewRegistry()
			host.Register(reg, e)
			file.Register(reg)
			runtime.AddSink(reg, "capture", "test sink", func(c *captureConfig) (runtime.Sink, error) { return sink, nil })
			spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: upper
data_dir: %q
batch: {size: 7}
source: {file: {path: %q, format: lines}}
operators: [{wasm: {module: %q, preemption: %v}}]
sink: {capture: {name: main}}
`, t.TempDir(), inputPath, mod, preempt)), reg)
			if err != nil {
				t.Fatal(err)
			}
			logs := &logCounter{}
			p, err := runtime.Build(spec, runtime.WithLogger(slog.New(logs)))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range sink.Records() {
				got = append(got, string(r.Value))
			}
			if !slices.Equal(got, want) {
				t.Errorf("output %q, want %q", got, want)
			}
			warned := 0
			for _, m := range logs.all() {
				if strings.Contains(m, "preemption: false") {
					warned++
					if !strings.Contains(m, "operator wasm") || !strings.Contains(m, "endless loop hangs the pipeline") {
						t.Errorf("warning %q does not name the operator and the consequence", m)
					}
				}
			}
			if want := map[bool]int{true: 0, false: 1}[preempt]; warned != want {
				t.Errorf("%d preemption warnings, want %d (logs %q)", warned, want, logs.all())
			}
		})
	}
	if n := e.Loaded(); n != 0 {
		t.Errorf("%d modules still compiled after both pipelines closed", n)
	}
}

// spinWAT's process runs a bounded loop of (input length << 20) iterations
// and returns its input: how long a call takes is set by the frame's size.
const spinWAT = `(module
  (memory (export "memory") 2)
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param $n i32) (result i32)
    (local $need i32)
    (local.set $need (i32.sub (i32.shr_u (i32.add (i32.add (i32.const 65536) (local.get $n)) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    (i32.const 65536))
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (local $i i64)
    (local.set $i (i64.shl (i64.extend_i32_u (local.get $n)) (i64.const 20)))
    (loop $spin
      (local.set $i (i64.sub (local.get $i) (i64.const 1)))
      (br_if $spin (i64.gt_s (local.get $i) (i64.const 0))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))
)`

// oneRecord is a frame of one record whose value has n bytes.
func oneRecord(n int) []abi.Record {
	return []abi.Record{{Value: bytes.Repeat([]byte{'a'}, n)}}
}

// TestUnpreemptedLateOverrun runs a guest whose call takes about 300 ms
// under a 50 ms deadline. Compiled without preemption, the call runs to its
// end and then fails its batch as a late overrun (a deadline error), and the
// operator replaces the instance; compiled with preemption, the same bytes
// are stopped at the deadline.
func TestUnpreemptedLateOverrun(t *testing.T) {
	e := newEngine(t)
	path := assemble(t, "spin", spinWAT)
	raw, err := e.Load(t.Context(), path, host.WithPreemption(false))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Release(t.Context())
	if raw.Preemptive() {
		t.Fatal("a module loaded with WithPreemption(false) reports itself preemptive")
	}
	// Calibrate: the time per input byte of the uninstrumented loop, with
	// a deadline far off, so that the slow batch takes about 300 ms here.
	conf := cfg()
	conf.Deadline = time.Minute
	inst, err := raw.Instantiate(t.Context(), conf)
	if err != nil {
		t.Fatal(err)
	}
	small := oneRecord(100)
	smallLen := len(abi.AppendFrame(nil, small))
	var per time.Duration
	for range 3 {
		start := time.Now()
		if _, err := inst.Process(t.Context(), small); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start) / time.Duration(smallLen); per == 0 || d < per {
			per = d
		}
	}
	inst.Close(t.Context())
	slow := oneRecord(max(int(300*time.Millisecond/per)-(smallLen-100), 1))
	fast := []abi.Record{} // about 10 bytes of frame: a few ms
	t.Logf("%v per frame byte; the slow batch has a %d-byte value", per, len(slow[0].Value))

	conf.Deadline = 50 * time.Millisecond
	op := host.NewOperator(raw, conf)
	defer op.Close(t.Context())
	start := time.Now()
	_, err = op.Process(t.Context(), slow, nil)
	took := time.Since(start)
	var ge *host.GuestError
	if !errors.As(err, &ge) || !errors.Is(err, host.ErrDeadline) || !ge.Timeout() || !ge.Broken() {
		t.Fatalf("Process = %v, want a deadline GuestError that breaks the instance", err)
	}
	if !strings.Contains(err.Error(), "late overrun") || !strings.Contains(err.Error(), "past the deadline of 50ms") {
		t.Errorf("error %q does not call it a late overrun of the 50ms deadline", err)
	}
	if took < 150*time.Millisecond {
		t.Errorf("the unpreempted call took %v; it should have run to its end, about 300ms", took)
	}
	if _, err := op.Process(t.Context(), fast, nil); err != nil {
		t.Fatalf("the batch after the overrun: %v", err)
	}
	if op.Replaced != 1 || op.Started != 2 {
		t.Errorf("started %d instances and replaced %d; want 2 and 1", op.Started, op.Replaced)
	}

	preempted, err := e.Load(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer preempted.Release(t.Context())
	pinst, err := preempted.Instantiate(t.Context(), conf)
	if err != nil {
		t.Fatal(err)
	}
	defer pinst.Close(t.Context())
	start = time.Now()
	_, err = pinst.Process(t.Context(), slow)
	stopped := time.Since(start)
	if !errors.Is(err, host.ErrDeadline) || !strings.Contains(err.Error(), "stopped after 50ms") || strings.Contains(err.Error(), "late overrun") {
		t.Fatalf("preempted Process = %v, want it stopped at the deadline", err)
	}
	if stopped > took/2 {
		t.Errorf("the preempted call was stopped after %v, the unpreempted one ran %v", stopped, took)
	}
}

// TestCompileBothModes compiles the same bytes with and without preemption
// in one engine: two compiled modules of the same digest and description,
// each cached and counted apart, each released on its own, the other
// still running meanwhile. A module compiled as built may not import what
// the rewrite would add.
func TestCompileBothModes(t *testing.T) {
	e := newEngine(t)
	path := buildWat(t, "echo")
	on, err := e.Load(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	off, err := e.Load(t.Context(), path, host.WithPreemption(false))
	if err != nil {
		t.Fatal(err)
	}
	off2, err := e.Load(t.Context(), path, host.WithPreemption(false))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.Loaded(); n != 2 {
		t.Fatalf("%d modules compiled, want 2 (one per mode)", n)
	}
	if on.Digest() != off.Digest() || !on.Preemptive() || off.Preemptive() || off2.Preemptive() {
		t.Fatalf("digests %s/%s, preemptive %v/%v/%v", on.Digest(), off.Digest(), on.Preemptive(), off.Preemptive(), off2.Preemptive())
	}
	if fmt.Sprint(on.Info()) != fmt.Sprint(off.Info()) {
		t.Errorf("the two modes describe the module differently:\n%+v\n%+v", on.Info(), off.Info())
	}
	process := func(m *host.Module) {
		t.Helper()
		inst, err := m.Instantiate(t.Context(), cfg())
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Close(t.Context())
		out, err := inst.Process(t.Context(), records(10))
		if err != nil || len(out) != 10 {
			t.Fatalf("Process: %d records, %v", len(out), err)
		}
	}
	process(on)
	process(off)
	off.Release(t.Context())
	if n := e.Loaded(); n != 2 {
		t.Fatalf("after releasing one of two unpreempted loads, %d modules compiled, want 2", n)
	}
	off2.Release(t.Context())
	if n := e.Loaded(); n != 1 {
		t.Fatalf("after releasing both unpreempted loads, %d modules compiled, want 1", n)
	}
	process(on)
	on.Release(t.Context())
	if n := e.Loaded(); n != 0 {
		t.Fatalf("after releasing every load, %d modules compiled, want 0", n)
	}
	// Loaded again, each mode compiles anew and runs.
	again, err := e.Load(t.Context(), path, host.WithPreemption(false))
	if err != nil {
		t.Fatal(err)
	}
	process(again)
	again.Release(t.Context())

	hostile := assemble(t, "yields", `(module
  (import "wasmstream.runtime" "yield" (func (result i32)))
  (memory (export "memory") 1)
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "process") (param i32 i32) (result i64) (i64.const 0)))`)
	for _, preempt := range []bool{true, false} {
		if _, err := e.Load(t.Context(), hostile, host.WithPreemption(preempt)); err == nil || !strings.Contains(err.Error(), "wasmstream.runtime") {
			t.Errorf("preemption %v: a module importing wasmstream.runtime.yield loaded: %v", preempt, err)
		}
	}
}

// TestUnpreemptedStart: a module compiled as built keeps its start
// function, which wazero runs during instantiation, before any call.
func TestUnpreemptedStart(t *testing.T) {
	e := newEngine(t)
	path := assemble(t, "start", `(module
  (memory (export "memory") 2)
  (global $ready (mut i32) (i32.const 0))
  (func $start (global.set $ready (i32.const 1)))
  (start $start)
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 65536))
  ;; process echoes its input once the start function has run, and traps
  ;; otherwise.
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (if (i32.eqz (global.get $ready)) (then unreachable))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n)))))`)
	for _, preempt := range []bool{true, false} {
		m, err := e.Load(t.Context(), path, host.WithPreemption(preempt))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release(t.Context())
		inst, err := m.Instantiate(t.Context(), cfg())
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Close(t.Context())
		if out, err := inst.Process(t.Context(), records(3)); err != nil || len(out) != 3 {
			t.Fatalf("preemption %v: Process: %d records, %v", preempt, len(out), err)
		}
	}
}
