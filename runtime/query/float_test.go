package query

import (
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// TestFloatCounterReads guards issue #9 (state holds only int64 counters
// and bytes): a float64 counter is shown as a number in "float", exactly,
// in JSON and msgpack, single and listed, and never as an int "counter"
// (its 8 bytes read as an integer would be nonsense); an int counter
// beside it is shown as before.
func TestFloatCounterReads(t *testing.T) {
	f := newFake(t)
	var sum float64
	tx := f.store.NewTxn("count")
	tx.Begin()
	for _, d := range []float64{0.1, 0.2, -1e-7} {
		sum += d
		if _, err := tx.AddFloat(state.ScopeKey, []byte("w1"), []byte("avg"), d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Add(state.ScopeKey, []byte("w1"), []byte("n"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.AddFloat(state.ScopeOperator, nil, []byte("money"), 12); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	close(f.ready)
	_, base := serve(t, f)
	waitFor(t, func() bool { return get(t, base+"/v1/status").body["store"] == "open" })

	for _, tc := range []struct {
		name, path string
		want       float64
	}{
		{"keyed", "/v1/state/count/keys/w1/avg", sum},
		{"as=counter", "/v1/state/count/keys/w1/avg?as=counter", sum},
		{"operator, whole", "/v1/state/count/operator/money", 12},
	} {
		r := get(t, base+tc.path)
		if r.status != 200 || r.body["float"] != tc.want {
			t.Errorf("%s: %d %s, want float %v", tc.name, r.status, r.raw, tc.want)
		}
		if _, ok := r.body["counter"]; ok {
			t.Errorf("%s: a float counter shown as an int counter: %s", tc.name, r.raw)
		}
	}
	r := get(t, base+"/v1/state/count/keys/w1")
	kinds := map[string]any{}
	for _, e := range r.body["entries"].([]any) {
		e := e.(map[string]any)
		if v, ok := e["float"]; ok {
			kinds[e["name"].(string)] = v
		} else {
			kinds[e["name"].(string)] = e["counter"]
		}
	}
	if kinds["avg"] != sum || kinds["n"] != 3.0 {
		t.Errorf("listed: %v (%s)", kinds, r.raw)
	}
	r = get(t, base+"/v1/state/count/keys/w1/avg", "application/msgpack")
	v, err := abi.DecodeValue(r.raw)
	if err != nil {
		t.Fatal(err)
	}
	if m := v.(map[string]any); m["float"] != sum {
		t.Errorf("msgpack: %v", m)
	}
}
