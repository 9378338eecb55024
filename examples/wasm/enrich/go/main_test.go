package main

import (
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

// TestEnrich runs the operator natively: a click submits its lookup, and
// the lookup's result, fed back as the host would, becomes the joined
// record; a failed lookup goes to "unenriched".
func TestEnrich(t *testing.T) {
	wasmstream.Reset()
	out, err := wasmstream.Run([]wasmstream.Record{{Value: []byte(`{"user": 7, "page": "/a"}`)}})
	if err != nil || len(out) != 0 {
		t.Fatalf("%v %v", out, err)
	}
	sub := wasmstream.LocalSubmitted()
	if len(sub) != 1 {
		t.Fatalf("%d requests", len(sub))
	}
	v, err := abi.DecodeValue(sub[0])
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["target"] != "users" || m["query"] != "user_by_id" || m["args"].([]any)[0] != int64(7) {
		t.Fatalf("request %v", m)
	}
	frame := abi.AppendFrameWithResults(nil, abi.AppendFrame(nil, nil), []abi.AsyncResult{
		{Ticket: 0, Context: m["context"].([]byte), Code: 1, Body: []byte(`[{"id":7,"name":"ada"}]`)},
		{Ticket: 1, Status: abi.StatusTimeout, Context: []byte(`{"user": 8}`), Error: "timed out"},
	})
	outFrame, err := wasmstream.RunFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := abi.DecodeFrame(outFrame, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || string(recs[0].Value) != `{"click":{"user":7,"page":"/a"},"user":{"id":7,"name":"ada"}}` {
		t.Fatalf("%+v", recs)
	}
	if recs[1].Output != "unenriched" || string(recs[1].Headers[0].Value) != "timed out" {
		t.Fatalf("%+v", recs[1])
	}
}
