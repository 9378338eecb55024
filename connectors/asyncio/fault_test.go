package asyncio_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmstream/wasmstream/connectors/asyncio"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// privateRedis is a redis-server of the test's own (Debian's), with its
// data kept on disk so that it survives a kill.
type privateRedis struct {
	addr, dir string
	cmd       *exec.Cmd
}

func startPrivateRedis(t *testing.T, addr, dir string) *privateRedis {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	r := &privateRedis{addr: addr, dir: dir, cmd: cmd}
	t.Cleanup(func() { r.kill() })
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	connectortest.WaitFor(t, 10*time.Second, "the private redis-server", func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
	return r
}

func (r *privateRedis) kill() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// pacedKeys yields n records "z0".."z{n-1}" (keys mod 100), about rate a
// second, in reads of 10.
type pacedKeys struct {
	n, rate, next int
	start         time.Time
	read          atomic.Int64
}

func (s *pacedKeys) Open(context.Context, runtime.Env) error { s.start = time.Now(); return nil }
func (s *pacedKeys) Close(context.Context) error             { return nil }
func (s *pacedKeys) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.next >= s.n {
		return nil, nil, io.EOF
	}
	due := s.start.Add(time.Duration(s.next) * time.Second / time.Duration(s.rate))
	select {
	case <-time.After(time.Until(due)):
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	var recs []runtime.Record
	for i := 0; i < 10 && s.next < s.n; i++ {
		recs = append(recs, runtime.Record{Value: []byte(fmt.Sprintf("z%d", s.next%100))})
		s.next++
	}
	s.read.Store(int64(s.next))
	return recs, func(error) {}, nil
}

// TestRedisTargetServerRestart is the fault test of the async targets: a
// pipeline looks up every record in a private Redis, which is killed
// mid-stream and started again. No record is lost or doubled: each gets
// its answer, or an error result once the retries are spent while the
// server is down; the pipeline never wedges, and answers come back once
// the server is up again.
func TestRedisTargetServerRestart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	srv := startPrivateRedis(t, addr, dir)
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	for i := range 100 {
		c.Set(context.Background(), "k:z"+strconv.Itoa(i), "z"+strconv.Itoa(i), 0)
	}
	mod := filepath.Join(t.TempDir(), "lookup.wasm")
	if err := guestbuild.Build(filepath.Join("..", "..", "examples", "wasm", "lookup", "go"), mod); err != nil {
		t.Fatal(err)
	}
	e, err := host.NewEngine(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	asyncio.Register(reg)
	out := &connectortest.Collector{}
	runtime.AddSource(reg, "keys", "", func(*struct{}) (runtime.Source, error) { return nil, nil })
	runtime.AddSink(reg, "out", "", func(*struct{}) (runtime.Sink, error) { return out, nil })
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: redis-fault
data_dir: %q
batch: {size: 10, linger: 1ms}
source: {keys: {}}
operators:
  - name: lookup
    wasm:
      module: %q
      params: {kind: redis}
      async:
        capacity: 20
        timeout: 300ms
        retry: {attempts: 3, backoff: 20ms, max_backoff: 100ms}
        targets:
          svc: {redis: {addr: %q, connect_timeout: 2s}}
sink: {out: {}}
`, t.TempDir(), mod, addr)), reg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	src := &pacedKeys{n: n, rate: 1000}
	p, err := runtime.Build(spec, runtime.WithSource(src))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	connectortest.WaitFor(t, 10*time.Second, "a third of the records", func() bool { return src.read.Load() >= n/3 })
	srv.kill()
	outage := time.Now()
	time.Sleep(500 * time.Millisecond) // the server stays down a while: requests run out of attempts
	srv = startPrivateRedis(t, addr, dir)
	t.Logf("Redis was down %v", time.Since(outage).Round(time.Millisecond))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recs := out.Records()
	if len(recs) != n {
		t.Fatalf("%d outputs for %d records", len(recs), n)
	}
	answered, failed, lastFailed := 0, 0, -1
	for i, r := range recs {
		v := string(r.Value)
		if k, ans, ok := strings.Cut(v, "="); ok {
			if k != ans {
				t.Fatalf("record %d: %q", i, v)
			}
			answered++
			continue
		}
		if !strings.Contains(v, "!") {
			t.Fatalf("record %d: %q", i, v)
		}
		failed++
		lastFailed = i
	}
	st := p.Stats().Operators[0].Async
	t.Logf("%d answered, %d error results (last at output %d), %d retries", answered, failed, lastFailed, st.Retries)
	if failed == 0 || st.Retries == 0 {
		t.Fatalf("the outage left no trace: %d errors, %d retries", failed, st.Retries)
	}
	if lastFailed > n*9/10 {
		t.Fatalf("lookups were still failing at output %d of %d, after the server was back", lastFailed, n)
	}
}
