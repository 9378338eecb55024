package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmstream/wasmstream/connectors/asyncio"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// Async I/O figures: the lookup operator (examples/wasm/lookup/go), one
// request per record, against a local HTTP service that answers after a
// set delay, and against the local Redis.

// LookupService is an HTTP server answering GET /v/KEY with KEY after a
// delay: fixed, or drawn per key from [Min, Max] (the same key always
// waits as long, so runs compare).
type LookupService struct {
	URL      string
	Min, Max time.Duration
	Served   atomic.Int64
	srv      *http.Server
}

// StartLookupService listens on a free loopback port.
func StartLookupService(min, max time.Duration) (*LookupService, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &LookupService{URL: "http://" + l.Addr().String(), Min: min, Max: max}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/v/")
		d := s.Min
		if s.Max > s.Min {
			h := fnv.New64a()
			h.Write([]byte(key))
			d += time.Duration(h.Sum64() % uint64(s.Max-s.Min))
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		s.Served.Add(1)
		io.WriteString(w, key)
	})}
	go s.srv.Serve(l)
	return s, nil
}

// Close stops the service.
func (s *LookupService) Close() error { return s.srv.Close() }

// keySource yields n records whose values are keys(i).
type keySource struct {
	n, chunk, next int
	keys           func(i int) string
	recs           []runtime.Record
}

func (s *keySource) Open(context.Context, runtime.Env) error { return nil }
func (s *keySource) Close(context.Context) error             { return nil }
func (s *keySource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.next >= s.n {
		return nil, nil, io.EOF
	}
	k := min(s.chunk, s.n-s.next)
	s.recs = s.recs[:0]
	for i := s.next; i < s.next+k; i++ {
		s.recs = append(s.recs, runtime.Record{Value: []byte(s.keys(i))})
	}
	s.next += k
	return s.recs, ack, nil
}

// answerSink counts records, and those that are not "key=key" answers.
type answerSink struct {
	n, bad atomic.Int64
}

func (s *answerSink) Open(context.Context, runtime.Env) error { return nil }
func (s *answerSink) Close(context.Context) error             { return nil }
func (s *answerSink) Write(_ context.Context, recs []runtime.Record) error {
	for _, r := range recs {
		k, v, ok := strings.Cut(string(r.Value), "=")
		if !ok || k != v {
			s.bad.Add(1)
		}
	}
	s.n.Add(int64(len(recs)))
	return nil
}

// AsyncEnv runs the lookup operator.
type AsyncEnv struct {
	engine *host.Engine
	module string
}

// NewAsyncEnv builds the lookup guest into dir.
func NewAsyncEnv(ctx context.Context, root, dir string) (*AsyncEnv, error) {
	mod := filepath.Join(dir, "lookup.wasm")
	if err := guestbuild.Build(filepath.Join(root, "examples", "wasm", "lookup", "go"), mod); err != nil {
		return nil, err
	}
	e, err := host.NewEngine(ctx)
	if err != nil {
		return nil, err
	}
	return &AsyncEnv{engine: e, module: mod}, nil
}

// Close releases the engine.
func (a *AsyncEnv) Close(ctx context.Context) error { return a.engine.Close(ctx) }

// AsyncRun is one run's figures.
type AsyncRun struct {
	Records int
	Rate    float64 // records/s
	Stats   runtime.AsyncStats
}

// Run sends n records with keys(i) through the lookup operator whose
// async block is async (YAML, indented for the operator's settings) and
// params kind, and returns the records/s.
func (a *AsyncEnv) Run(ctx context.Context, n int, keys func(int) string, kind, async string) (AsyncRun, error) {
	reg := runtime.NewRegistry()
	host.Register(reg, a.engine)
	asyncio.Register(reg)
	type none struct{}
	runtime.AddSource(reg, "bench", "replaced", func(*none) (runtime.Source, error) { return nil, nil })
	runtime.AddSink(reg, "bench", "replaced", func(*none) (runtime.Sink, error) { return nil, nil })
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: async-bench
source: {bench: {}}
operators:
  - name: lookup
    wasm:
      module: %q
      params: {kind: %s}
      async:
%s
sink: {bench: {}}
`, a.module, kind, async)), reg)
	if err != nil {
		return AsyncRun{}, err
	}
	spec.DataDir = filepath.Join(filepath.Dir(a.module), "data")
	snk := &answerSink{}
	p, err := runtime.Build(spec, runtime.WithSource(&keySource{n: n, chunk: 1000, keys: keys}), runtime.WithSink(snk))
	if err != nil {
		return AsyncRun{}, err
	}
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		return AsyncRun{}, err
	}
	el := time.Since(start)
	if got := snk.n.Load(); got != int64(n) || snk.bad.Load() != 0 {
		return AsyncRun{}, fmt.Errorf("bench: %d answers of %d records, %d wrong", got, n, snk.bad.Load())
	}
	return AsyncRun{Records: n, Rate: float64(n) / el.Seconds(), Stats: *p.Stats().Operators[0].Async}, nil
}

// HTTPAsync is the async block of a lookup against svc.
func HTTPAsync(url, mode string, capacity int) string {
	return fmt.Sprintf(`        mode: %s
        capacity: %d
        timeout: 10s
        targets:
          svc: {http: {url: %q}}`, mode, capacity, url)
}

// RedisAsync is the async block of a lookup against Redis at addr, with
// a cache and batching when asked.
func RedisAsync(addr string, capacity int, cache, batch bool) string {
	extra := ""
	if cache {
		extra += "\n            cache: {ttl: 1m, max_entries: 100000}"
	}
	if batch {
		extra += "\n            batch: {max: 100, linger: 1ms}"
	}
	return fmt.Sprintf(`        mode: ordered
        capacity: %d
        targets:
          svc:
            redis: {addr: %q, pool_size: 16}%s`, capacity, addr, extra)
}

// Zipf returns keys drawn from a Zipf distribution (s 1.1) over n keys,
// fixed by seed.
func Zipf(n int, seed uint64) func(int) string {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, seed)), 1.1, 1, uint64(n-1))
	drawn := map[int]string{}
	return func(i int) string {
		k, ok := drawn[i]
		if !ok {
			k = "z" + strconv.FormatUint(z.Uint64(), 10)
			drawn[i] = k
		}
		return k
	}
}

// RedisFixture fills Redis at addr with k:z0..k:z(n-1) = their key and
// returns a func reading the server's count of GET and MGET commands.
func RedisFixture(ctx context.Context, addr string, n int) (calls func() (int64, error), cleanup func(), err error) {
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("bench: Redis at %s: %w", addr, err)
	}
	pipe := c.Pipeline()
	for i := range n {
		k := "z" + strconv.Itoa(i)
		pipe.Set(ctx, "k:"+k, k, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		c.Close()
		return nil, nil, err
	}
	calls = func() (int64, error) {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			return 0, err
		}
		var total int64
		for _, line := range strings.Split(info, "\n") {
			for _, name := range []string{"cmdstat_get:", "cmdstat_mget:"} {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), name); ok {
					f := strings.SplitN(strings.TrimPrefix(rest, "calls="), ",", 2)
					v, err := strconv.ParseInt(f[0], 10, 64)
					if err != nil {
						return 0, errors.New("bench: unreadable commandstats line " + line)
					}
					total += v
				}
			}
		}
		return total, nil
	}
	cleanup = func() {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = "k:z" + strconv.Itoa(i)
		}
		c.Del(context.Background(), keys...)
		c.Close()
	}
	return calls, cleanup, nil
}
