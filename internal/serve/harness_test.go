package serve_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/collection"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/connectors/generator"
	"github.com/wasmstream/wasmstream/connectors/socket"
	"github.com/wasmstream/wasmstream/connectors/stdio"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/internal/serve"
	"github.com/wasmstream/wasmstream/runtime"
)

// testServer is a server on a real HTTP listener, with the built-in
// generator, collection and stdout connectors, and test sinks: "capture"
// (a new collector per pipeline) and "good" (one shared collector).
type testServer struct {
	api
	dir  string
	logs *lockedBuf
	good *connectortest.Collector

	mu       sync.Mutex
	captured []*connectortest.Collector
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ctx := context.Background()
	ts := &testServer{dir: t.TempDir(), logs: &lockedBuf{}, good: &connectortest.Collector{}}
	engine, err := host.NewEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close(ctx) })
	reg := runtime.NewRegistry()
	host.Register(reg, engine)
	generator.Register(reg)
	collection.Register(reg)
	stdio.Register(reg)
	socket.Register(reg)
	runtime.AddAsyncTarget(reg, "probe", "a test target reaching addr", func(c *probeTarget) (runtime.AsyncTarget, error) { return c, nil })
	runtime.AddSink(reg, "capture", "a test sink", func(*struct{}) (runtime.Sink, error) {
		c := &connectortest.Collector{}
		ts.mu.Lock()
		ts.captured = append(ts.captured, c)
		ts.mu.Unlock()
		return c, nil
	})
	runtime.AddSink(reg, "good", "one shared test sink", func(*struct{}) (runtime.Sink, error) { return ts.good, nil })
	logger := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := serve.New(serve.Config{DataDir: ts.dir, AdminToken: admin, Registry: reg, Engine: engine, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		srv.Close(10 * time.Second)
	})
	ts.api = api{t: t, url: hs.URL}
	return ts
}

// records returns what every capture sink got.
func (ts *testServer) records() []runtime.Record {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []runtime.Record
	for _, c := range ts.captured {
		out = append(out, c.Records()...)
	}
	return out
}

// guest builds an example guest (such as "uppercase/go") and returns its
// bytes.
func guest(t *testing.T, example string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "guest.wasm")
	if err := guestbuild.Build(filepath.Join("..", "..", "examples", "wasm", example), out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
