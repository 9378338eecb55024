package main

import (
	"testing"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

// TestFilterClicks guards issue #9 item 3: the example keeps clicks keyed by
// the decoded user name and drops everything else.
func TestFilterClicks(t *testing.T) {
	in := []wasmstream.Record{
		{Key: []byte("old"), Value: []byte(`{"event":"click","user":{"name":"ada"}}`)},
		{Value: []byte(`{"event":"view","user":{"name":"bob"}}`)},
		{Value: []byte(`{"event":"click","user":{"name":"Z\u00fcrich \"q\""}}`)},
		{Key: []byte("kept"), Value: []byte(`{"event":"click"}`)},
		{Value: []byte(`{"event":"click",`)},
		{Value: []byte(`[1,2]`)},
	}
	out, err := wasmstream.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ada", `Zürich "q"`, "kept"}
	if len(out) != len(want) {
		t.Fatalf("got %d records, want %d: %v", len(out), len(want), out)
	}
	for i, w := range want {
		if string(out[i].Key) != w {
			t.Errorf("record %d: key %q, want %q", i, out[i].Key, w)
		}
	}
	if got := wasmstream.Metrics()["invalid_json"]; got != 1 {
		t.Errorf("invalid_json = %d, want 1", got)
	}
}
