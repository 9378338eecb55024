package bench_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wasmstream/wasmstream/bench"
)

// maxAllocsPerBatch is the most heap allocations the engine may make per
// batch in a steady state, over a pipeline of a source, three Wasm
// operators and a sink: a few per stage (the batch's bookkeeping, its ack
// references, queue signals), never one per record. A batch holds 1000
// records here, so an allocation per record per stage would show as
// thousands.
const maxAllocsPerBatch = 40

// BenchmarkEngineAllocs measures the engine's heap allocations per batch
// of 1000 records through a chain of three Wasm uppercase operators, in a
// steady state: the sink reads the process's allocation count after the
// first quarter of the records and again at three quarters, so what a
// pipeline allocates once (building, opening, instantiating guests) is
// left out. It fails when that passes maxAllocsPerBatch. It runs the Rust
// guest, or the Go guest when Rust's toolchain is missing.
//
//	go test -run '^$' -bench EngineAllocs ./bench
func BenchmarkEngineAllocs(b *testing.B) {
	env, err := bench.NewEnv(context.Background(), "..", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close(context.Background())
	lang := "go"
	if slices.Contains(env.Langs, "rust") {
		lang = "rust"
	}
	const batch, n = 1000, 400_000
	b.Run(fmt.Sprintf("%s/chain=3/batch=%d", lang, batch), func(b *testing.B) {
		var perBatch float64
		for b.Loop() {
			probe := &bench.AllocProbe{From: n / 4, To: 3 * n / 4}
			got, err := env.RunConfig(context.Background(), bench.Config{Kind: lang, Batch: batch, Chain: 3, Records: n,
				DataDir: filepath.Join(b.TempDir(), "data"), Probe: probe})
			if err != nil {
				b.Fatal(err)
			}
			if got != n || probe.Records == 0 {
				b.Fatalf("sink got %d records, want %d (probe saw %d)", got, n, probe.Records)
			}
			perBatch = float64(probe.Mallocs) / (float64(probe.Records) / batch)
		}
		b.ReportMetric(perBatch, "allocs/batch")
		b.ReportMetric(perBatch/batch, "allocs/record")
		if perBatch > maxAllocsPerBatch {
			b.Fatalf("%.1f allocations per batch of %d records in a steady state; the limit is %d", perBatch, batch, maxAllocsPerBatch)
		}
	})
}
