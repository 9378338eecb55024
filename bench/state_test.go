package bench

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// stateEnv builds the statebench guests once for a test or benchmark.
func stateEnv(tb testing.TB) *StateEnv {
	tb.Helper()
	root, err := guestbuild.Root()
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	env, err := NewStateEnv(ctx, root, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { env.Close(ctx) })
	for _, err := range env.Skipped {
		if guestbuild.Required() {
			tb.Fatal(err)
		}
		tb.Logf("skipping: %v", err)
	}
	return env
}

// TestStateReads runs a small state read workload through every statebench
// guest: the first pass puts every counter, and later passes find them all.
func TestStateReads(t *testing.T) {
	env := stateEnv(t)
	if len(env.Langs) == 0 {
		t.Fatal("no statebench guest built")
	}
	ctx := context.Background()
	o := StateOptions{Keys: 250, Reads: 7, Counters: 3, Batch: 100}
	for _, lang := range env.Langs {
		r, err := env.OpenStateReader(ctx, lang, filepath.Join(t.TempDir(), lang), o)
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		if err := r.Pass(); err != nil {
			t.Errorf("%s: %v", lang, err)
		}
		if _, err := r.Measure(2); err != nil {
			t.Errorf("%s: %v", lang, err)
		}
		if err := r.Close(ctx); err != nil {
			t.Error(err)
		}
	}
	tr, err := OpenTxnReader(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Pass(); err != nil {
		t.Error(err)
	}
	if _, err := env.OpenStateReader(ctx, "cobol", t.TempDir(), o); err == nil || errors.Is(err, guestbuild.ErrNoToolchain) {
		t.Errorf("a missing guest: %v", err)
	}
}

// BenchmarkStateReads reports cached state reads per second from each
// language's statebench guest through the real host, and from Go straight
// on a state.Txn ("txn", no Wasm) for comparison. One op is one process
// call (for txn, one Begin and Commit): 1000 records, 10 reads each.
func BenchmarkStateReads(b *testing.B) {
	env := stateEnv(b)
	ctx := context.Background()
	for _, lang := range env.Langs {
		b.Run(lang, func(b *testing.B) {
			r, err := env.OpenStateReader(ctx, lang, b.TempDir(), StateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(ctx)
			b.ResetTimer()
			for range b.N {
				if err := r.Batch(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(int64(b.N)*r.ReadsPerBatch())/b.Elapsed().Seconds(), "reads/s")
		})
	}
	b.Run("txn", func(b *testing.B) {
		r, err := OpenTxnReader(b.TempDir(), StateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		b.ResetTimer()
		for range b.N {
			if _, err := r.Batch(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(int64(b.N)*r.ReadsPerBatch())/b.Elapsed().Seconds(), "reads/s")
	})
}
