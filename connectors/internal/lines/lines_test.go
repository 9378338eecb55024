package lines

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/wasmstream/wasmstream/abi"
)

func TestAppend(t *testing.T) {
	tests := []struct {
		name   string
		rec    abi.Record
		format Format
		want   string
	}{
		{"text", abi.Record{Key: []byte("k"), Value: []byte("hello")}, Text, "hello\n"},
		{"text empty", abi.Record{}, Text, "\n"},
		{"json empty", abi.Record{}, JSON, "{}\n"},
		{"json value", abi.Record{Value: []byte("v")}, JSON, `{"value":"v"}` + "\n"},
		{"json empty value", abi.Record{Value: []byte{}}, JSON, `{"value":""}` + "\n"},
		{"json all", abi.Record{
			Key: []byte("k"), Value: []byte("v"), Timestamp: 1700000000000,
			Headers: []abi.Header{{Name: "a", Value: []byte("1")}, {Name: "a", Value: []byte("2")}},
			Output:  "alerts",
		}, JSON, `{"key":"k","value":"v","timestamp":1700000000000,"headers":{"a":"1","a":"2"},"output":"alerts"}` + "\n"},
		{"json timestamp only", abi.Record{Timestamp: -5}, JSON, `{"timestamp":-5}` + "\n"},
		{"json escapes", abi.Record{Value: []byte("q\"b\\n\nr\rt\tc\x01\x1f\u2028é€😀")}, JSON,
			`{"value":"q\"b\\n\nr\rt\tc\u0001\u001f\u2028é€😀"}` + "\n"},
		{"json binary", abi.Record{Key: []byte{0xff}, Value: []byte{0, 0xfe, 'a'}}, JSON,
			`{"key_base64":"/w==","value_base64":"AP5h"}` + "\n"},
		{"json invalid header", abi.Record{Headers: []abi.Header{{Name: "n\xff", Value: []byte("a\xc0b")}}}, JSON,
			`{"headers":{"n\ufffd":"a\ufffdb"}}` + "\n"},
		{"json surrogate is invalid", abi.Record{Value: []byte("\xed\xa0\x80")}, JSON,
			`{"value_base64":"7aCA"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Append([]byte("prefix"), &tt.rec, tt.format))
			if got != "prefix"+tt.want {
				t.Errorf("got  %q\nwant %q", got, "prefix"+tt.want)
			}
			if tt.format == JSON && !json.Valid([]byte(tt.want)) {
				t.Errorf("want is not valid JSON: %s", tt.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Format
		wantErr bool
	}{{"text", Text, false}, {"json", JSON, false}, {"", Text, false}, {"xml", 0, true}} {
		got, err := ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestAppendNoAllocs(t *testing.T) {
	rec := abi.Record{Key: []byte("key"), Value: []byte("some value é"), Timestamp: 42,
		Headers: []abi.Header{{Name: "file", Value: []byte("/tmp/x")}}, Output: "o"}
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &rec) })
	if allocs != 0 {
		t.Errorf("AppendJSON allocates %v times per record", allocs)
	}
}

// jsonLine is what encoding/json reads back from a json line.
type jsonLine struct {
	Key         *string           `json:"key"`
	KeyBase64   *string           `json:"key_base64"`
	Value       *string           `json:"value"`
	ValueBase64 *string           `json:"value_base64"`
	Timestamp   int64             `json:"timestamp"`
	Headers     map[string]string `json:"headers"`
	Output      string            `json:"output"`
}

func decodedBytes(t *testing.T, s, b64 *string) []byte {
	t.Helper()
	switch {
	case s != nil && b64 != nil:
		t.Fatal("both string and base64 forms present")
	case s != nil:
		return []byte(*s)
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			t.Fatalf("decoding base64: %v", err)
		}
		return b
	}
	return nil
}

func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), int64(1), "h", []byte("hv"), "out")
	f.Add([]byte{0xff, 0xfe}, []byte("\x00\x1f\"\\\u2029"), int64(0), "\xff", []byte("\xc3"), "")
	f.Add([]byte("\xf4\x90\x80\x80"), []byte("\xe0\x80\x80 \xef\xbf\xbd"), int64(-1), "", []byte{}, "x")
	f.Fuzz(func(t *testing.T, key, value []byte, ts int64, hname string, hvalue []byte, output string) {
		rec := abi.Record{Key: key, Value: value, Timestamp: ts, Output: output,
			Headers: []abi.Header{{Name: hname, Value: hvalue}}}
		line := AppendJSON(nil, &rec)
		if line[len(line)-1] != '\n' || bytes.IndexByte(line[:len(line)-1], '\n') >= 0 {
			t.Fatalf("not exactly one line: %q", line)
		}
		if !json.Valid(line) {
			t.Fatalf("invalid JSON: %q", line)
		}
		var got jsonLine
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("decoding %q: %v", line, err)
		}
		if k := decodedBytes(t, got.Key, got.KeyBase64); !bytes.Equal(k, key) {
			t.Errorf("key: got %q, want %q", k, key)
		}
		if v := decodedBytes(t, got.Value, got.ValueBase64); !bytes.Equal(v, value) {
			t.Errorf("value: got %q, want %q", v, value)
		}
		// encoding/json replaces invalid UTF-8 in strings the same way.
		wo, wn, wv := jsonString(t, output), jsonString(t, hname), jsonString(t, string(hvalue))
		if got.Timestamp != ts || got.Output != wo {
			t.Errorf("timestamp/output: got %d %q, want %d %q", got.Timestamp, got.Output, ts, wo)
		}
		if hv, ok := got.Headers[wn]; !ok || hv != wv {
			t.Errorf("headers: got %q, want %q: %q", got.Headers, wn, wv)
		}
	})
}

// jsonString is s after a round trip through encoding/json.
func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func FuzzDecodeRune(f *testing.F) {
	for _, s := range []string{"a", "é", "€", "😀", "\xff", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe0\x80", "\xc0\x80"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		r1, n1 := decodeRune(b)
		r2, n2 := utf8.DecodeRune(b)
		if r1 != r2 || n1 != n2 {
			t.Errorf("decodeRune(%q) = %U %d, utf8.DecodeRune = %U %d", b, r1, n1, r2, n2)
		}
		r3, n3 := decodeRune(string(b))
		if r3 != r1 || n3 != n1 {
			t.Errorf("string and []byte disagree on %q", b)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	rec := abi.Record{Key: []byte("key-17"), Value: bytes.Repeat([]byte("abcdefghij"), 10), Timestamp: 1700000000000}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(rec.Value)))
	for b.Loop() {
		buf = AppendJSON(buf[:0], &rec)
	}
}
