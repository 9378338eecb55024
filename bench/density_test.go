package bench_test

import (
	"context"
	"testing"

	"github.com/wasmstream/wasmstream/bench"
)

// TestDensityMeasurement starts 50 Go uppercase instances over 5 tenants
// and checks what the harness's density table reports: every instance
// processed a batch, and RSS and start times were read.
func TestDensityMeasurement(t *testing.T) {
	env, err := bench.NewEnv(context.Background(), "..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	r, err := env.MeasureDensity(t.Context(), "go", 50, 5)
	if err != nil {
		t.Fatal(err)
	}
	if r.Processed != 50 || r.RSS <= 0 || r.StartP99 <= 0 {
		t.Fatalf("%+v", r)
	}
}
