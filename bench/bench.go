// Package bench holds wasmstream's end-to-end benchmarks: the same workload
// through the whole runtime (source → batching → operator → sink, with acks)
// with the operator written in native Go and as a Wasm module, so their
// ratio measures what the Wasm boundary costs. Run `go run ./bench/harness`
// for a table of records/s and ratios, or `go test -bench . ./bench`.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"

	"github.com/wasmstream/wasmstream/host"
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

// Env holds what the benchmarks share: the engine and the uppercase module.
type Env struct {
	Engine *host.Engine
	Module string // path of uppercase.wasm
	reg    *runtime.Registry
}

// NewEnv builds examples/wasm/uppercase for wasip1 into dir and returns an
// engine that can run it. root is the repository root.
func NewEnv(ctx context.Context, root, dir string) (*Env, error) {
	mod := filepath.Join(dir, "uppercase.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", mod, "./examples/wasm/uppercase/go")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the uppercase guest: %v\n%s", err, out)
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
	return &Env{Engine: e, Module: mod, reg: reg}, nil
}

// Close releases the engine.
func (e *Env) Close(ctx context.Context) error { return e.Engine.Close(ctx) }

// Run pushes n records through a pipeline with one uppercase operator
// ("native" or "wasm") at the given batch size and parallelism, and returns
// how many records reached the sink.
func (e *Env) Run(ctx context.Context, kind string, batch, parallelism, n int, dataDir string) (int64, error) {
	op := fmt.Sprintf("native_upper: {parallelism: %d}", parallelism)
	if kind == "wasm" {
		op = fmt.Sprintf("wasm: {module: %q, parallelism: %d}", e.Module, parallelism)
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
