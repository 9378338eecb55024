package state

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"
)

func f64(v []byte) float64 {
	if len(v) != 8 {
		return math.NaN()
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(v))
}

// TestFloatCounters guards issue #9 (state holds only int64 counters and
// bytes): float64 counters add exactly, keep their kind and value across a
// checkpoint, a restart and a listing, refuse the other kind's add and a
// NaN or infinite delta or sum, and operator-scope additions from several
// instances all count.
func TestFloatCounters(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	tx := s.NewTxn("avg")
	tx.Begin()
	var want float64 // summed at run time, as the store sums: constants would be exact
	for _, d := range []float64{0.1, 0.2, 1e-300} {
		want += d
		if _, err := tx.AddFloat(ScopeKey, []byte("k"), []byte("sum"), d); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := tx.AddFloat(ScopeKey, []byte("k"), []byte("sum"), 0); err != nil || n != want {
		t.Fatalf("AddFloat = %v, %v; want %v", n, err, want)
	}
	if _, err := tx.Add(ScopeKey, []byte("k"), []byte("n"), 3); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		run  func() error
		want error
	}{
		{"int add on a float counter", func() error { _, err := tx.Add(ScopeKey, []byte("k"), []byte("sum"), 1); return err }, ErrCounterKind},
		{"float add on an int counter", func() error { _, err := tx.AddFloat(ScopeKey, []byte("k"), []byte("n"), 1); return err }, ErrCounterKind},
		{"NaN delta", func() error { _, err := tx.AddFloat(ScopeKey, []byte("k"), []byte("sum"), math.NaN()); return err }, ErrNotFinite},
		{"+Inf delta", func() error { _, err := tx.AddFloat(ScopeKey, []byte("k"), []byte("sum"), math.Inf(1)); return err }, ErrNotFinite},
		{"overflowing sum", func() error {
			if _, err := tx.AddFloat(ScopeKey, []byte("big"), []byte("sum"), math.MaxFloat64); err != nil {
				return err
			}
			_, err := tx.AddFloat(ScopeKey, []byte("big"), []byte("sum"), math.MaxFloat64)
			return err
		}, ErrNotFinite},
		{"float add on bytes", func() error {
			tx.Put(ScopeKey, []byte("k"), []byte("b"), []byte("xyz"), 0)
			_, err := tx.AddFloat(ScopeKey, []byte("k"), []byte("b"), 1)
			return err
		}, ErrNotCounter},
	} {
		if err := tc.run(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if v, ok, _ := tx.Get(ScopeKey, []byte("big"), []byte("sum")); !ok || f64(v) != math.MaxFloat64 {
		t.Errorf("a refused overflow changed the counter: %v", f64(v))
	}
	// Operator scope: two instances' additions both count.
	a, b := s.NewTxn("avg"), s.NewTxn("avg")
	a.Begin()
	b.Begin()
	a.AddFloat(ScopeOperator, nil, []byte("total"), 1.5)
	b.AddFloat(ScopeOperator, nil, []byte("total"), 2.25)
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint("p", []byte("pos")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, _ = open(t, dir)
	defer s.Close()
	for _, live := range []bool{true, false} {
		for _, c := range []struct {
			scope     int
			key, name string
			float     bool
			want      float64
		}{
			{ScopeKey, "k", "sum", true, want},
			{ScopeKey, "k", "n", false, 0},
			{ScopeOperator, "", "total", true, 3.75},
		} {
			e, ok, err := s.LookupEntry("avg", c.scope, []byte(c.key), []byte(c.name), live)
			if err != nil || !ok || e.Float != c.float || (c.float && f64(e.Value) != c.want) {
				t.Errorf("live %v %s/%s: %+v %v %v", live, c.key, c.name, e, ok, err)
			}
		}
	}
	page, _, err := s.List("avg", ScopeKey, nil, nil, 10, true)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, e := range page {
		kinds[string(e.Key)+"/"+string(e.Name)] = e.Float
	}
	if !kinds["k/sum"] || kinds["k/n"] || !kinds["big/sum"] {
		t.Errorf("listing kinds: %v", kinds)
	}
	// A restored float counter goes on adding as a float.
	tx = s.NewTxn("avg")
	tx.Begin()
	if n, err := tx.AddFloat(ScopeKey, []byte("k"), []byte("sum"), 1); err != nil || n != want+1 {
		t.Errorf("AddFloat after restore = %v, %v", n, err)
	}
}

// BenchmarkAdd compares an int counter's add with a float counter's, on
// one key's counter in the write cache, committed every 100 adds.
func BenchmarkAdd(b *testing.B) {
	for _, kind := range []string{"int", "float"} {
		b.Run(kind, func(b *testing.B) {
			s, _, err := Open(Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			tx := s.NewTxn("op")
			key, name := []byte("k"), []byte("n")
			tx.Begin()
			for i := range b.N {
				var err error
				if kind == "int" {
					_, err = tx.Add(ScopeKey, key, name, 1)
				} else {
					_, err = tx.AddFloat(ScopeKey, key, name, 0.5)
				}
				if err != nil {
					b.Fatal(err)
				}
				if i%100 == 99 {
					tx.Commit()
					tx.Begin()
				}
			}
			tx.Commit()
		})
	}
}

// TestSweepKeepsFloatCounters guards issue #9: a float counter's kind is a
// flag in its stored expiry header, and the TTL sweep, reading the header
// raw, took a float counter without a TTL for one long expired.
func TestSweepKeepsFloatCounters(t *testing.T) {
	s, _ := open(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	s.now = func() time.Time { return now }
	tx := s.NewTxn("op")
	tx.Begin()
	tx.Put(ScopeKey, []byte("k"), []byte("short"), []byte("x"), time.Minute) // so that checkpoints sweep
	tx.AddFloat(ScopeKey, []byte("k"), []byte("sum"), 2.5)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Checkpoint("p", nil); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Minute)
	}
	e, ok, err := s.LookupEntry("op", ScopeKey, []byte("k"), []byte("sum"), false)
	if err != nil || !ok || !e.Float || f64(e.Value) != 2.5 {
		t.Fatalf("the float counter after sweeps: %+v %v %v", e, ok, err)
	}
	if _, ok, _ := s.LookupEntry("op", ScopeKey, []byte("k"), []byte("short"), false); ok {
		t.Error("the expired value was kept")
	}
}
