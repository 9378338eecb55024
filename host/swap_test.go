package host_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
)

// tickSource returns one record per Read until stopped.
type tickSource struct{ n int }

func (s *tickSource) Open(context.Context, runtime.Env) error { return nil }
func (s *tickSource) Close(context.Context) error             { return nil }
func (s *tickSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-time.After(time.Millisecond): // a steady stream
	}
	s.n++
	return []runtime.Record{{Value: []byte(fmt.Sprint(s.n))}}, func(error) {}, nil
}

// TestSwapReleasesTheOldModule: swapping a Wasm operator's module loads,
// checks and starts the new one, refuses a file that is not a module with
// nothing changed, and releases the old module's compiled code: the
// engine holds one module after each swap.
func TestSwapReleasesTheOldModule(t *testing.T) {
	e := newEngine(t)
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.wasm")
	if b, err := exec.Command("wat2wasm", filepath.Join("testdata", "echo.wat"), "-o", v1).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	echo, err := os.ReadFile(v1)
	if err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(dir, "v2.wasm")
	// The same code under another digest: a custom section appended.
	if err := os.WriteFile(v2, append(append([]byte(nil), echo...), 0, 4, 2, 'v', '2', '!'), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	runtime.AddSink(reg, "capture", "test sink", func(c *captureConfig) (runtime.Sink, error) { return &connectortest.Collector{}, nil })
	runtime.AddSource(reg, "ticks", "test source", func(*struct{}) (runtime.Source, error) { return &tickSource{}, nil })
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: swap
data_dir: %q
source: {ticks: {}}
operators: [{name: echo, wasm: {module: %q}}]
sink: {capture: {name: main}}
`, t.TempDir(), v1)), reg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &connectortest.Collector{}
	p, err := runtime.Build(spec, runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	if _, err := host.Swap(ctx, p, e, "echo", bad, runtime.SwapOptions{}); err == nil {
		t.Fatal("a file that is not a module was swapped in")
	}
	if n := e.Loaded(); n != 1 {
		t.Fatalf("the engine holds %d modules after a refused swap, want 1", n)
	}
	for _, path := range []string{v2, v1} {
		if _, err := host.Swap(ctx, p, e, "echo", path, runtime.SwapOptions{}); err != nil {
			t.Fatal(err)
		}
		if n := e.Loaded(); n != 1 {
			t.Fatalf("the engine holds %d modules after swapping to %s, want 1 (the old one released)", n, filepath.Base(path))
		}
	}
	connectortest.WaitFor(t, 10*time.Second, "records after the swaps", func() bool { return len(sink.Records()) > 10 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := e.Loaded(); n != 0 {
		t.Fatalf("the engine holds %d modules after the pipeline ended, want 0", n)
	}
}
