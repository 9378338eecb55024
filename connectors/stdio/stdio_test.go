package stdio

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

func TestDocs(t *testing.T) { connectortest.CheckDocs(t, Register) }

// parseLines reads back what a sink wrote.
func parseLines(t *testing.T, out []byte, format string) []runtime.Record {
	t.Helper()
	var recs []runtime.Record
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		if format == "text" {
			recs = append(recs, runtime.Record{Value: line})
			continue
		}
		var j struct {
			Key, Value, KeyBase64, ValueBase64 *string
			Timestamp                          int64
		}
		if err := json.Unmarshal(line, &j); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		r := runtime.Record{Timestamp: j.Timestamp}
		if j.Key != nil {
			r.Key = []byte(*j.Key)
		}
		if j.Value != nil {
			r.Value = []byte(*j.Value)
		}
		if j.ValueBase64 != nil {
			v, err := base64.StdEncoding.DecodeString(*j.ValueBase64)
			if err != nil {
				t.Fatal(err)
			}
			r.Value = v
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestSuite(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			connectortest.RunSinkSuite(t, func(t *testing.T) (runtime.Sink, func() []runtime.Record) {
				var out bytes.Buffer
				cfg := connectortest.MustDecodeSink[SinkConfig](t, Register, "stdout", "{format: "+format+"}")
				s, err := NewSink(cfg, &out)
				if err != nil {
					t.Fatal(err)
				}
				return s, func() []runtime.Record { return parseLines(t, out.Bytes(), format) }
			})
		})
	}
}

// countingWriter records how many Write calls reach it.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

func TestFlushedAtEndOfWrite(t *testing.T) {
	var w countingWriter
	s, err := NewSink(&SinkConfig{Format: "json"}, &w)
	if err != nil {
		t.Fatal(err)
	}
	recs := []runtime.Record{{Key: []byte("k"), Value: []byte("a")}, {Value: []byte("b"), Timestamp: 5}}
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	want := `{"key":"k","value":"a"}` + "\n" + `{"value":"b","timestamp":5}` + "\n"
	if w.String() != want || w.writes != 1 {
		t.Errorf("after Write: %d writes of %q, want 1 of %q", w.writes, w.String(), want)
	}
}

// failingWriter fails every write while broken.
type failingWriter struct {
	bytes.Buffer
	broken bool
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.broken {
		return 0, errors.New("broken pipe")
	}
	return w.Buffer.Write(p)
}

func TestWriteErrorThenRecovers(t *testing.T) {
	w := &failingWriter{broken: true}
	s, err := NewSink(&SinkConfig{Format: "text"}, w)
	if err != nil {
		t.Fatal(err)
	}
	recs := []runtime.Record{{Value: []byte("a")}, {Value: []byte("b")}}
	if err := s.Write(t.Context(), recs); err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("Write to a broken writer = %v", err)
	}
	w.broken = false
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatalf("Write after recovery: %v", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if w.String() != "a\nb\n" {
		t.Errorf("wrote %q: the failed batch must not be written twice", w.String())
	}
}

func TestConfig(t *testing.T) {
	for _, name := range []string{"stdout", "stderr"} {
		cfg := connectortest.MustDecodeSink[SinkConfig](t, Register, name, "{}")
		if cfg.Format != "text" {
			t.Errorf("%s: default format %q", name, cfg.Format)
		}
		_, err := connectortest.DecodeSink[SinkConfig](t, Register, name, "{format: yaml}")
		got := connectortest.ConfigProblems(t, err)
		if len(got) != 1 || !strings.HasPrefix(got[0], "sink."+name+`.format: "yaml" is not one of text, json`) {
			t.Errorf("%s: problems %q", name, got)
		}
	}
}
