package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/runtime/state"
)

// TestStateGetFloatCounter guards issue #9 (state holds only int64
// counters and bytes): `state get` shows a float64 counter as a float,
// exact and with a decimal point even when whole, beside an int counter
// shown as an integer, in text and with --json.
func TestStateGetFloatCounter(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	pipe := countPipeline(t, dataDir, 0, 0, "")
	st, _, err := state.Open(state.Options{Dir: filepath.Join(dataDir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	tx := st.NewTxn("count")
	tx.Begin()
	for _, d := range []float64{0.1, 0.2} {
		sum += d
		tx.AddFloat(state.ScopeKey, []byte("key-1"), []byte("avg"), d)
	}
	tx.AddFloat(state.ScopeKey, []byte("key-1"), []byte("whole"), 4)
	tx.Add(state.ScopeKey, []byte("key-1"), []byte("count"), 5)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Checkpoint("counts", []byte("0")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, want string }{
		{"avg", "0.30000000000000004"},
		{"whole", "4.0"},
		{"count", "5"},
	} {
		r := runCLI(t, "state", "get", pipe, "--operator", "count", "key-1", tc.name)
		if r.code != exitOK || strings.TrimSpace(r.stdout) != tc.want {
			t.Errorf("state get %s: exit %d, %q, want %q\n%s", tc.name, r.code, r.stdout, tc.want, r.stderr)
		}
	}
	r := runCLI(t, "state", "get", pipe, "--operator", "count", "key-1", "--json")
	var got struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitOK {
		t.Fatalf("state get --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	seen := map[string]any{}
	for _, e := range got.Entries {
		if v, ok := e["float"]; ok {
			seen[e["name"].(string)] = v
		} else {
			seen[e["name"].(string)] = e["counter"]
		}
	}
	if seen["avg"] != sum || seen["whole"] != 4.0 || seen["count"] != 5.0 {
		t.Errorf("state get --json: %v\n%s", seen, r.stdout)
	}
}
