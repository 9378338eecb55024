package initreg

import (
	"errors"
	"testing"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

var prefix = "?"

// The operator registers in init, as an operator's main package does.
func init() {
	wasmstream.OnInit(func(cfg *wasmstream.Config) error {
		prefix = "+"
		if p, ok := cfg.Params["prefix"].(string); ok {
			prefix = p
		}
		return nil
	})
	wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
		if string(r.Value) == "fail" {
			return r, errors.New("failing as asked")
		}
		n, err := wasmstream.StateOf(r).Add("seen", 1)
		if err != nil {
			return r, err
		}
		if string(r.Value) == "fail after" {
			return r, errors.New("failing after a state write")
		}
		r.Value = append([]byte(prefix), r.Value...)
		if n > 1 {
			r.Value = append(r.Value, '!')
		}
		return r, nil
	})
}

// TestResetKeepsInitRegistration guards issue #9 item 9: Reset forgot the
// handler registered in init, so in an operator's own package every test
// after the first Reset failed with ErrNoHandler.
func TestResetKeepsInitRegistration(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"default prefix", nil, "+a"},
		{"given prefix", map[string]any{"prefix": ">"}, ">a"},
		{"default again", map[string]any{}, "+a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wasmstream.Reset()
			t.Cleanup(wasmstream.Reset)
			if err := wasmstream.Init(&wasmstream.Config{Params: tc.params}); err != nil {
				t.Fatalf("Init after Reset: %v", err)
			}
			out, err := wasmstream.Run([]wasmstream.Record{{Key: []byte("k"), Value: []byte("a")}})
			if err != nil {
				t.Fatalf("Run after Reset: %v", err)
			}
			if len(out) != 1 || string(out[0].Value) != tc.want {
				t.Fatalf("Run = %v, want %q (the state of the run before must be gone too)", out, tc.want)
			}
		})
	}
}

// TestFailedCallRollsBackState guards issue #9 item 9: the native state
// stand-in kept the writes of a call that failed, which the host drops, so
// a test passed natively and behaved otherwise in Wasm.
func TestFailedCallRollsBackState(t *testing.T) {
	wasmstream.Reset()
	t.Cleanup(wasmstream.Reset)
	if err := wasmstream.Init(nil); err != nil {
		t.Fatal(err)
	}
	k := []byte("k")
	state := wasmstream.KeyState(k)
	steps := []struct {
		batch   []string
		fails   bool
		wantOut []string
		seen    int64 // the counter after the call
	}{
		{batch: []string{"a"}, wantOut: []string{"+a"}, seen: 1},
		// The first record's write and the second's are both dropped.
		{batch: []string{"b", "fail after"}, fails: true, seen: 1},
		{batch: []string{"c", "fail"}, fails: true, seen: 1},
		{batch: []string{"d", "e"}, wantOut: []string{"+d!", "+e!"}, seen: 3},
	}
	for i, s := range steps {
		in := make([]wasmstream.Record, len(s.batch))
		for j, v := range s.batch {
			in[j] = wasmstream.Record{Key: k, Value: []byte(v)}
		}
		out, err := wasmstream.Run(in)
		if (err != nil) != s.fails {
			t.Fatalf("step %d: Run error %v, want failure %v", i, err, s.fails)
		}
		if !s.fails {
			if len(out) != len(s.wantOut) {
				t.Fatalf("step %d: %d records out, want %d", i, len(out), len(s.wantOut))
			}
			for j := range out {
				if string(out[j].Value) != s.wantOut[j] {
					t.Errorf("step %d: record %d = %q, want %q", i, j, out[j].Value, s.wantOut[j])
				}
			}
		}
		if n, err := state.Counter("seen"); err != nil || n != s.seen {
			t.Fatalf("step %d: counter %d (%v) after the call, want %d", i, n, err, s.seen)
		}
	}
}
