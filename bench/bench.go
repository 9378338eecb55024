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
	"slices"
	"sync/atomic"
	"time"

	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// ValueSize is the size of each record's value, as in the design's workload.
const ValueSize = 100

// source yields n records of ValueSize lowercase bytes in chunks of size
// chunk, all sharing one backing array per chunk.
type source struct {
	n, chunk, next int
	value          []byte
}

func (s *source) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *source) Close(ctx context.Context) error                 { return nil }
func (s *source) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.next >= s.n {
		return nil, nil, io.EOF
	}
	k := min(s.chunk, s.n-s.next)
	s.next += k
	recs := make([]runtime.Record, k)
	buf := make([]byte, k*ValueSize)
	for i := range recs {
		v := buf[i*ValueSize : (i+1)*ValueSize : (i+1)*ValueSize]
		copy(v, s.value)
		recs[i] = runtime.Record{Value: v}
	}
	return recs, func(error) {}, nil
}

// sink counts records and checks they were upper-cased.
type sink struct {
	n   atomic.Int64
	bad atomic.Int64
}

func (s *sink) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *sink) Close(ctx context.Context) error                 { return nil }
func (s *sink) Write(ctx context.Context, recs []runtime.Record) error {
	for i := range recs {
		if len(recs[i].Value) != ValueSize || recs[i].Value[0] < 'A' || recs[i].Value[0] > 'Z' {
			s.bad.Add(1)
		}
	}
	s.n.Add(int64(len(recs)))
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
// ("native", or a guest language such as "go" or "rust") at the given batch size and parallelism, and returns
// how many records reached the sink.
func (e *Env) Run(ctx context.Context, kind string, batch, parallelism, n int, dataDir string) (int64, error) {
	op := fmt.Sprintf("native_upper: {parallelism: %d}", parallelism)
	if kind != "native" {
		mod, ok := e.Modules[kind]
		if !ok {
			return 0, fmt.Errorf("bench: no %s uppercase guest", kind)
		}
		op = fmt.Sprintf("wasm: {module: %q, parallelism: %d}", mod, parallelism)
	}
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: bench
data_dir: %q
batch: {size: %d, linger: 1ms, max_bytes: 64MiB}
queue_depth: 8
source: {bench: {}}
operators: [{%s}]
sink: {bench: {}}
`, dataDir, batch, op)), e.reg)
	if err != nil {
		return 0, err
	}
	value := make([]byte, ValueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	snk := &sink{}
	p, err := runtime.Build(spec, runtime.WithSource(&source{n: n, chunk: max(batch, 1000), value: value}), runtime.WithSink(snk))
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
