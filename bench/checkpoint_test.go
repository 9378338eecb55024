package bench_test

import (
	"testing"

	"github.com/wasmstream/wasmstream/bench"
)

// BenchmarkCheckpoint1M measures a checkpoint of 1,000,000 small keys and
// the recovery of the store holding them; the figures are reported as
// custom metrics (ms).
func BenchmarkCheckpoint1M(b *testing.B) {
	for range b.N {
		r, err := bench.MeasureCheckpoint(b.TempDir(), 1_000_000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.Checkpoint.Milliseconds()), "checkpoint-ms")
		b.ReportMetric(float64(r.Recovery.Milliseconds()), "recovery-ms")
		b.ReportMetric(float64(r.Scan.Milliseconds()), "scan-ms")
		b.ReportMetric(float64(r.LiveBytes)/1e6, "store-MB")
	}
}
