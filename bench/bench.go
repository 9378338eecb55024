// Package bench holds wasmstream's end-to-end benchmarks: the same workload
// through the whole runtime (source → batching → operator → sink, with acks)
// with the operator written in native Go and as a Wasm module, so their
// ratio measures what the Wasm boundary costs. Run `go run ./bench/harness`
// for a table of records/s and ratios, or `go test -bench . ./bench`.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// ValueSize is the size of each record's value, as in the design's workload.
const ValueSize = 100

// source yields n records of lowercase values in chunks of size chunk. It
// reuses its records and their buffer from one Read to the next, as
// runtime.Source allows (the runtime copies them first), so what the
// benchmarks measure is the engine's allocation, not the generator's.
type source struct {
	n, chunk, next int
	value          []byte
	recs           []runtime.Record
	buf            []byte
}

func (s *source) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *source) Close(ctx context.Context) error                 { return nil }
func (s *source) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.next >= s.n {
		return nil, nil, io.EOF
	}
	k := min(s.chunk, s.n-s.next)
	s.next += k
	size := len(s.value)
	if s.recs == nil {
		s.recs = make([]runtime.Record, s.chunk)
		s.buf = make([]byte, s.chunk*size)
	}
	recs := s.recs[:k]
	for i := range recs {
		v := s.buf[i*size : (i+1)*size : (i+1)*size]
		copy(v, s.value) // a new Read's data
		recs[i] = runtime.Record{Value: v}
	}
	return recs, ack, nil
}

func ack(error) {}

// sink counts records and checks they were upper-cased.
type sink struct {
	size  int // the values' length
	n     atomic.Int64
	bad   atomic.Int64
	probe *AllocProbe
}

// AllocProbe reads the process's heap allocation count when the sink has
// received From records and again at To, so that a benchmark can count
// the allocations of a steady state, without what building and starting
// a pipeline allocates.
type AllocProbe struct {
	From, To int64
	// Mallocs is the allocations between the two readings; Records the
	// records the sink received between them.
	Mallocs, Records int64
	start            uint64
	startN           int64
}

func (s *sink) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *sink) Close(ctx context.Context) error                 { return nil }
func (s *sink) Write(ctx context.Context, recs []runtime.Record) error {
	for i := range recs {
		v := recs[i].Value
		if len(v) != s.size || v[0] < 'A' || v[0] > 'Z' || v[len(v)-1] < 'A' || v[len(v)-1] > 'Z' {
			s.bad.Add(1)
		}
	}
	n := s.n.Add(int64(len(recs)))
	if p := s.probe; p != nil {
		if p.startN == 0 && n >= p.From {
			var m goruntime.MemStats
			goruntime.ReadMemStats(&m)
			p.start, p.startN = m.Mallocs, n
		} else if p.startN != 0 && p.Records == 0 && n >= p.To {
			var m goruntime.MemStats
			goruntime.ReadMemStats(&m)
			p.Mallocs, p.Records = int64(m.Mallocs-p.start), n-p.startN
		}
	}
	return nil
}

// nativeUpper is the same map as examples/wasm/uppercase, in Go.
type nativeUpper struct{}

func (nativeUpper) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	out = make([]runtime.Record, len(in))
	for i, r := range in {
		v := make([]byte, len(r.Value))
		for j, c := range r.Value {
			if 'a' <= c && c <= 'z' {
				c -= 32
			}
			v[j] = c
		}
		r.Value = v
		out[i] = r
	}
	return out, nil
}
func (nativeUpper) Close(ctx context.Context) error { return nil }

type nativeFactory struct{}

func (nativeFactory) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	return nativeUpper{}, nil
}
func (nativeFactory) Close(ctx context.Context) error { return nil }

type nativeConfig struct {
	runtime.OperatorSettings `yaml:",inline"`
}

// Env holds what the benchmarks share: the engine and the uppercase module
// of every guest language whose toolchain is installed.
type Env struct {
	Engine  *host.Engine
	Modules map[string]string // language → path of its uppercase.wasm
	Langs   []string          // the languages of Modules, Go first
	Skipped []error           // guests whose toolchain is missing
	reg     *runtime.Registry
}

// NewEnv builds examples/wasm/uppercase/<language> for every language into
// dir and returns an engine that can run them. root is the repository root.
// A guest whose toolchain is missing is listed in Skipped; any other build
// failure is an error.
func NewEnv(ctx context.Context, root, dir string) (*Env, error) {
	env := &Env{Modules: map[string]string{}}
	for _, g := range guestbuild.Guests(filepath.Join(root, "examples", "wasm", "uppercase")) {
		mod := filepath.Join(dir, "uppercase-"+g.Lang+".wasm")
		err := guestbuild.Build(g.Dir, mod)
		if errors.Is(err, guestbuild.ErrNoToolchain) {
			env.Skipped = append(env.Skipped, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		env.Modules[g.Lang] = mod
		env.Langs = append(env.Langs, g.Lang)
	}
	if env.Modules["go"] == "" {
		return nil, errors.New("bench: the Go uppercase guest did not build")
	}
	e, err := host.NewEngine(ctx)
	if err != nil {
		return nil, err
	}
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	runtime.AddOperator(reg, "native_upper", "the uppercase map in Go", func(*nativeConfig) (runtime.OperatorFactory, error) {
		return nativeFactory{}, nil
	})
	type none struct{}
	runtime.AddSource(reg, "bench", "replaced", func(*none) (runtime.Source, error) { return &source{}, nil })
	runtime.AddSink(reg, "bench", "replaced", func(*none) (runtime.Sink, error) { return &sink{}, nil })
	env.Engine, env.reg = e, reg
	return env, nil
}

// InstanceCreation loads a language's uppercase module and returns the
// median time of n instance creations (the module compiled once before).
func (e *Env) InstanceCreation(ctx context.Context, lang string, n int) (time.Duration, error) {
	m, err := e.Engine.Load(ctx, e.Modules[lang])
	if err != nil {
		return 0, err
	}
	times := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		inst, err := m.Instantiate(ctx, host.InstanceConfig{MemoryLimit: 64 << 20, Deadline: 10 * time.Second})
		if err != nil {
			return 0, err
		}
		times = append(times, time.Since(start))
		inst.Close(ctx)
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// Close releases the engine.
func (e *Env) Close(ctx context.Context) error { return e.Engine.Close(ctx) }

// Run pushes n records through a pipeline with one uppercase operator
// ("native", or a guest language such as "go" or "rust") at the given
// batch size and parallelism, and returns how many records reached the
// sink.
func (e *Env) Run(ctx context.Context, kind string, batch, parallelism, n int, dataDir string) (int64, error) {
	return e.RunConfig(ctx, Config{Kind: kind, Batch: batch, Parallelism: parallelism, Records: n, DataDir: dataDir})
}

// Config is one end-to-end run.
type Config struct {
	Kind        string // "native" or a guest language
	Batch       int
	Parallelism int
	Records     int
	ValueSize   int // 0 is ValueSize
	Chain       int // uppercase operators in a row; 0 is 1
	DataDir     string
	Probe       *AllocProbe // optional
}

// RunConfig runs c and returns how many records reached the sink, checked
// upper-cased.
func (e *Env) RunConfig(ctx context.Context, c Config) (int64, error) {
	if c.ValueSize == 0 {
		c.ValueSize = ValueSize
	}
	c.Chain = max(c.Chain, 1)
	c.Parallelism = max(c.Parallelism, 1)
	op := fmt.Sprintf("native_upper: {parallelism: %d}", c.Parallelism)
	if c.Kind != "native" {
		mod, ok := e.Modules[c.Kind]
		if !ok {
			return 0, fmt.Errorf("bench: no %s uppercase guest", c.Kind)
		}
		op = fmt.Sprintf("wasm: {module: %q, parallelism: %d}", mod, c.Parallelism)
		if c.Batch*c.ValueSize > 16<<20 {
			// Batches past the defaults' 64 MiB output and 256 MiB memory.
			op = fmt.Sprintf("wasm: {module: %q, parallelism: %d, max_output: 1GiB, memory_limit: 2GiB, max_output_memory: 2GiB}", mod, c.Parallelism)
		}
	}
	ops := make([]string, c.Chain)
	for i := range ops {
		ops[i] = "{" + op + "}"
	}
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: bench
data_dir: %q
batch: {size: %d, linger: 1ms, max_bytes: 256MiB}
queue_depth: 8
queue_max_bytes: 256MiB
source: {bench: {}}
operators: [%s]
sink: {bench: {}}
`, c.DataDir, c.Batch, strings.Join(ops, ", "))), e.reg)
	if err != nil {
		return 0, err
	}
	value := make([]byte, c.ValueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	snk := &sink{size: c.ValueSize, probe: c.Probe}
	chunk := max(c.Batch, 1000)
	p, err := runtime.Build(spec, runtime.WithSource(&source{n: c.Records, chunk: chunk, value: value}), runtime.WithSink(snk))
	if err != nil {
		return 0, err
	}
	if err := p.Run(ctx); err != nil {
		return 0, err
	}
	if snk.bad.Load() > 0 {
		return 0, fmt.Errorf("%d records were not transformed", snk.bad.Load())
	}
	return snk.n.Load(), nil
}
