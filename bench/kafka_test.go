package bench_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/wasmstream/wasmstream/bench"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// rustUppercase builds the Rust uppercase guest and returns an engine and
// the module's path.
func rustUppercase(tb testing.TB) (*host.Engine, string) {
	tb.Helper()
	module := filepath.Join(tb.TempDir(), "uppercase-rust.wasm")
	err := guestbuild.Build(filepath.Join("..", "examples", "wasm", "uppercase", "rust"), module)
	if errors.Is(err, guestbuild.ErrNoToolchain) && !guestbuild.Required() {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	e, err := host.NewEngine(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := e.Close(tb.Context()); err != nil {
			tb.Error(err)
		}
	})
	return e, module
}

// TestKafkaMeasurement runs the three rows of the Kafka benchmark once on
// a few records: every record must reach the output topic upper-cased,
// exactly-once without duplicates and in committed transactions.
func TestKafkaMeasurement(t *testing.T) {
	e, module := rustUppercase(t)
	const n = 3000
	res, err := bench.MeasureKafka(t.Context(), e, module, n, 1, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []struct {
		name string
		run  bench.KafkaRun
	}{{"raw", res.Raw}, {"at-least-once", res.AtLeastOnce}, {"exactly-once", res.ExactlyOnce}} {
		t.Run(row.name, func(t *testing.T) {
			if row.run.Distinct != n || row.run.Records < n {
				t.Fatalf("%d records (%d distinct) arrived, want all %d", row.run.Records, row.run.Distinct, n)
			}
			if row.run.Elapsed <= 0 || row.run.Rate() <= 0 {
				t.Fatalf("elapsed %v, rate %f", row.run.Elapsed, row.run.Rate())
			}
		})
	}
	if eos := res.ExactlyOnce; eos.Records != n || eos.Transactions < 1 || eos.Checkpoints < 1 {
		t.Fatalf("exactly-once: %d records, %d transactions, %d checkpoints; want %d records in at least one transaction", eos.Records, eos.Transactions, eos.Checkpoints, n)
	}
}

// BenchmarkKafkaPipeline runs b.N records through Kafka → the Rust
// uppercase guest → Kafka, at-least-once and exactly-once, on a kfake
// cluster in process; the input is produced before the timer starts. Run
// it with -benchtime=1000000x and -cpuprofile to see where the pipeline
// spends its time.
func BenchmarkKafkaPipeline(b *testing.B) {
	e, module := rustUppercase(b)
	for _, exactlyOnce := range []bool{false, true} {
		name := "at-least-once"
		if exactlyOnce {
			name = "exactly-once"
		}
		b.Run(name, func(b *testing.B) {
			k, err := bench.NewKafkaBench(b.Context(), e, module, b.N, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer k.Close()
			b.ReportAllocs()
			b.SetBytes(bench.ValueSize)
			b.ResetTimer()
			run, err := k.Pipeline(b.Context(), exactlyOnce)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(run.Rate(), "records/s")
		})
	}
}
