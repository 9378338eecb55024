package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// The hostile guests below each try to make the host spend memory outside
// their linear memory, or to print what they like. Each test bounds what
// the host allocated while the guest ran (TotalAlloc, which counts garbage
// too) and checks the call's outcome.

// watAlloc is the alloc export of the hostile guests: the input buffer is
// at 64 KiB, grown to fit.
const watAlloc = `
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param $n i32) (result i32)
    (local $need i32)
    (local.set $need (i32.sub (i32.shr_u (i32.add (i32.add (i32.const 65536) (local.get $n)) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then unreachable))))
    (i32.const 65536))
`

// loadWatText compiles a module written in the test and loads it.
func loadWatText(t *testing.T, e *host.Engine, name, src string) *host.Module {
	t.Helper()
	dir := t.TempDir()
	wat, out := filepath.Join(dir, name+".wat"), filepath.Join(dir, name+".wasm")
	if err := os.WriteFile(wat, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("wat2wasm", wat, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s (install wabt: the test command does): %v\n%s\n%s", name, err, b, src)
	}
	m, err := e.Load(t.Context(), out)
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	return m
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	f()
	goruntime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func instantiate(t *testing.T, m *host.Module, c host.InstanceConfig) *host.Instance {
	t.Helper()
	inst, err := m.Instantiate(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close(context.Background()) })
	return inst
}

// TestStateWriteBudget guards issue #8: a guest with 1 MiB of memory wrote
// 1,000 distinct 256 KiB values in one call, and the call's transaction
// held them all (250 MiB of host heap). Past the call's bound
// (state.call_writes) each put gets status -3 and the call goes on; the
// guest's give-up names the budget.
func TestStateWriteBudget(t *testing.T) {
	e := newEngine(t)
	m := loadWatText(t, e, "statebomb", `(module
  (import "wasmstream" "state_put" (func $put (param i32 i32 i32 i32 i32 i32 i32 i64) (result i32)))
  (memory (export "memory") 17)
  (data (i32.const 0) "\91\dd\00\00\00\00")`+watAlloc+`
  ;; 1,000 puts of 256 KiB under distinct names; counts the refusals (-3),
  ;; then gives up if there were any.
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $refused i32)
    (loop $l
      (i32.store (i32.const 16) (local.get $i))
      (if (i32.eq (call $put (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 16) (i32.const 4)
                            (i32.const 262144) (i32.const 262144) (i64.const 0)) (i32.const -3))
        (then (local.set $refused (i32.add (local.get $refused) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
    (i32.store (i32.const 8) (local.get $refused))
    (if (result i64) (local.get $refused) (then (i64.const -1)) (else (i64.const 6))))
)`)
	st, _, err := state.Open(state.Options{Dir: t.TempDir(), MaxTxnBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := cfg()
	c.State = st.NewTxn("op")
	inst := instantiate(t, m, c)
	var perr error
	n := allocated(func() { _, perr = inst.Process(t.Context(), records(1)) })
	t.Logf("the host allocated %d KiB during the call", n>>10)
	if !errors.Is(perr, host.ErrOperator) || !strings.Contains(perr.Error(), "host budget exceeded: state bytes written in one call (the pipeline's state.call_writes)") {
		t.Errorf("Process = %v, want the guest's error naming the state budget", perr)
	}
	if limit := uint64(24 << 20); n > limit {
		t.Errorf("the host allocated %d MiB during the call; the bound is %d MiB (budget 8 MiB)", n>>20, limit>>20)
	}
	if inst.Broken() {
		t.Error("a refused state write broke the instance")
	}
}

// countingMetrics is a host.Metrics that keeps every name.
type countingMetrics struct {
	mu sync.Mutex
	v  map[string]int64
}

func (c *countingMetrics) Add(name string, d int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v == nil {
		c.v = map[string]int64{}
	}
	c.v[name] += d
}

// TestMetricNameBudget guards issue #8: 200,000 distinct metric names (or
// 16 KiB long ones) each took host memory for the operator's lifetime. The
// name count and length are budgets: past them the call fails naming the
// budget, and the names kept stay few.
func TestMetricNameBudget(t *testing.T) {
	cases := []struct {
		name          string
		count, length int
		want          string
	}{
		{"many names", 200000, 32, "host budget exceeded: distinct metric names of the operator (1000)"},
		{"long names", 2000, 16384, "host budget exceeded: bytes in one metric name (256)"},
	}
	e := newEngine(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := loadWatText(t, e, "metricbomb", fmt.Sprintf(`(module
  (import "wasmstream" "metric_add" (func $add (param i32 i32 i64)))
  (memory (export "memory") 2)
  (data (i32.const 0) "\91\dd\00\00\00\00")`+watAlloc+`
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (local $i i32)
    (loop $l
      (i32.store (i32.const 1024) (local.get $i))
      (call $add (i32.const 1024) (i32.const %d) (i64.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const %d))))
    (i64.const 6))
)`, tc.length, tc.count))
			metrics := &countingMetrics{}
			c := cfg()
			c.Metrics = metrics
			inst := instantiate(t, m, c)
			var perr error
			n := allocated(func() { _, perr = inst.Process(t.Context(), records(1)) })
			t.Logf("the host allocated %d KiB during the call", n>>10)
			if !errors.Is(perr, host.ErrBudget) || !strings.Contains(perr.Error(), tc.want) {
				t.Errorf("Process = %v, want %q", perr, tc.want)
			}
			if len(metrics.v) > 1000 {
				t.Errorf("%d metric names kept; the budget is 1000", len(metrics.v))
			}
			if limit := uint64(4 << 20); n > limit {
				t.Errorf("the host allocated %d KiB during the call; the bound is %d KiB", n>>10, limit>>10)
			}
		})
	}
}

// logCounter is a slog.Handler counting the records and message bytes it
// is given.
type logCounter struct {
	mu    sync.Mutex
	lines int
	bytes int
	msgs  []string // the first few
	every []string
}

// all returns every message.
func (h *logCounter) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.every)
}

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCounter) WithGroup(string) slog.Handler            { return h }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines++
	h.bytes += len(r.Message)
	if len(h.msgs) < 10 {
		h.msgs = append(h.msgs, r.Message)
	}
	if len(h.every) < 10000 {
		h.every = append(h.every, r.Message)
	}
	return nil
}

// TestLogBudget guards issue #8: a guest's log calls and stdout lines per
// call were unbounded (100,000 lines in one call, or 60 KB each). Past the
// budget of lines or bytes the call fails naming it, and what reached the
// logger stays within the budget.
func TestLogBudget(t *testing.T) {
	cases := []struct {
		name          string
		call          string // one log line of $len bytes at 1024
		count, length int
		want          string
	}{
		{"log lines", `(call $log (i32.const 1) (i32.const 1024) (i32.const %d))`, 100000, 100, "host budget exceeded: log lines in one call (1000)"},
		{"log bytes", `(call $log (i32.const 1) (i32.const 1024) (i32.const %d))`, 100, 60000, "host budget exceeded: log bytes in one call (1MiB)"},
		{"stdout lines", `(drop (call $write (i32.const 1) (i32.const 512) (i32.const 1) (i32.const 600)))`, 100000, 100, "host budget exceeded: log lines in one call (1000)"},
	}
	e := newEngine(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			call := tc.call
			if strings.Contains(call, "%d") {
				call = fmt.Sprintf(call, tc.length)
			}
			m := loadWatText(t, e, "logbomb", fmt.Sprintf(`(module
  (import "wasmstream" "log" (func $log (param i32 i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "\91\dd\00\00\00\00")`+watAlloc+`
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (local $i i32)
    (memory.fill (i32.const 1024) (i32.const 120) (i32.const %d))
    (i32.store8 (i32.add (i32.const 1023) (i32.const %d)) (i32.const 10))
    (i32.store (i32.const 512) (i32.const 1024))
    (i32.store (i32.const 516) (i32.const %d))
    (loop $l
      %s
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const %d))))
    (i64.const 6))
)`, tc.length, tc.length, tc.length, call, tc.count))
			logs := &logCounter{}
			c := cfg()
			c.Logger = slog.New(logs)
			inst := instantiate(t, m, c)
			var perr error
			n := allocated(func() { _, perr = inst.Process(t.Context(), records(1)) })
			t.Logf("the host allocated %d KiB during the call", n>>10)
			if !errors.Is(perr, host.ErrBudget) || !strings.Contains(perr.Error(), tc.want) {
				t.Errorf("Process = %v, want %q", perr, tc.want)
			}
			if logs.lines > 1000 || logs.bytes > 1000*1100 {
				t.Errorf("the logger got %d lines, %d bytes; the budget is 1000 lines, 1 MiB", logs.lines, logs.bytes)
			}
			if limit := uint64(8 << 20); n > limit {
				t.Errorf("the host allocated %d KiB during the call; the bound is %d KiB", n>>10, limit>>10)
			}
		})
	}
}

// outputBomb returns a guest whose process returns a valid frame at 1 MiB of
// count records, each the bytes of record (a WAT string).
func outputBomb(count, size int, record string) string {
	pages := (1<<20+6+count*size)>>16 + 2
	return fmt.Sprintf(`(module
  (memory (export "memory") %d)
  (data (i32.const 512) "%s")
  (data (i32.const 1048576) "\91\dd")`+watAlloc+`
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $at i32)
    (i32.store (i32.const 1048578) (i32.const %d))
    (local.set $at (i32.const 1048582))
    (loop $l
      (memory.copy (local.get $at) (i32.const 512) (i32.const %d))
      (local.set $at (i32.add (local.get $at) (i32.const %d)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const %d))))
    (i64.or (i64.shl (i64.const 1048576) (i64.const 32)) (i64.const %d)))
)`, pages, record, bswap(uint32(count)), size, size, count, 6+count*size)
}

// bswap turns a count into the i32 whose little-endian store writes it
// big-endian, as the frame's array32 header wants.
func bswap(v uint32) int32 {
	return int32(v>>24 | (v>>8)&0xff00 | (v<<8)&0xff0000 | v<<24)
}

// TestOutputBudget guards issue #8: a valid 65 MB output frame of 13M
// empty records cost 2.6 GB of host memory to decode (~200 bytes a
// record). The record count and an estimate of the decoded size are
// checked in the frame's header before decoding, and headers as they are
// decoded.
func TestOutputBudget(t *testing.T) {
	cases := []struct {
		name        string
		count, size int
		record      string
		memory      uint64 // Budget.OutputMemory; 0 for the default
		want        string
	}{
		{"13M empty records", 13_000_000, 5, `\94\c0\c0\00\c0`, 0, "host budget exceeded: output records in one call (1000000): the frame holds 13000000"},
		{"decoded size", 500_000, 5, `\94\c0\c0\00\c0`, 16 << 20, "host budget exceeded: host memory of one call's output (16MiB): 500000 records in 2500006 bytes"},
		{"headers", 100_000, 19, `\94\c0\c0\00\9e\a0\c0\a0\c0\a0\c0\a0\c0\a0\c0\a0\c0\a0\c0`, 16 << 20, "host budget exceeded: host memory of one call's output (16MiB): reached at record"},
	}
	e := newEngine(t)
	for _, tc := range cases {
		for _, path := range []string{"records", "batch"} { // Process, and the runtime's ProcessBatch
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				m := loadWatText(t, e, "outputbomb", outputBomb(tc.count, tc.size, tc.record))
				c := cfg()
				c.MemoryLimit = 128 << 20
				c.Deadline = 10 * time.Second
				c.Budget.OutputMemory = tc.memory
				inst := instantiate(t, m, c)
				var perr error
				n := allocated(func() {
					if path == "records" {
						_, perr = inst.Process(t.Context(), records(1))
						return
					}
					var in, out abi.Batch
					in.Append(&records(1)[0])
					perr = inst.ProcessBatch(t.Context(), &in, &out)
				})
				t.Logf("the host allocated %d KiB during the call", n>>10)
				if !errors.Is(perr, host.ErrBudget) || !strings.Contains(perr.Error(), tc.want) {
					t.Errorf("Process = %v, want %q", perr, tc.want)
				}
				// The guest's own memory grows too (frame at 1 MiB); the host
				// may copy the frame once and decode within the budget.
				frame := uint64(6 + tc.count*tc.size)
				if limit := 2*frame + max(tc.memory, frame) + 4<<20; n > limit {
					t.Errorf("the host allocated %d MiB during the call; the bound is %d MiB", n>>20, limit>>20)
				}
			})
		}
	}
}

// TestInputBufferReleased guards issue #8: the host-side input buffer kept
// the size of the largest frame ever sent, for the instance's lifetime.
func TestInputBufferReleased(t *testing.T) {
	e := newEngine(t)
	inst := instantiate(t, load(t, e, "echo"), func() host.InstanceConfig { c := cfg(); c.MemoryLimit = 64 << 20; return c }())
	big := make([]abi.Record, 64)
	for i := range big {
		big[i] = abi.Record{Value: bytes.Repeat([]byte{'x'}, 256<<10)}
	}
	if _, err := inst.Process(t.Context(), big); err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Process(t.Context(), records(10)); err != nil {
		t.Fatal(err)
	}
	if n := host.InputBufferCap(inst); n > 4<<20 {
		t.Fatalf("after a 16 MiB frame and a small one the input buffer keeps %d bytes", n)
	}
}

// TestReplacementReusesMemory guards issue #8: a guest that grows its
// memory to the limit and traps, retried, had each replacement grow new
// memory while the broken instance's waited for the garbage collector
// (2.3-2.8x the limit). The replacement reuses the closed instance's
// memory: retries allocate next to nothing, and the heap stays within
// 1.2x the limit.
func TestReplacementReusesMemory(t *testing.T) {
	e := newEngine(t)
	const limit = 32 << 20
	c := cfg()
	c.MemoryLimit = limit
	op := host.NewOperator(load(t, e, "membomb"), c)
	defer op.Close(t.Context())
	var base goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&base)
	if _, err := op.Process(t.Context(), records(1), nil); !errors.Is(err, host.ErrMemoryLimit) {
		t.Fatalf("first call: %v", err)
	}
	const retries = 6
	var peak uint64
	n := allocated(func() {
		for i := range retries {
			if _, err := op.Process(t.Context(), records(1), nil); !errors.Is(err, host.ErrMemoryLimit) {
				t.Fatalf("retry %d: %v", i, err)
			}
			var ms goruntime.MemStats
			goruntime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	})
	t.Logf("%d retries allocated %d KiB; the heap grew by at most %d KiB", retries, n>>10, (int64(peak)-int64(base.HeapInuse))>>10)
	if op.Replaced != retries {
		t.Fatalf("replaced %d instances, want %d", op.Replaced, retries)
	}
	if n > limit/5*retries {
		t.Errorf("%d retries allocated %d MiB; the limit is %d MiB", retries, n>>20, limit>>20)
	}
	if grown := int64(peak) - int64(base.HeapInuse); grown > limit*12/10 {
		t.Errorf("the heap grew by %d MiB over %d retries; the bound is 1.2x the %d MiB limit", grown>>20, retries, limit>>20)
	}
}

// hasControl reports whether s holds a control character a terminal would
// act on.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e })
}

// TestGuestTextEscaped guards issue #8: guest error and log text went raw
// to stderr (NULs, terminal escapes, newlines that fake log lines), and
// set_error(ptr, 0xFFFFFFFF) printed 64 KiB of guest memory. Every guest
// string is escaped and cut to 1 KiB.
func TestGuestTextEscaped(t *testing.T) {
	cases := []struct {
		name   string
		text   string // a WAT string at 1024
		length string // the length passed
		want   string // the error detail / log message
	}{
		{"escapes", `\1b[31mred\00\nlevel=ERROR fake\r\e2\80\ae!\ff`, "32", `\x1b[31mred\x00\nlevel=ERROR fake\r\u202e!\xff`},
		{"huge length", `x`, "0xFFFFFFFF", "(a message of 4294967295 bytes at 1024 lies outside guest memory)"},
		{"long", ``, "5000", strings.Repeat(`\x00`, 1024) + "… (3976 bytes truncated)"},
	}
	e := newEngine(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := loadWatText(t, e, "errtext", fmt.Sprintf(`(module
  (import "wasmstream" "set_error" (func $set_error (param i32 i32)))
  (import "wasmstream" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 1024) "%s")`+watAlloc+`
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (call $log (i32.const 3) (i32.const 1024) (i32.const %s))
    (call $set_error (i32.const 1024) (i32.const %s))
    (i64.const -1))
)`, tc.text, tc.length, tc.length))
			logs := &logCounter{}
			c := cfg()
			c.Logger = slog.New(logs)
			inst := instantiate(t, m, c)
			_, err := inst.Process(t.Context(), records(1))
			var ge *host.GuestError
			if !errors.As(err, &ge) || !errors.Is(err, host.ErrOperator) {
				t.Fatalf("Process = %v, want an operator error", err)
			}
			if ge.Detail != tc.want {
				t.Errorf("error detail\n %q\nwant\n %q", ge.Detail, tc.want)
			}
			if len(logs.msgs) != 1 || logs.msgs[0] != tc.want {
				t.Errorf("logged %q, want [%q]", logs.msgs, tc.want)
			}
			if hasControl(err.Error()) {
				t.Errorf("error holds control characters: %q", err)
			}
		})
	}
}

// TestTrapAfterRefusedGrow guards issue #8: once a memory.grow had been
// refused, every later trap of the instance was reported as a memory-limit
// hit. A refusal is the cause only within its own call, and only of the
// failures that follow from it; any other trap is itself, with the refusal
// mentioned.
func TestTrapAfterRefusedGrow(t *testing.T) {
	e := newEngine(t)
	m := load(t, e, "growtrap")
	cases := []struct {
		name    string
		calls   []int // record counts of the calls before the checked one
		records int
		kind    error
		detail  string
		not     string
	}{
		{"trap in a later call", []int{1}, 2, host.ErrTrap, "unreachable", "memory"},
		{"other trap after a refusal", nil, 3, host.ErrTrap, "integer divide by zero (earlier in the call, growing memory to", ""},
		{"giving up after a refusal", nil, 4, host.ErrMemoryLimit, "the limit is 4194304 (then: wasm error: unreachable", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inst := instantiate(t, m, cfg())
			for _, n := range tc.calls {
				if _, err := inst.Process(t.Context(), records(n)); err != nil {
					t.Fatalf("call of %d records: %v", n, err)
				}
			}
			_, err := inst.Process(t.Context(), records(tc.records))
			var ge *host.GuestError
			if !errors.As(err, &ge) || !errors.Is(err, tc.kind) || !strings.Contains(ge.Detail, tc.detail) {
				t.Fatalf("Process = %v, want %v with %q", err, tc.kind, tc.detail)
			}
			if tc.not != "" && strings.Contains(ge.Detail, tc.not) {
				t.Errorf("detail %q mentions %q", ge.Detail, tc.not)
			}
		})
	}
}

// TestReplacementInitKeepsState guards issue #8: a replacement instance's
// init re-applied its state writes, undoing what batches had written since
// the operator started. Only the first instance's init writes state.
func TestReplacementInitKeepsState(t *testing.T) {
	e := newEngine(t)
	st, _, err := state.Open(state.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := cfg()
	c.State = st.NewTxn("op")
	op := host.NewOperator(load(t, e, "initstate"), c)
	defer op.Close(t.Context())
	read := func() string {
		v, _, err := st.NewTxn("op").Get(state.ScopeOperator, nil, []byte("k"))
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	if _, err := op.Process(t.Context(), records(0), nil); err != nil || read() != "init" {
		t.Fatalf("first call: %v; k = %q, want init", err, read())
	}
	if _, err := op.Process(t.Context(), records(1), nil); err != nil || read() != "proc" {
		t.Fatalf("second call: %v; k = %q, want proc", err, read())
	}
	if _, err := op.Process(t.Context(), records(2), nil); !errors.Is(err, host.ErrTrap) {
		t.Fatalf("third call: %v, want a trap", err)
	}
	if _, err := op.Process(t.Context(), records(0), nil); err != nil {
		t.Fatal(err)
	}
	if op.Replaced != 1 {
		t.Fatalf("replaced %d instances, want 1", op.Replaced)
	}
	if got := read(); got != "proc" {
		t.Fatalf("after a replacement k = %q, want proc (the replacement's init must not write it again)", got)
	}
}

// TestStdoutEscaped guards issue #8: a guest's stdout and stderr lines went
// raw to the log, like its error text. Each line is escaped and cut to
// 1 KiB.
func TestStdoutEscaped(t *testing.T) {
	e := newEngine(t)
	m := loadWatText(t, e, "stdout", `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "\91\dd\00\00\00\00")
  (data (i32.const 1024) "\1b[2J\00clear\r\nsecond")
  (data (i32.const 1100) "\n")
  ;; iovecs: the 18 bytes at 1024, 2,000 bytes at 8192, the newline at 1100
  (data (i32.const 512) "\00\04\00\00\12\00\00\00\00\20\00\00\d0\07\00\00\4c\04\00\00\01\00\00\00")`+watAlloc+`
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (memory.fill (i32.const 8192) (i32.const 121) (i32.const 2000))
    (drop (call $write (i32.const 1) (i32.const 512) (i32.const 3) (i32.const 600)))
    (i64.const 6))
)`)
	logs := &logCounter{}
	c := cfg()
	c.Logger = slog.New(logs)
	inst := instantiate(t, m, c)
	if _, err := inst.Process(t.Context(), records(1)); err != nil {
		t.Fatal(err)
	}
	want := []string{`\x1b[2J\x00clear\r`, "second" + strings.Repeat("y", 1018) + "… (982 bytes truncated)"}
	if got := logs.all(); !slices.Equal(got, want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
}
