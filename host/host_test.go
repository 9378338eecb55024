package host_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
)

// buildWat compiles testdata/NAME.wat with wabt's wat2wasm, which the test
// command installs. These small hand-written guests exercise the ABI's edge
// cases that no SDK would produce on purpose.
func buildWat(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command("wat2wasm", filepath.Join("testdata", name+".wat"), "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s (install wabt: the test command does): %v\n%s", name, err, b)
	}
	return out
}

func newEngine(t *testing.T) *host.Engine {
	t.Helper()
	e, err := host.NewEngine(t.Context(), host.WithCacheDir(filepath.Join(t.TempDir(), "cache")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func load(t *testing.T, e *host.Engine, name string) *host.Module {
	t.Helper()
	m, err := e.Load(t.Context(), buildWat(t, name))
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	return m
}

func cfg() host.InstanceConfig {
	return host.InstanceConfig{Pipeline: "p", Operator: "op", MemoryLimit: 4 << 20, Deadline: 2 * time.Second}
}

func records(n int) []abi.Record {
	out := make([]abi.Record, n)
	for i := range out {
		out[i] = abi.Record{Key: []byte{byte(i)}, Value: bytes.Repeat([]byte{'a' + byte(i%26)}, 100), Timestamp: int64(i)}
	}
	return out
}

func TestEchoRoundTrip(t *testing.T) {
	e := newEngine(t)
	m := load(t, e, "echo")
	if info := m.Info(); info.ABIVersion != 1 || info.MemoryMin != 2 {
		t.Fatalf("info = %+v", info)
	}
	inst, err := m.Instantiate(t.Context(), cfg())
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(t.Context())
	for _, n := range []int{0, 1, 1000, 20000} {
		in := records(n)
		out, err := inst.Process(t.Context(), in)
		if err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if len(out) != n {
			t.Fatalf("got %d records, want %d", len(out), n)
		}
		for i := range in {
			if !bytes.Equal(out[i].Value, in[i].Value) || out[i].Timestamp != in[i].Timestamp {
				t.Fatalf("record %d changed", i)
			}
		}
	}
	// Compiling the same bytes again returns the cached module.
	again, err := e.Load(t.Context(), buildWat(t, "echo"))
	if err != nil || again.Digest() != m.Digest() {
		t.Fatalf("reload: %v", err)
	}
}

func TestGuestFailures(t *testing.T) {
	e := newEngine(t)
	cases := []struct {
		module string
		kind   error
		detail string
		broken bool
	}{
		{"trap", host.ErrTrap, "unreachable", true},
		{"loop", host.ErrDeadline, "stopped after", true},
		{"membomb", host.ErrMemoryLimit, "the limit is 4194304", true},
		{"outside", host.ErrBadOutput, "lies outside guest memory", true},
		{"garbage", host.ErrBadOutput, "malformed frame", true},
		{"error", host.ErrOperator, "record 7 is not valid JSON", false},
	}
	for _, c := range cases {
		t.Run(c.module, func(t *testing.T) {
			m := load(t, e, c.module)
			conf := cfg()
			conf.Deadline = 300 * time.Millisecond
			inst, err := m.Instantiate(t.Context(), conf)
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(t.Context())
			start := time.Now()
			_, err = inst.Process(t.Context(), records(10))
			var ge *host.GuestError
			if !errors.As(err, &ge) || !errors.Is(err, c.kind) {
				t.Fatalf("Process = %v, want a GuestError wrapping %v", err, c.kind)
			}
			for _, want := range []string{"pipeline p", "operator op", c.module + ".wasm", "process", c.detail} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if ge.Broken() != c.broken || inst.Broken() != c.broken {
				t.Fatalf("broken = %v/%v, want %v", ge.Broken(), inst.Broken(), c.broken)
			}
			if c.module == "loop" && time.Since(start) > 5*time.Second {
				t.Fatalf("deadline of 300ms took %v to stop the loop", time.Since(start))
			}
		})
	}
}

func TestOperatorReplacesBrokenInstance(t *testing.T) {
	e := newEngine(t)
	op := host.NewOperator(load(t, e, "trap"), cfg())
	defer op.Close(t.Context())
	for i := 0; i < 3; i++ {
		if _, err := op.Process(t.Context(), records(5), nil); !errors.Is(err, host.ErrTrap) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if op.Replaced != 2 {
		t.Fatalf("replaced %d instances, want 2", op.Replaced)
	}
}

func TestModuleRejected(t *testing.T) {
	e := newEngine(t)
	cases := []struct {
		module string
		want   []string
	}{
		{"noprocess", []string{`missing required export "process" (i32, i32) -> (i64)`}},
		{"badimports", []string{"wasmstream.timer_set, which ABI version 1 reserves but this host does not implement yet", "imports wasmstream.state_get with type (i32, i32, i32) -> (i64), want (i32, i32, i32, i32, i32, i32, i32) -> (i64)", "imports env.now; the host provides only"}},
		// guards issue #8 (guest text): import names are escaped, and a
		// module with many bad imports gets a bounded message.
		{"hostileimports", []string{`imports env\n\x1b[31m.now\x00; the host provides only`, "and 21 more problems"}},
		{"abi2", []string{"unsupported ABI version: the module speaks ABI version 2; this host supports [1]"}},
	}
	for _, c := range cases {
		t.Run(c.module, func(t *testing.T) {
			_, err := e.Load(t.Context(), buildWat(t, c.module))
			var me *host.ModuleError
			if !errors.As(err, &me) {
				t.Fatalf("Load = %v, want a *ModuleError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.ContainsAny(err.Error(), "\x00\x1b") || strings.Count(err.Error(), "\n") > 25 {
				t.Errorf("error holds raw control characters or too many lines: %q", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := e.Load(t.Context(), filepath.Join(t.TempDir(), "nope.wasm")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Load = %v", err)
		}
	})
	t.Run("not wasm", func(t *testing.T) {
		if _, err := e.Compile(t.Context(), "text", []byte("hello")); err == nil || !strings.Contains(err.Error(), "not a WebAssembly binary") {
			t.Fatalf("Compile = %v", err)
		}
	})
	t.Run("initial memory over limit", func(t *testing.T) {
		m := load(t, e, "echo")
		c := cfg()
		c.MemoryLimit = 65536
		if _, err := m.Instantiate(t.Context(), c); !errors.Is(err, host.ErrMemoryLimit) {
			t.Fatalf("Instantiate = %v", err)
		}
	})
}

// TestRunawayDoesNotBlockOthers runs an infinite loop and a healthy module
// side by side: the healthy one keeps its pace while the other is stuck.
func TestRunawayDoesNotBlockOthers(t *testing.T) {
	e := newEngine(t)
	loop, echo := load(t, e, "loop"), load(t, e, "echo")
	c := cfg()
	c.Deadline = 2 * time.Second
	li, err := loop.Instantiate(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer li.Close(t.Context())
	ei, err := echo.Instantiate(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer ei.Close(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	looping := make(chan struct{})
	go func() {
		defer wg.Done()
		close(looping)
		li.Process(context.Background(), records(1))
	}()
	<-looping
	start := time.Now()
	for i := 0; i < 200; i++ {
		if _, err := ei.Process(t.Context(), records(100)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("healthy instance took %v for 200 batches while another looped", d)
	}
	wg.Wait()
}
