package state

import "testing"

// reportSummed adds the table bytes checkpoints checksummed, per op.
func reportSummed(b *testing.B, s *Store) {
	b.ReportMetric(float64(s.summed.Load())/float64(b.N)/(1<<20), "checksummed-MiB/op")
}

func resetSummed(s *Store) { s.summed.Store(0) }
