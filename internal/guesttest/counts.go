package guesttest

import (
	"path/filepath"
	"testing"

	"github.com/wasmstream/wasmstream/runtime/state"
)

// Counters reads, from the stopped store of the pipeline whose data
// directory is dataDir, every keyed int counter that operator keeps under
// name, by key: what the crash tests compare with the counts they expect.
// An entry of another name or that is not a counter fails t.
func Counters(t *testing.T, dataDir, operator, name string) map[string]int64 {
	t.Helper()
	s, _, err := state.Open(state.Options{Dir: filepath.Join(dataDir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[string]int64{}
	var cursor []byte
	for {
		page, next, err := s.List(operator, state.ScopeKey, nil, cursor, 1000, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if string(e.Name) != name || len(e.Value) != 8 {
				t.Fatalf("unexpected entry %q/%q = %x", e.Key, e.Name, e.Value)
			}
			var n int64
			for i := 7; i >= 0; i-- {
				n = n<<8 | int64(e.Value[i])
			}
			got[string(e.Key)] = n
		}
		if next == nil {
			return got
		}
		cursor = next
	}
}

// DiffCounts fails t, naming what, where got differs from want (the first
// few differences and how many there are).
func DiffCounts(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	bad := 0
	for w, n := range want {
		if got[w] != n {
			if bad < 5 {
				t.Errorf("%s: %q counted %d, want %d", what, w, got[w], n)
			}
			bad++
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d keys wrong", what, bad, len(want))
	}
}
