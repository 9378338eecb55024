package host_test

import (
	"fmt"
	"path/filepath"
	"slices"
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
