package abi_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func rec(key, value string, ts int64) abi.Record {
	r := abi.Record{Value: []byte(value), Timestamp: ts}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// goldenCases are the frames in testdata/frames and the conformance inputs
// in testdata/conformance. Their bytes are part of the ABI: a change here
// that alters a committed file is a breaking change.
func goldenCases() map[string][]abi.Record {
	big := bytes.Repeat([]byte("abcdefghij"), 1<<20/10)
	many := make([]abi.Record, 10000)
	for i := range many {
		many[i] = rec(fmt.Sprintf("k%d", i%97), fmt.Sprintf("record number %d", i), int64(1700000000000+i))
	}
	withHeaders := rec("user-1", "hello", 1)
	withHeaders.Headers = []abi.Header{{Name: "trace", Value: []byte("abc")}, {Name: "trace", Value: nil}, {Name: "content-type", Value: []byte("text/plain")}}
	return map[string][]abi.Record{
		"empty_batch":    {},
		"empty_values":   {{Key: []byte{}, Value: []byte{}}, {Key: nil, Value: nil, Timestamp: -1}},
		"one_mib_value":  {{Key: []byte("big"), Value: big, Timestamp: 42}},
		"ten_thousand":   many,
		"headers":        {withHeaders},
		"non_ascii":      {rec("clé", "héllo wörld ✓ 日本語 abc", 1700000000123), rec("", "\xff\xfe binary \x00 bytes", -5)},
		"timestamps":     {rec("a", "x", 0), rec("a", "x", 127), rec("a", "x", 128), rec("a", "x", 65536), rec("a", "x", 1<<40), rec("a", "x", -33), rec("a", "x", -1<<40)},
		"routing":        {rec("a", "plain", 1), rec("b", "route:alerts:disk full", 2), rec("c", "drop me", 3), rec("d", "dup this", 4), rec("e", "route:audit:x", 5)},
		"operator_error": {rec("a", "fine", 1), rec("b", "error:record b is not valid JSON", 2)},
		"trap":           {rec("a", "fine", 1), rec("b", "trap now", 2)},
	}
}

func TestGoldenFrames(t *testing.T) {
	for name, recs := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			got := abi.AppendFrame(nil, recs)
			path := filepath.Join("testdata", "frames", name+".msgpack")
			checkGolden(t, path, got)
			back, err := abi.DecodeFrame(got, nil)
			if err != nil {
				t.Fatalf("decoding %s: %v", path, err)
			}
			assertRecords(t, back, recs)
		})
	}
}

// TestConformanceVectors writes and checks the input and expected output of
// the conformance operator for every golden case. Guest SDK tests replay
// these files.
func TestConformanceVectors(t *testing.T) {
	for name, recs := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "conformance")
			checkGolden(t, filepath.Join(dir, name+".in.msgpack"), abi.AppendFrame(nil, recs))
			out, err := abi.ConformanceProcess(recs)
			if err != nil {
				msg := err.Error()
				if errors.Is(err, abi.ErrConformanceTrap) {
					msg = "trap"
				}
				checkGolden(t, filepath.Join(dir, name+".err"), []byte(msg+"\n"))
				return
			}
			checkGolden(t, filepath.Join(dir, name+".out.msgpack"), abi.AppendFrame(nil, out))
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test ./abi -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: encoding changed (%d bytes, golden has %d); this breaks the ABI unless intended (then run with -update)", path, len(got), len(want))
	}
}

func assertRecords(t *testing.T, got, want []abi.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Key, w.Key) || (g.Key == nil) != (w.Key == nil) ||
			!bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) ||
			g.Timestamp != w.Timestamp || g.Output != w.Output || len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d: got %+v, want %+v", i, g, w)
		}
		for j := range w.Headers {
			if g.Headers[j].Name != w.Headers[j].Name || !bytes.Equal(g.Headers[j].Value, w.Headers[j].Value) {
				t.Fatalf("record %d header %d: got %+v, want %+v", i, j, g.Headers[j], w.Headers[j])
			}
		}
	}
}

func TestRoundTripOutputs(t *testing.T) {
	in := []abi.Record{rec("a", "x", 1), rec("b", "y", 2), rec("c", "z", 3)}
	in[1].Output = "alerts"
	in[2].Output = "alerts"
	back, err := abi.DecodeFrame(abi.AppendFrame(nil, in), nil)
	if err != nil {
		t.Fatal(err)
	}
	assertRecords(t, back, in)
}

func TestReaderAcceptsWideEncodings(t *testing.T) {
	// The same record written with non-minimal widths: array16 frame, array16
	// records, str key, bin32 value, int64 timestamp, map-free headers.
	b := []byte{0xdc, 0x00, 0x02, // frame: array16 of 2 (records + one reserved element)
		0xdc, 0x00, 0x01, // records: array16 of 1
		0xdc, 0x00, 0x06, // record: array16 of 6 (one unknown trailing field)
		0xa1, 'k', // key as fixstr
		0xc6, 0, 0, 0, 2, 'h', 'i', // value as bin32
		0xd3, 0, 0, 0, 0, 0, 0, 0, 7, // timestamp int64
		0xc0,                // headers nil
		0xa3, 'o', 'u', 't', // output
		0xc3,                  // unknown trailing field (bool)
		0x81, 0xa1, 'x', 0x01, // reserved frame element: a map
	}
	got, err := abi.DecodeFrame(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := abi.Record{Key: []byte("k"), Value: []byte("hi"), Timestamp: 7, Output: "out"}
	assertRecords(t, got, []abi.Record{want})
}

func TestReaderRejectsMalformed(t *testing.T) {
	valid := abi.AppendFrame(nil, []abi.Record{rec("k", "value", 5)})
	cases := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"empty", nil, "need 1 bytes"},
		{"not an array", []byte{0x81, 0xa1, 'a', 0x01}, "want an array, found a map"},
		{"empty frame", []byte{0x90}, "empty array"},
		{"count too large", []byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff}, "limit"},
		{"count beyond bytes", []byte{0x91, 0xdd, 0, 0, 0, 9, 0x94}, "only"},
		{"truncated", valid[:len(valid)-3], "runs past the end"},
		{"short record", []byte{0x91, 0x91, 0x93, 0xc0, 0xc0, 0x00, 0x00, 0x00}, "want at least 4"},
		{"value is an int", []byte{0x91, 0x91, 0x94, 0xc0, 0x05, 0x00, 0xc0}, "value: want bin, str or nil, found an integer"},
		{"timestamp is a string", []byte{0x91, 0x91, 0x94, 0xc0, 0xc0, 0xa1, 'x', 0xc0}, "timestamp: want an integer"},
		{"odd headers", []byte{0x91, 0x91, 0x94, 0xc0, 0xc0, 0x00, 0x91, 0xa1, 'x'}, "name/value pairs"},
		{"trailing bytes", append(append([]byte{}, valid...), 0x00), "trailing bytes"},
		{"uint64 overflow", []byte{0x91, 0x91, 0x94, 0xc0, 0xc0, 0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xc0}, "overflows"},
		{"invalid type byte", []byte{0x92, 0x90, 0xc1}, "invalid msgpack type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := abi.DecodeFrame(c.frame, nil)
			if err == nil {
				t.Fatalf("decoded without error; want one containing %q", c.want)
			}
			if !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestInitConfigRoundTrip(t *testing.T) {
	c := &abi.InitConfig{Pipeline: "p", Operator: "op", Instance: 3, Outputs: []string{"a", "b"},
		Params: map[string]any{"n": int64(-4), "f": 1.5, "s": "x", "l": []any{true, nil, "y"}, "m": map[string]any{"z": int64(1)}}}
	b, err := abi.AppendInitConfig(nil, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := abi.DecodeInitConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v, want %+v", got, c)
	}
}

func TestPack(t *testing.T) {
	for _, c := range [][2]uint32{{0, 0}, {1, 2}, {0xffffffff, 0xfffffffe}, {0x80000000, 5}} {
		p, l := abi.Unpack(abi.Pack(c[0], c[1]))
		if p != c[0] || l != c[1] {
			t.Fatalf("Pack/Unpack(%v) = %d, %d", c, p, l)
		}
	}
}

func TestSkipValue(t *testing.T) {
	cases := []struct {
		name string
		src  []byte
		next int
		ok   bool
	}{
		{"fixint", []byte{0x05, 0xff}, 1, true},
		{"nested map", []byte{0x81, 0xa1, 'k', 0x92, 0xc3, 0xc4, 0x01, 'x', 0x00}, 8, true},
		{"ext8", []byte{0xc7, 0x02, 0x01, 'a', 'b'}, 5, true},
		{"truncated bin", []byte{0xc4, 0x05, 'a'}, 0, false},
		{"array longer than bytes", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, 0, false},
		{"unused byte", []byte{0xc1}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, err := abi.SkipValue(c.src, 0)
			if (err == nil) != c.ok || (c.ok && next != c.next) {
				t.Fatalf("SkipValue = %d, %v; want %d, ok=%v", next, err, c.next, c.ok)
			}
			if err != nil && !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

// TestConformanceStateVectors writes and checks the state vectors
// (testdata/conformance-state): the conformance operator's state
// operations over a fresh state per vector.
func TestConformanceStateVectors(t *testing.T) {
	cases := map[string][]abi.Record{
		"state": {
			rec("a", "state:add", 1), rec("a", "state:add", 2), rec("b", "state:add", 3),
			rec("", "state:op", 4), rec("x", "state:op", 5),
			rec("a", "state:put:hello", 6), rec("a", "state:get", 7), rec("b", "state:get", 8),
			rec("a", "state:append:one", 9), rec("a", "state:append:two", 10), rec("b", "state:append:ünï", 11),
			rec("a", "state:del", 12), rec("a", "state:get", 13),
			rec("a", "state:big", 14), rec("a", "state:add", 15),
			rec("", "state:add", 16), rec("", "state:add", 17), rec("plain", "not state", 18),
		},
		// Float counters (state_add_f64): 0.1 three times is
		// 0.30000000000000004, exactly, in every SDK.
		"float": {
			rec("a", "state:addf", 1), rec("a", "state:addf", 2), rec("b", "state:addf", 3),
			rec("a", "state:addf", 4), rec("a", "state:add", 5), rec("plain", "not state", 6),
		},
	}
	for name, recs := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "conformance-state")
			checkGolden(t, filepath.Join(dir, name+".in.msgpack"), abi.AppendFrame(nil, recs))
			out, err := abi.ConformanceProcessState(recs)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(dir, name+".out.msgpack"), abi.AppendFrame(nil, out))
		})
	}
}

// TestConformanceAsyncVectors writes and checks the async vectors
// (testdata/conformance-async): input frames whose records submit requests
// and whose element 1 delivers results; the expected output frame and the
// requests submitted (.submits.msgpack: an array of request maps).
func TestConformanceAsyncVectors(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	many := make([]abi.Record, 0, 120)
	for i := range 100 {
		many = append(many, rec("", fmt.Sprintf("async:svc:/item/%d?x=%d", i, i*i), int64(i)))
		if i%10 == 0 {
			many = append(many, rec("k", fmt.Sprintf("plain %d", i), int64(i)))
		}
	}
	cases := map[string]struct {
		recs    []abi.Record
		results []abi.AsyncResult
	}{
		"submit": {recs: []abi.Record{
			rec("a", "async:users:/users/7", 1), rec("b", "hello", 2),
			rec("", "async-sql:db:user_by_id:ünï", 3), rec("c", "async-redis:cache:user:7", 4), rec("d", "dup", 5),
		}},
		"submit-many": {recs: many},
		"results": {results: []abi.AsyncResult{
			{Ticket: 0, Status: 0, Context: []byte("async:users:/users/7"), Code: 200, Body: []byte(`{"name":"ada"}`)},
			{Ticket: 1, Status: abi.StatusTimeout, Context: []byte("ctx"), Error: "timed out after 5s (attempt 3 of 3)"},
			{Ticket: 2, Status: abi.StatusError, Error: "connection refused"},
			{Ticket: 3, Status: 0, Context: []byte{}, Code: 0, Body: []byte{}},
			{Ticket: 1 << 40, Status: 0, Context: []byte{0, 1, 0xff}, Code: -1, Body: []byte{0xc0, 0x00}},
		}},
		"mixed": {
			recs: []abi.Record{rec("a", "up", 1), rec("b", "async:svc:/x", 2), rec("c", "drop me", 3), rec("d", "route:side:z", 4)},
			results: []abi.AsyncResult{
				{Ticket: 9, Context: []byte("async:svc:/w"), Code: 404, Body: []byte("not found")},
				{Ticket: 10, Context: []byte("async:svc:/v"), Code: 200, Body: big},
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", "conformance-async")
			in := abi.AppendFrameWithResults(nil, abi.AppendFrame(nil, c.recs), c.results)
			checkGolden(t, filepath.Join(dir, name+".in.msgpack"), in)
			if got, err := abi.DecodeResults(in); err != nil || len(got) != len(c.results) {
				t.Fatalf("DecodeResults: %d results, %v", len(got), err)
			}
			out, submits, err := abi.ConformanceProcessAsync(c.recs, c.results)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(dir, name+".out.msgpack"), abi.AppendFrame(nil, out))
			list := []any{}
			for i := range submits {
				b, err := abi.AppendAsyncRequest(nil, &submits[i])
				if err != nil {
					t.Fatal(err)
				}
				v, err := abi.DecodeValue(b)
				if err != nil {
					t.Fatal(err)
				}
				list = append(list, v)
			}
			b, err := abi.AppendValue(nil, list)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(dir, name+".submits.msgpack"), b)
		})
	}
}
