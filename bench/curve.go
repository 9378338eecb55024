package bench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"time"
)

// CurvePoint is one configuration of the cost curve with its median rate.
type CurvePoint struct {
	Batch, ValueSize, Parallelism, Chain int
	Records                              int
	Rate                                 float64 // records/s, median
}

// CurveBatches, CurveValues and CurveParallelism are the cost curve's axes;
// every point runs a chain of one and of three operators.
var (
	CurveBatches     = []int{1, 10, 100, 1000, 10000}
	CurveValues      = []int{100, 1 << 10, 10 << 10}
	CurveParallelism = []int{1, 2}
)

// curveRecords is how many records one run of the curve pushes: about 64
// MiB of values, fewer at small batches (each batch costs a call), so that
// every run takes a fraction of a second to a few.
func curveRecords(batch, value int) int {
	n := (64 << 20) / value
	switch {
	case batch == 1:
		n /= 64
	case batch == 10:
		n /= 8
	}
	return max(n, 2*batch, 2000)
}

// Curve runs lang's uppercase operator over every point of the cost curve,
// runs times each, printing a line per point to w as it goes, and returns
// the points. dir holds the runs' data directories.
func (e *Env) Curve(ctx context.Context, lang string, runs int, dir string, w io.Writer) ([]CurvePoint, error) {
	var pts []CurvePoint
	fmt.Fprintf(w, "%-7s %7s %4s %14s %10s %14s %10s %9s\n", "batch", "value", "par", "chain1 rec/s", "MB/s", "chain3 rec/s", "MB/s", "3/1")
	for _, value := range CurveValues {
		for _, batch := range CurveBatches {
			for _, par := range CurveParallelism {
				var rates [2]float64
				for ci, chain := range []int{1, 3} {
					c := Config{Kind: lang, Batch: batch, Parallelism: par, Chain: chain, ValueSize: value,
						Records: curveRecords(batch, value)}
					var rs []float64
					for r := range runs {
						c.DataDir = filepath.Join(dir, fmt.Sprintf("curve-%d-%d-%d-%d-%d", value, batch, par, chain, r))
						start := time.Now()
						got, err := e.RunConfig(ctx, c)
						if err != nil {
							return nil, fmt.Errorf("batch %d, value %d, parallelism %d, chain %d: %w", batch, value, par, chain, err)
						}
						if got != int64(c.Records) {
							return nil, fmt.Errorf("batch %d, value %d: the sink got %d records of %d", batch, value, got, c.Records)
						}
						rs = append(rs, float64(got)/time.Since(start).Seconds())
					}
					sort.Float64s(rs)
					rates[ci] = rs[len(rs)/2]
					pts = append(pts, CurvePoint{Batch: batch, ValueSize: value, Parallelism: par, Chain: chain, Records: c.Records, Rate: rates[ci]})
				}
				mb := func(rate float64) float64 { return rate * float64(value) / 1e6 }
				fmt.Fprintf(w, "%-7d %7s %4d %14.0f %10.0f %14.0f %10.0f %9.2f\n", batch, sizeName(value), par,
					rates[0], mb(rates[0]), rates[1], mb(rates[1]), rates[1]/rates[0])
			}
		}
	}
	return pts, nil
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
