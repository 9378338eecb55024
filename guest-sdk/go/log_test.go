package wasmstream_test

import (
	"bytes"
	"maps"
	"testing"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

func TestLogAndCount(t *testing.T) {
	var buf bytes.Buffer
	wasmstream.SetLogOutput(&buf)
	t.Cleanup(func() { wasmstream.SetLogOutput(nil) })
	setup(t, func() {
		wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
			wasmstream.Count("records", 1)
			wasmstream.Count("bytes", int64(len(r.Value)))
			return r, nil
		})
	})
	wasmstream.Log(wasmstream.LogInfo, "starting")
	wasmstream.Logf(wasmstream.LogWarn, "%d things", 3)
	wasmstream.Log(wasmstream.LogDebug, "d")
	wasmstream.Log(wasmstream.LogError, "e")
	want := "wasmstream INFO: starting\nwasmstream WARN: 3 things\nwasmstream DEBUG: d\nwasmstream ERROR: e\n"
	if buf.String() != want {
		t.Errorf("log output:\n%s\nwant:\n%s", buf.String(), want)
	}
	if _, err := wasmstream.Run([]wasmstream.Record{rec("", "abc", 0), rec("", "de", 0)}); err != nil {
		t.Fatal(err)
	}
	if got, want := wasmstream.Metrics(), map[string]int64{"records": 2, "bytes": 5}; !maps.Equal(got, want) {
		t.Errorf("Metrics() = %v, want %v", got, want)
	}
	wasmstream.Reset()
	if got := wasmstream.Metrics(); len(got) != 0 {
		t.Errorf("Metrics() after Reset = %v, want none", got)
	}
}
