package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
)

// PreemptBatch is the batch size of the preemption table.
const PreemptBatch = 1000

// PreemptResult is one language's row of the preemption table: the
// end-to-end uppercase pipeline with the module rewritten for preemption
// (the default) and compiled as built (`preemption: false`).
type PreemptResult struct {
	Lang string
	// On and Off are the median records/s with preemption on and off.
	On, Off float64
	// Paired is the median of on/off over the runs' pairs (each on run
	// with the off run next to it), less sensitive than Ratio to a load
	// that changes during the measurement.
	Paired float64
	Runs   int
}

// Ratio is On/Off: what preemption leaves of the uninstrumented speed.
func (r PreemptResult) Ratio() float64 { return r.On / r.Off }

// MeasurePreemption runs lang's uppercase pipeline end to end (records of
// ValueSize bytes, batch PreemptBatch, parallelism 1) runs times with
// preemption on and runs times with it off, alternating (on first in one
// pair, off first in the next), so that a change in the machine's load
// falls on both, and returns the median records/s of each. Both forms of the module are compiled before the first run and
// kept until the last, so that no run pays for compiling or rewriting it.
func (e *Env) MeasurePreemption(ctx context.Context, lang string, records, runs int, dir string) (PreemptResult, error) {
	mod, ok := e.Modules[lang]
	if !ok {
		return PreemptResult{}, fmt.Errorf("bench: no %s uppercase guest", lang)
	}
	for _, preempt := range []bool{true, false} {
		m, err := e.Engine.Load(ctx, mod, host.WithPreemption(preempt))
		if err != nil {
			return PreemptResult{}, err
		}
		defer m.Release(ctx)
	}
	rates := map[bool][]float64{}
	var paired []float64
	for r := range runs {
		order := []bool{true, false}
		if r%2 == 1 {
			order = []bool{false, true}
		}
		for _, preempt := range order {
			start := time.Now()
			n, err := e.runPreempt(ctx, mod, preempt, records, filepath.Join(dir, fmt.Sprintf("preempt-%s-%v-%d", lang, preempt, r)))
			if err != nil {
				return PreemptResult{}, fmt.Errorf("%s, preemption %v: %w", lang, preempt, err)
			}
			rates[preempt] = append(rates[preempt], float64(n)/time.Since(start).Seconds())
		}
		paired = append(paired, rates[true][r]/rates[false][r])
	}
	median := func(v []float64) float64 {
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return PreemptResult{Lang: lang, On: median(rates[true]), Off: median(rates[false]), Paired: median(paired), Runs: runs}, nil
}

// runPreempt pushes n records through the uppercase module mod with the
// given preemption setting and returns how many reached the sink, checked
// upper-cased.
func (e *Env) runPreempt(ctx context.Context, mod string, preempt bool, n int, dataDir string) (int64, error) {
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: bench
data_dir: %q
batch: {size: %d, linger: 1ms, max_bytes: 256MiB}
queue_depth: 8
queue_max_bytes: 256MiB
source: {bench: {}}
operators: [{wasm: {module: %q, preemption: %v}}]
sink: {bench: {}}
`, dataDir, PreemptBatch, mod, preempt)), e.reg)
	if err != nil {
		return 0, err
	}
	value := make([]byte, ValueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	snk := &sink{size: ValueSize}
	p, err := runtime.Build(spec, runtime.WithSource(&source{n: n, chunk: PreemptBatch, value: value}), runtime.WithSink(snk))
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
