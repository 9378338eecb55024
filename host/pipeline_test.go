package host_test

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/collection"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// values returns the values a sink was given, sorted.
func values(c *connectortest.Collector) []string {
	var v []string
	for _, r := range c.Records() {
		v = append(v, string(r.Value))
	}
	slices.Sort(v)
	return v
}

type captureConfig struct {
	Name string `yaml:"name" required:"true"`
}

// TestPipelineFailurePolicy runs the Go conformance operator in a pipeline:
// records that trap or fail are retried, then isolated and dead-lettered
// with their error, one by one; every other record arrives upper-cased; the
// broken instances are replaced and counted.
func TestPipelineFailurePolicy(t *testing.T) {
	e := newEngine(t)
	mod := buildGuest(t, guestbuild.Guest{Lang: "go", Dir: filepath.Join("..", "examples", "wasm", "conformance", "go")})
	sinks := map[string]*connectortest.Collector{"main": {}, "dead": {}}
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	collection.Register(reg)
	runtime.AddSink(reg, "capture", "test sink", func(c *captureConfig) (runtime.Sink, error) { return sinks[c.Name], nil })
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: policy
data_dir: %q
batch: {size: 4, linger: 1ms}
source: {collection: {values: [a, b, trap, c, d, "error:no good", e, f, g]}}
operators:
  - wasm: {module: %q, deadline: 5s, memory_limit: 64MiB}
sink: {capture: {name: main}}
on_error: {retries: 1, backoff: 1ms, action: dead_letter, dead_letter: {capture: {name: dead}}}
`, t.TempDir(), mod)), reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtime.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := values(sinks["main"]), []string{"A", "B", "C", "D", "E", "F", "G"}; !slices.Equal(got, want) {
		t.Errorf("main sink got %q, want %q", got, want)
	}
	if got, want := values(sinks["dead"]), []string{"error:no good", "trap"}; !slices.Equal(got, want) {
		t.Errorf("dead-letter sink got %q, want %q", got, want)
	}
	for _, r := range sinks["dead"].Records() {
		if len(headerOf(r, runtime.HeaderError)) == 0 {
			t.Errorf("dead record %q has no %s header", r.Value, runtime.HeaderError)
		}
	}
	st := p.Stats()
	if st.DeadLettered != 2 || st.RecordsOut != 7 {
		t.Errorf("stats: %d dead-lettered, %d out; want 2, 7", st.DeadLettered, st.RecordsOut)
	}
	// The trap breaks an instance on the first try, the retry and the
	// isolating calls: at least two replacements, all counted.
	if n := st.Operators[0].Metrics["wasm.instances_replaced"]; n < 2 {
		t.Errorf("instances replaced: %d, want at least 2 (metrics %v)", n, st.Operators[0].Metrics)
	}
}

func headerOf(r runtime.Record, name string) []byte {
	for _, h := range r.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return nil
}

// TestDeadlineRequired guards issue #8: `deadline: 0s` silently turned the
// deadline off, so one looping call could hold its batch forever. A
// deadline must be more than 0; the pipeline file is refused, naming it.
func TestDeadlineRequired(t *testing.T) {
	e := newEngine(t)
	mod := buildWat(t, "echo")
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	collection.Register(reg)
	runtime.AddSink(reg, "capture", "test sink", func(c *captureConfig) (runtime.Sink, error) { return &connectortest.Collector{}, nil })
	for _, d := range []string{"0s", "0"} {
		t.Run(d, func(t *testing.T) {
			_, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: nodeadline
source: {collection: {values: [a]}}
operators:
  - wasm: {module: %q, deadline: %s}
sink: {capture: {name: main}}
`, mod, d)), reg)
			if err == nil || !strings.Contains(err.Error(), "operators[0].wasm.deadline: must be more than 0") {
				t.Fatalf("Parse = %v, want the deadline refused", err)
			}
		})
	}
}

// TestInstancesStartLazily guards issue #8: every instance of an operator
// was created when the pipeline started (about 5 MB each for a Go guest;
// parallelism 4096 ran out of memory). Instance 0 starts at once, to
// refuse a module that cannot start; the others on their first batch.
func TestInstancesStartLazily(t *testing.T) {
	e := newEngine(t)
	mod := filepath.Join(t.TempDir(), "started.wat")
	if err := os.WriteFile(mod, []byte(`(module
  (import "wasmstream" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 64)
  (data (i32.const 0) "\91\dd\00\00\00\00")
  (data (i32.const 16) "started")`+watAlloc+`
  (func (export "init") (param $p i32) (param $n i32) (result i32)
    (call $log (i32.const 1) (i32.const 16) (i32.const 7))
    (i32.const 0))
  (func (export "process") (param $p i32) (param $n i32) (result i64) (i64.const 6))
)`), 0o644); err != nil {
		t.Fatal(err)
	}
	wasm := strings.TrimSuffix(mod, ".wat") + ".wasm"
	if b, err := exec.Command("wat2wasm", mod, "-o", wasm).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	collection.Register(reg)
	runtime.AddSink(reg, "capture", "test sink", func(c *captureConfig) (runtime.Sink, error) { return &connectortest.Collector{}, nil })
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: lazy
data_dir: %q
source: {collection: {values: [a]}}
operators:
  - wasm: {module: %q, parallelism: 32}
sink: {capture: {name: main}}
`, t.TempDir(), wasm)), reg)
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
	started := 0
	for _, m := range logs.all() {
		if m == "started" {
			started++
		}
	}
	if started < 1 || started > 2 {
		t.Fatalf("%d of 32 instances started for one record; want instance 0 and the one the record reached", started)
	}
	if n := p.Stats().Operators[0].Metrics["wasm.instances_started"]; n != int64(started) {
		t.Errorf("wasm.instances_started = %d, want %d", n, started)
	}
}

// TestKeyedWritesOwned guards issue #8 (item 4): with parallelism 2 an
// instance could write keyed state for a key another instance owns, and two
// instances raced on it. A Wasm operator's transaction takes the key groups
// the router sends its instance (runtime.OwnedKeys): the guest below writes
// key "x" for every record, which only the instance owning "x" may do; the
// other's first batch fails, naming the key.
func TestKeyedWritesOwned(t *testing.T) {
	e := newEngine(t)
	mod := filepath.Join(t.TempDir(), "writex.wat")
	if err := os.WriteFile(mod, []byte(`(module
  (import "wasmstream" "state_add" (func $add (param i32 i32 i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "\91\dd\00\00\00\00")
  (data (i32.const 16) "xn")`+watAlloc+`
  (func (export "process") (param $p i32) (param $n i32) (result i64)
    (if (result i64) (call $add (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 17) (i32.const 1) (i64.const 1) (i32.const 32))
      (then (i64.const -1)) (else (i64.const 6))))
)`), 0o644); err != nil {
		t.Fatal(err)
	}
	wasm := strings.TrimSuffix(mod, ".wat") + ".wasm"
	if b, err := exec.Command("wat2wasm", mod, "-o", wasm).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	owner := runtime.InstanceFor(runtime.KeyGroup([]byte("x"), 128), 128, 2)
	var recs strings.Builder
	routed := map[int]int{}
	for i := range 20 {
		k := fmt.Sprintf("k%d", i)
		fmt.Fprintf(&recs, "{key: %s, value: %s}, ", k, k)
		routed[runtime.InstanceFor(runtime.KeyGroup([]byte(k), 128), 128, 2)]++
	}
	if routed[0] == 0 || routed[1] == 0 {
		t.Fatalf("the keys all route to one instance (%v); pick others", routed)
	}
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	collection.Register(reg)
	runtime.AddSink(reg, "capture", "test sink", func(c *captureConfig) (runtime.Sink, error) { return &connectortest.Collector{}, nil })
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: owned
data_dir: %q
key_groups: 128
batch: {size: 4, linger: 1ms}
source: {collection: {records: [%s]}}
operators:
  - wasm: {module: %q, parallelism: 2}
sink: {capture: {name: main}}
on_error: {retries: 0}
`, t.TempDir(), recs.String(), wasm)), reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtime.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(t.Context())
	want := fmt.Sprintf(`(instance %d, module`, 1-owner)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `state key outside this instance's key groups: operator wasm-0 wrote key "x"`) {
		t.Fatalf("Run = %v, want instance %d's write of key \"x\" refused", err, 1-owner)
	}
	// Issue #9 item 4: the refusal says how to key records instead.
	if !strings.Contains(err.Error(), "set key_by on the operator in the pipeline file") {
		t.Errorf("Run = %v, want the refusal to point at key_by", err)
	}
}
