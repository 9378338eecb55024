package bench_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wasmstream/wasmstream/bench"
)

// BenchmarkUppercase runs the uppercase map end to end through the runtime,
// natively and as a Wasm operator in every guest language that builds here,
// at several batch sizes. Each op is one record.
func BenchmarkUppercase(b *testing.B) {
	env, err := bench.NewEnv(context.Background(), "..", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close(context.Background())
	for _, kind := range append([]string{"native"}, env.Langs...) {
		for _, batch := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d", kind, batch), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(bench.ValueSize)
				n, err := env.Run(context.Background(), kind, batch, 1, b.N, filepath.Join(b.TempDir(), "data"))
				if err != nil {
					b.Fatal(err)
				}
				if n != int64(b.N) {
					b.Fatalf("sink got %d records, want %d", n, b.N)
				}
			})
		}
	}
}
