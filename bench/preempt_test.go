package bench_test

import (
	"context"
	"testing"

	"github.com/wasmstream/wasmstream/bench"
)

// TestPreemptionMeasurement runs the harness's preemption table for the Go
// guest on a few batches: both forms of the module transform every record
// and a rate is measured for each.
func TestPreemptionMeasurement(t *testing.T) {
	env, err := bench.NewEnv(context.Background(), "..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	res, err := env.MeasurePreemption(t.Context(), "go", 20000, 1, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.On <= 0 || res.Off <= 0 || res.Paired <= 0 || res.Runs != 1 || res.Lang != "go" {
		t.Fatalf("%+v", res)
	}
	if n := env.Engine.Loaded(); n != 0 {
		t.Errorf("%d modules still compiled after the measurement", n)
	}
}
