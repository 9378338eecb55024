package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/bench"
)

// TestSwapMeasurement swaps the Go uppercase module six times under a
// stream and checks what the harness's swap table reports: every sequence
// number arrived once, and a pause was measured for each swap.
func TestSwapMeasurement(t *testing.T) {
	env, err := bench.NewEnv(context.Background(), "..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	res, err := env.MeasureSwaps(t.Context(), "go", 20000, 6, 100*time.Millisecond, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.Swaps != 6 || res.Records == 0 || res.Missing != 0 || res.Twice != 0 || res.Max <= 0 {
		t.Fatalf("%+v", res)
	}
}
