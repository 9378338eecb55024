// Command harness runs the end-to-end uppercase benchmark natively and as a
// Go Wasm operator at batch sizes 1, 100 and 1000, several times each, and
// prints the median records/s with the Wasm/native ratio measured in the
// same run.
//
//	go run ./bench/harness [-records 1000000] [-runs 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/wasmstream/wasmstream/bench"
)

func main() {
	records := flag.Int("records", 1_000_000, "records per run at batch 100 and 1000 (batch 1 runs a tenth)")
	runs := flag.Int("runs", 5, "runs per configuration; the median is reported")
	parallelism := flag.Int("parallelism", 1, "operator instances")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "wasmstream-bench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	env, err := bench.NewEnv(ctx, ".", dir)
	if err != nil {
		fail(err)
	}
	defer env.Close(ctx)
	fmt.Printf("uppercase map of %d-byte values, end to end through the runtime, parallelism %d, median of %d runs\n\n", bench.ValueSize, *parallelism, *runs)
	fmt.Printf("%-8s %12s %14s %14s %8s\n", "batch", "records/run", "native rec/s", "wasm rec/s", "wasm/native")
	for _, batch := range []int{1, 100, 1000} {
		n := *records
		if batch == 1 {
			n /= 10
		}
		rate := map[string]float64{}
		for _, kind := range []string{"native", "wasm"} {
			var rates []float64
			for r := 0; r < *runs; r++ {
				start := time.Now()
				got, err := env.Run(ctx, kind, batch, *parallelism, n, filepath.Join(dir, fmt.Sprintf("%s-%d-%d", kind, batch, r)))
				if err != nil {
					fail(err)
				}
				rates = append(rates, float64(got)/time.Since(start).Seconds())
			}
			sort.Float64s(rates)
			rate[kind] = rates[len(rates)/2]
		}
		fmt.Printf("%-8d %12d %14.0f %14.0f %8.2f\n", batch, n, rate["native"], rate["wasm"], rate["wasm"]/rate["native"])
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "harness:", err)
	os.Exit(1)
}
