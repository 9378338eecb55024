package runtime

import (
	"fmt"
	"testing"
	"time"
)

// TestLatencyHistogram guards issue #9 item 8: each batch's latency lands
// in the first bucket whose bound is not below it, above every bound in the
// last, and the count and sum add up.
func TestLatencyHistogram(t *testing.T) {
	var l latency
	for _, d := range []time.Duration{50 * time.Microsecond, 100 * time.Microsecond, 3 * time.Millisecond, time.Minute} {
		l.observe(d)
	}
	h := l.snapshot()
	want := map[int]uint64{0: 2, 5: 1, len(LatencyBuckets): 1} // ≤100µs twice, ≤5ms, over 10s
	for i, c := range h.Counts {
		if c != want[i] {
			t.Errorf("bucket %d: %d observations, want %d", i, c, want[i])
		}
	}
	if h.Count != 4 {
		t.Errorf("count %d, want 4", h.Count)
	}
	if wantSum := (60*time.Second + 3150*time.Microsecond).Seconds(); h.Sum < wantSum-1e-9 || h.Sum > wantSum+1e-9 {
		t.Errorf("sum %v, want %v", h.Sum, wantSum)
	}
}

// TestRecordBytes guards issue #9 item 8: bytes count keys and values, and
// a sink's partial retry counts only the records not written before.
func TestRecordBytes(t *testing.T) {
	recs := []Record{{Key: []byte("k"), Value: []byte("abc")}, {Value: []byte("de")}, {Key: []byte("xy")}}
	if n := recordBytes(recs); n != 8 {
		t.Errorf("recordBytes = %d, want 8", n)
	}
	if n := unsentBytes(recs, []bool{true, false, true}); n != 2 {
		t.Errorf("unsentBytes = %d, want 2", n)
	}
	if n := unsentBytes(recs, nil); n != 8 {
		t.Errorf("unsentBytes without sent = %d, want 8", n)
	}
}

// BenchmarkBatchCounting measures what the counting added for metrics costs
// an operator stage per batch: bytes in and out of the records and the
// batch latency (two clock reads and a histogram update). Each op is one
// record.
func BenchmarkBatchCounting(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			recs := make([]Record, size)
			for i := range recs {
				recs[i].Value = make([]byte, 10)
			}
			var c opCounters
			b.ResetTimer()
			for i := 0; i < b.N; i += size {
				c.bytesIn.Add(recordBytes(recs))
				began := time.Now()
				c.latency.observe(time.Since(began))
				c.bytesOut.Add(recordBytes(recs))
			}
		})
	}
}
