package collection

import (
	"testing"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

func TestDocs(t *testing.T) { connectortest.CheckDocs(t, Register) }

func decode(t *testing.T, settings string) *SourceConfig {
	t.Helper()
	return connectortest.MustDecodeSource[SourceConfig](t, Register, "collection", settings)
}

func newSource(t *testing.T, settings string) *Source {
	t.Helper()
	src, err := NewSource(decode(t, settings))
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return src
}

func TestSuite(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		want     func() []runtime.Record
	}{
		{"values", "{values: [a, b, c]}", func() []runtime.Record {
			return []runtime.Record{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}}
		}},
		{"values repeated across batches", "{values: [a, b, c, d, e], repeat: 4}", func() []runtime.Record {
			var out []runtime.Record
			for range 4 {
				for _, v := range "abcde" {
					out = append(out, runtime.Record{Value: []byte(string(v))})
				}
			}
			return out
		}},
		{"records", `{records: [
			{key: k1, value: v1, timestamp: 1700000000000, headers: {b: "2", a: "1"}},
			{value: v2, timestamp: "2024-05-01T12:00:00.5Z"},
			{key: "", value: ""}]}`, func() []runtime.Record {
			return []runtime.Record{
				{Key: []byte("k1"), Value: []byte("v1"), Timestamp: 1700000000000,
					Headers: []runtime.Header{{Name: "a", Value: []byte("1")}, {Name: "b", Value: []byte("2")}}},
				{Value: []byte("v2"), Timestamp: 1714564800500},
				{Key: []byte{}, Value: []byte{}},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			connectortest.RunSourceSuite(t, func(t *testing.T) (runtime.Source, []runtime.Record) {
				return newSource(t, tt.settings), tt.want()
			})
		})
	}
}

func TestDefaultTimestampIsReadTime(t *testing.T) {
	src := newSource(t, "{values: [a]}")
	if err := src.Open(t.Context(), connectortest.Env(t, 10)); err != nil {
		t.Fatal(err)
	}
	recs := connectortest.ReadN(t, t.Context(), src, 1)
	if recs[0].Timestamp < 1700000000000 {
		t.Errorf("timestamp %d is not the read time", recs[0].Timestamp)
	}
	if recs[0].Key != nil || recs[0].Headers != nil {
		t.Errorf("values shorthand record has key %q, headers %v", recs[0].Key, recs[0].Headers)
	}
}

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		settings string
		want     []string
	}{
		{"{}", []string{"source.collection.records: give at least one record"}},
		{"{values: [a], records: [{value: b}], repeat: 0}", []string{
			"source.collection.values: give records or values, not both",
			"source.collection.repeat: must be at least 1",
		}},
		{"{records: [{value: a, timestamp: yesterday}, {value: b, timestamp: 5}]}", []string{
			`source.collection.records[0].timestamp: "yesterday" is neither epoch milliseconds nor an RFC 3339 time`,
		}},
		{"{values: [a], repet: 2}", []string{`source.collection.repet: unknown field (did you mean "repeat"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := connectortest.DecodeSource[SourceConfig](t, Register, "collection", tt.settings)
			connectortest.CheckProblems(t, err, tt.want...)
		})
	}
}
