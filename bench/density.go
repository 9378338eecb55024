package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
)

// DensityResult is what MeasureDensity found for one language.
type DensityResult struct {
	Lang      string
	Instances int
	// RSS is the process's resident memory with every instance alive,
	// and Base before the first was started.
	RSS, Base int64
	// StartP50 and StartP99 are instance start times (instantiate and
	// init), over every instance.
	StartP50, StartP99 time.Duration
	// Processed: every instance processed a batch (it is a live
	// operator, not an idle allocation).
	Processed int
}

// MeasureDensity starts n instances of lang's uppercase module as
// tenants' operators would run them (one instance per operator, each with
// its pipeline, operator and tenant names, a 16 MiB memory limit and a
// deadline), has each process one batch, and reports the process's RSS
// with all of them alive and the start-time percentiles. The harness runs
// it in a process of its own per language (RSS is the process's).
func (e *Env) MeasureDensity(ctx context.Context, lang string, n, tenants int) (DensityResult, error) {
	path := e.Modules[lang]
	if path == "" {
		return DensityResult{}, fmt.Errorf("bench: no %s guest", lang)
	}
	return MeasureDensity(ctx, e.Engine, lang, path, n, tenants)
}

// MeasureDensity is Env.MeasureDensity for the module at path.
func MeasureDensity(ctx context.Context, e *host.Engine, lang, path string, n, tenants int) (DensityResult, error) {
	m, err := e.Load(ctx, path)
	if err != nil {
		return DensityResult{}, err
	}
	defer m.Release(ctx)
	runtime.GC()
	r := DensityResult{Lang: lang, Instances: n, Base: rss()}
	insts := make([]*host.Instance, 0, n)
	defer func() {
		for _, in := range insts {
			in.Close(ctx)
		}
	}()
	starts := make([]time.Duration, 0, n)
	batch := []abi.Record{{Key: []byte("k"), Value: []byte("hello, tenant")}}
	for i := range n {
		tenant := fmt.Sprintf("tenant-%03d", i%tenants)
		began := time.Now()
		in, err := m.Instantiate(ctx, host.InstanceConfig{
			Pipeline: tenant + "/p" + strconv.Itoa(i/tenants), Operator: "upper", Instance: 0,
			MemoryLimit: 16 << 20, Deadline: 2 * time.Second,
			Init: &abi.InitConfig{Pipeline: tenant, Operator: "upper"},
		})
		if err != nil {
			return r, fmt.Errorf("instance %d: %w", i, err)
		}
		starts = append(starts, time.Since(began))
		insts = append(insts, in)
		out, err := in.Process(ctx, batch)
		if err != nil || len(out) != 1 || string(out[0].Value) != "HELLO, TENANT" {
			return r, fmt.Errorf("instance %d processed %v: %v", i, out, err)
		}
		r.Processed++
	}
	runtime.GC()
	r.RSS = rss()
	slices.Sort(starts)
	r.StartP50, r.StartP99 = starts[len(starts)/2], starts[len(starts)*99/100]
	return r, nil
}

// rss returns the process's resident set size in bytes (Linux).
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
