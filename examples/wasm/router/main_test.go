package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"testing"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

func TestRoute(t *testing.T) {
	tests := []struct {
		name      string
		params    map[string]any
		line      string
		wantOut   bool   // whether a record comes out
		wantTo    string // its output
		wantLevel string // its level header; "" for none
	}{
		{"error to alerts", nil, "10:00 ERROR disk full", true, "alerts", ""},
		{"error wins over debug", nil, "DEBUG then ERROR", true, "alerts", ""},
		{"debug dropped", nil, "10:00 DEBUG noise", false, "", ""},
		{"debug kept", map[string]any{"drop_debug": false}, "10:00 DEBUG noise", true, "", "DEBUG"},
		{"info", nil, "10:00 INFO started", true, "", "INFO"},
		{"bracketed", nil, "10:00 [NOTICE] reload", true, "", "NOTICE"},
		{"colon", nil, "INFO: hello", true, "", "INFO"},
		{"warning", nil, "x WARNING y", true, "", "WARNING"},
		{"no level", nil, "just text", true, "", "UNKNOWN"},
		{"empty", nil, "", true, "", "UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := wasmstream.Init(&wasmstream.Config{Outputs: []string{"alerts"}, Params: tt.params}); err != nil {
				t.Fatalf("Init: %v", err)
			}
			in := wasmstream.Record{Key: []byte("k"), Value: []byte(tt.line), Timestamp: 5,
				Headers: []wasmstream.Header{{Name: "host", Value: []byte("a")}}}
			out, err := wasmstream.Run([]wasmstream.Record{in})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !tt.wantOut {
				if len(out) != 0 {
					t.Fatalf("got %d records, want none", len(out))
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("got %d records, want 1", len(out))
			}
			r := out[0]
			if string(r.Value) != tt.line || string(r.Key) != "k" || r.Timestamp != 5 {
				t.Errorf("record changed: %+v", r)
			}
			if r.Output != tt.wantTo {
				t.Errorf("output = %q, want %q", r.Output, tt.wantTo)
			}
			wantHeaders := 1
			if tt.wantLevel != "" {
				wantHeaders = 2
			}
			if len(r.Headers) != wantHeaders || r.Headers[0].Name != "host" {
				t.Fatalf("headers = %q, want host then %d more", r.Headers, wantHeaders-1)
			}
			if tt.wantLevel != "" && (r.Headers[1].Name != "level" || string(r.Headers[1].Value) != tt.wantLevel) {
				t.Errorf("level header = %q, want %q", r.Headers[1], tt.wantLevel)
			}
		})
	}
}

func TestConfigureRejectsBadParam(t *testing.T) {
	err := wasmstream.Init(&wasmstream.Config{Params: map[string]any{"drop_debug": "yes"}})
	if _, ok := errors.AsType[*wasmstream.ParamError](err); !ok {
		t.Fatalf("Init with drop_debug: \"yes\" = %v, want a *ParamError", err)
	}
}

// TestInputFile runs the example's own input and checks the counts and the
// metrics.
func TestInputFile(t *testing.T) {
	if err := wasmstream.Init(&wasmstream.Config{Outputs: []string{"alerts"}, Params: map[string]any{"drop_debug": true}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("input.log")
	if err != nil {
		t.Fatal(err)
	}
	var in []wasmstream.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		in = append(in, wasmstream.Record{Value: []byte(sc.Text())})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	before := wasmstream.Metrics()
	out, err := wasmstream.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	alerts, rest := 0, 0
	for _, r := range out {
		if r.Output == "alerts" {
			alerts++
		} else {
			rest++
		}
	}
	after := wasmstream.Metrics()
	if alerts != 3 || rest != 13 {
		t.Errorf("got %d alerts and %d other lines, want 3 and 13", alerts, rest)
	}
	if d := after["alerts"] - before["alerts"]; d != 3 {
		t.Errorf("alerts counter went up by %d, want 3", d)
	}
	if d := after["debug_dropped"] - before["debug_dropped"]; d != 4 {
		t.Errorf("debug_dropped counter went up by %d, want 4", d)
	}
}
