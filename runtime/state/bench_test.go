package state

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkCheckpointOnePercent measures a checkpoint of a large store
// after 1% of its keys changed: the commit, and the retained copy, which
// the next checkpoint waits for. STATE_BENCH_KEYS sets the store's size
// (default 1,000,000; docs/state.md quotes 10,000,000); STATE_BENCH_DIR
// keeps the loaded store between runs.
func BenchmarkCheckpointOnePercent(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("STATE_BENCH_KEYS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	if d := os.Getenv("STATE_BENCH_DIR"); d != "" {
		dir = d
	}
	s, _, err := Open(Options{Dir: dir, Retain: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	key := func(i int) []byte { return []byte(fmt.Sprintf("key-%09d", i)) }
	name, loaded := []byte("n"), []byte("loaded")
	tx := s.NewTxn("count")
	if v, _, ok, err := s.Lookup("count", ScopeOperator, nil, loaded, false); err != nil || !ok || string(v) != strconv.Itoa(n) {
		start := time.Now()
		const chunk = 500_000
		for lo := 0; lo < n; lo += chunk {
			tx.Begin()
			for i := lo; i < min(lo+chunk, n); i++ {
				if _, err := tx.Add(ScopeKey, key(i), name, int64(i)); err != nil {
					b.Fatal(err)
				}
			}
			if lo+chunk >= n {
				tx.Put(ScopeOperator, nil, loaded, []byte(strconv.Itoa(n)), 0)
			}
			tx.Commit()
			if _, err := s.Checkpoint("bench", nil); err != nil {
				b.Fatal(err)
			}
		}
		s.copyWG.Wait()
		b.Logf("loaded %d keys in %v", n, time.Since(start).Round(time.Millisecond))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var commit, retain time.Duration
	resetSummed(s)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		tx.Begin()
		for range n / 100 {
			if _, err := tx.Add(ScopeKey, key(rng.IntN(n)), name, 1); err != nil {
				b.Fatal(err)
			}
		}
		tx.Commit()
		b.StartTimer()
		t0 := time.Now()
		if _, err := s.Checkpoint("bench", nil); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		s.copyWG.Wait()
		commit += t1.Sub(t0)
		retain += time.Since(t1)
	}
	b.ReportMetric(float64(commit.Milliseconds())/float64(b.N), "commit-ms/op")
	b.ReportMetric(float64(retain.Milliseconds())/float64(b.N), "retain-ms/op")
	reportSummed(b, s)
}
