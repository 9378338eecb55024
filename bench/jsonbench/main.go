// Command jsonbench measures a "parse JSON, filter on a field, key by
// another" operator end to end through the runtime: the jsonfilter example
// (examples/wasm/jsonfilter) in every guest language whose toolchain is
// installed, the same operator in Go with encoding/json as a Wasm guest
// (bench/jsonbench/encjson), and natively in Go with encoding/json and
// with the Go SDK's JSON reader. It prints the median records/s of each,
// and each one's ratio to native encoding/json measured in the same run.
//
//	go run ./bench/jsonbench [-records 500000] [-runs 5] [-batch 1000]
//
// Half the records are clicks and are kept, keyed by user.name; one record
// in 16 has a name with a \u escape, so the readers decode some text.
package main

import (
	"context"
	stdjson "encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wasmstream/wasmstream/guest-sdk/go/json"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// poolSize is the number of distinct records the source cycles through.
const poolSize = 1024

// records returns the source's distinct values and how many of them are
// clicks.
func records() (pool [][]byte, clicks int) {
	events := []string{"click", "view", "click", "scroll"}
	for i := range poolSize {
		name := fmt.Sprintf("user%04d", i%500)
		if i%16 == 0 {
			name = fmt.Sprintf(`Z\u00fcrich%04d`, i%500)
		}
		ev := events[i%len(events)]
		if ev == "click" {
			clicks++
		}
		pool = append(pool, fmt.Appendf(nil,
			`{"id":%d,"ts":17000000%05d,"event":"%s","user":{"name":"%s","country":"CH","tier":%d},"amount":%d.%02d,"tags":["a","b"],"ok":true}`,
			i, i, ev, name, i%3, i%997, i%100))
	}
	return pool, clicks
}

// source yields n records cycling through pool, copied into one buffer per
// chunk as a connector would read them.
type source struct {
	n, chunk, next int
	pool           [][]byte
}

func (s *source) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *source) Close(ctx context.Context) error                 { return nil }
func (s *source) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.next >= s.n {
		return nil, nil, io.EOF
	}
	k := min(s.chunk, s.n-s.next)
	recs := make([]runtime.Record, k)
	size := 0
	for i := range k {
		size += len(s.pool[(s.next+i)%poolSize])
	}
	buf := make([]byte, 0, size)
	for i := range recs {
		v := s.pool[(s.next+i)%poolSize]
		start := len(buf)
		buf = append(buf, v...)
		recs[i] = runtime.Record{Value: buf[start:len(buf):len(buf)]}
	}
	s.next += k
	return recs, func(error) {}, nil
}

// sink counts records and checks each was keyed by a user name.
type sink struct {
	n, bad atomic.Int64
}

func (s *sink) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *sink) Close(ctx context.Context) error                 { return nil }
func (s *sink) Write(ctx context.Context, recs []runtime.Record) error {
	for _, r := range recs {
		if len(r.Key) < 8 || (r.Key[0] != 'u' && r.Key[0] != 'Z') {
			s.bad.Add(1)
		}
	}
	s.n.Add(int64(len(recs)))
	return nil
}

// filter is the operator natively in Go, with parse as its JSON reader.
type filter struct {
	parse func(v []byte) (keep bool, key []byte)
}

func (f filter) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	for _, r := range in {
		if keep, key := f.parse(r.Value); keep {
			if key != nil {
				r.Key = key
			}
			out = append(out, r)
		}
	}
	return out, nil
}
func (filter) Close(ctx context.Context) error { return nil }

func (f filter) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	return f, nil
}

// withEncodingJSON reads a record with encoding/json.
func withEncodingJSON(v []byte) (bool, []byte) {
	var rec struct {
		Event string `json:"event"`
		User  struct {
			Name *string `json:"name"`
		} `json:"user"`
	}
	if stdjson.Unmarshal(v, &rec) != nil || rec.Event != "click" {
		return false, nil
	}
	if rec.User.Name == nil {
		return true, nil
	}
	return true, []byte(*rec.User.Name)
}

// sdkPaths are the fields withSDKReader reads, in one pass.
var sdkPaths = []string{"event", "user.name"}

// withSDKReader reads a record with the Go SDK's JSON reader, both fields
// in one pass; a name is copied only when it has escapes (the key must
// outlive the call).
func withSDKReader(v []byte) (bool, []byte) {
	var vals [2]json.Value
	if json.GetAll(v, sdkPaths, vals[:]) != nil || !vals[0].TextEquals("click") {
		return false, nil
	}
	key, err := vals[1].Text(nil)
	if err != nil {
		return true, nil
	}
	return true, key
}

type nativeConfig struct {
	runtime.OperatorSettings `yaml:",inline"`
}

// kind is one measured operator.
type kind struct {
	name   string
	native string // a native operator's registered name
	module string // a Wasm module's path
}

type env struct {
	kinds   []kind
	reg     *runtime.Registry
	engine  *host.Engine
	pool    [][]byte
	clicks  int
	skipped []error
}

// newEnv builds the guests into dir; root is the repository root.
func newEnv(ctx context.Context, root, dir string) (*env, error) {
	e := &env{kinds: []kind{
		{name: "native Go, encoding/json", native: "native_encjson"},
		{name: "native Go, SDK reader", native: "native_sdkjson"},
	}}
	e.pool, e.clicks = records()
	guests := []guestbuild.Guest{{Lang: "go encoding/json", Dir: filepath.Join(root, "bench", "jsonbench", "encjson")}}
	guests = append(guests, guestbuild.Guests(filepath.Join(root, "examples", "wasm", "jsonfilter"))...)
	for i, g := range guests {
		mod := filepath.Join(dir, fmt.Sprintf("jsonfilter-%d.wasm", i))
		err := guestbuild.Build(g.Dir, mod)
		if errors.Is(err, guestbuild.ErrNoToolchain) {
			e.skipped = append(e.skipped, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		name := g.Lang + " wasm, SDK reader"
		if i == 0 {
			name = "go wasm, encoding/json"
		}
		e.kinds = append(e.kinds, kind{name: name, module: mod})
	}
	eng, err := host.NewEngine(ctx)
	if err != nil {
		return nil, err
	}
	e.engine = eng
	e.reg = runtime.NewRegistry()
	host.Register(e.reg, eng)
	runtime.AddOperator(e.reg, "native_encjson", "jsonfilter with encoding/json", func(*nativeConfig) (runtime.OperatorFactory, error) {
		return filter{parse: withEncodingJSON}, nil
	})
	runtime.AddOperator(e.reg, "native_sdkjson", "jsonfilter with the Go SDK's reader", func(*nativeConfig) (runtime.OperatorFactory, error) {
		return filter{parse: withSDKReader}, nil
	})
	type none struct{}
	runtime.AddSource(e.reg, "bench", "replaced", func(*none) (runtime.Source, error) { return &source{}, nil })
	runtime.AddSink(e.reg, "bench", "replaced", func(*none) (runtime.Sink, error) { return &sink{}, nil })
	return e, nil
}

// run pushes n records through one operator and returns the input
// records/s.
func (e *env) run(ctx context.Context, k kind, batch, n int, dataDir string) (float64, error) {
	op := fmt.Sprintf("%s: {}", k.native)
	if k.module != "" {
		op = fmt.Sprintf("wasm: {module: %q}", k.module)
	}
	spec, err := runtime.Parse(fmt.Appendf(nil, `
pipeline: jsonbench
data_dir: %q
batch: {size: %d, linger: 1ms, max_bytes: 64MiB}
queue_depth: 8
source: {bench: {}}
operators: [{%s}]
sink: {bench: {}}
`, dataDir, batch, op), e.reg)
	if err != nil {
		return 0, err
	}
	snk := &sink{}
	p, err := runtime.Build(spec, runtime.WithSource(&source{n: n, chunk: max(batch, 1000), pool: e.pool}), runtime.WithSink(snk))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		return 0, fmt.Errorf("running %s: %w", k.name, err)
	}
	d := time.Since(start)
	want := int64(n/poolSize*e.clicks) + int64(clicksIn(e.pool[:n%poolSize]))
	if got := snk.n.Load(); got != want || snk.bad.Load() != 0 {
		return 0, fmt.Errorf("%s: %d records out (%d without a user key), want %d", k.name, got, snk.bad.Load(), want)
	}
	return float64(n) / d.Seconds(), nil
}

func clicksIn(pool [][]byte) int {
	n := 0
	for _, v := range pool {
		if keep, _ := withEncodingJSON(v); keep {
			n++
		}
	}
	return n
}

func main() {
	records := flag.Int("records", 500_000, "records per run")
	runs := flag.Int("runs", 5, "runs per operator; the median is reported")
	batch := flag.Int("batch", 1000, "batch size")
	only := flag.String("only", "", "measure only the operators whose name contains this (native encoding/json is always measured, as the base)")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "wasmstream-jsonbench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	e, err := newEnv(ctx, ".", dir)
	if err != nil {
		fail(err)
	}
	defer e.engine.Close(ctx)
	for _, err := range e.skipped {
		fmt.Fprintln(os.Stderr, "jsonbench: skipped:", err)
	}
	fmt.Printf("parse JSON, keep event == \"click\", key by user.name; %d-record values of ~%d bytes, batch %d, %d records per run, median of %d\n",
		poolSize, len(e.pool[1]), *batch, *records, *runs)
	fmt.Printf("\n%-32s %12s %10s\n", "operator", "rec/s", "/encjson")
	var base float64
	for i, k := range e.kinds {
		if i > 0 && !strings.Contains(k.name, *only) {
			continue
		}
		var rates []float64
		for r := range *runs {
			rate, err := e.run(ctx, k, *batch, *records, filepath.Join(dir, fmt.Sprintf("data-%s-%d", k.native+filepath.Base(k.module), r)))
			if err != nil {
				fail(err)
			}
			rates = append(rates, rate)
		}
		sort.Float64s(rates)
		med := rates[len(rates)/2]
		if base == 0 {
			base = med
		}
		fmt.Printf("%-32s %12.0f %10.2f\n", k.name, med, med/base)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "jsonbench:", err)
	os.Exit(1)
}
