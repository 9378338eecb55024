package wasmstream

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"github.com/wasmstream/wasmstream/abi"
)

// inplaceRecords returns n records of the shapes the reader decodes on its
// fast path and off it: keys present and absent, small and millisecond
// timestamps, headers on every third record.
func inplaceRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Value: fmt.Appendf(nil, "value %d", i), Timestamp: int64(i)}
		if i%2 == 0 {
			recs[i].Key = fmt.Appendf(nil, "k%d", i)
			recs[i].Timestamp += 1700000000000
		}
		if i%3 == 0 {
			recs[i].Headers = []Header{{Name: "trace", Value: []byte("t")}}
		}
	}
	return recs
}

// processFrame runs the registered handler over a copy of frame as the
// Wasm export does and reports the output and whether it is the input
// buffer itself.
func processFrame(t *testing.T, frame []byte) (out []byte, aliased bool) {
	t.Helper()
	in := slices.Clone(frame)
	out, err := op.process(in)
	if err != nil {
		t.Fatalf("process: %v", err)
	}
	return slices.Clone(out), unsafe.SliceData(out) == unsafe.SliceData(in) && len(out) == len(in)
}

func upperRecords(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = r.Clone()
		upperMap(out[i])
	}
	return out
}

// TestMapPassesInputFrame checks that an in-place Map's output is the input
// frame itself, holding the changed bytes, and that a Map changing any one
// record — first, middle or last — gets the canonical encoding of every
// record, the unchanged ones around it copied whole.
func TestMapPassesInputFrame(t *testing.T) {
	recs := inplaceRecords(7)
	frame := abi.AppendFrame(nil, recs)
	want := abi.AppendFrame(nil, upperRecords(recs))
	Reset()
	t.Cleanup(Reset)
	Map(upperMap)
	for range 2 { // the second call reuses the SDK's buffers
		got, aliased := processFrame(t, frame)
		if !aliased {
			t.Errorf("in-place Map: the output is not the input frame")
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("in-place Map:\n%x\nwant\n%x", got, want)
		}
	}
	for _, changed := range []int{0, 3, 6} {
		for name, change := range map[string]func(*Record){
			"value":     func(r *Record) { r.Value = []byte("new") },
			"key":       func(r *Record) { r.Key = []byte("other") },
			"timestamp": func(r *Record) { r.Timestamp++ },
			"output":    func(r *Record) { r.Output = "side" },
			"headers":   func(r *Record) { r.Headers = append(slices.Clone(r.Headers), Header{Name: "h"}) },
		} {
			t.Run(fmt.Sprintf("%s of record %d", name, changed), func(t *testing.T) {
				Reset()
				exp := upperRecords(recs)
				change(&exp[changed])
				want := abi.AppendFrame(nil, exp)
				i := 0
				Map(func(r Record) (Record, error) {
					upperMap(r)
					if i == changed {
						change(&r)
					}
					i++
					return r, nil
				})
				got, aliased := processFrame(t, frame)
				if aliased {
					t.Errorf("the output is the input frame, though record %d changed", changed)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("got\n%x\nwant\n%x", got, want)
				}
			})
		}
	}
}

// TestFilterPassesInputFrame checks that a Filter keeping every record
// returns the input frame itself, and that one dropping records, or
// changing the headers it shares with the SDK, gets the canonical encoding
// of what it kept.
func TestFilterPassesInputFrame(t *testing.T) {
	recs := inplaceRecords(7)
	frame := abi.AppendFrame(nil, recs)
	cases := []struct {
		name    string
		keep    func(i int) bool
		headers bool // change the first header value of record 3
	}{
		{"all", func(int) bool { return true }, false},
		{"none", func(int) bool { return false }, false},
		{"all but the first", func(i int) bool { return i != 0 }, false},
		{"all but the last", func(i int) bool { return i != 6 }, false},
		{"every other", func(i int) bool { return i%2 == 0 }, false},
		{"all, one header changed", func(int) bool { return true }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			Reset()
			t.Cleanup(Reset)
			var exp []Record
			for i, r := range recs {
				if c.keep(i) {
					r = r.Clone()
					if c.headers && i == 3 {
						r.Headers[0].Value = []byte("changed")
					}
					exp = append(exp, r)
				}
			}
			want := abi.AppendFrame(nil, exp)
			i := 0
			Filter(func(r Record) (bool, error) {
				keep := c.keep(i)
				if c.headers && i == 3 {
					r.Headers[0].Value = []byte("changed")
				}
				i++
				return keep, nil
			})
			got, aliased := processFrame(t, frame)
			if wantAlias := c.name == "all"; aliased != wantAlias {
				t.Errorf("output is the input frame: %v, want %v", aliased, wantAlias)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got\n%x\nwant\n%x", got, want)
			}
		})
	}
}

// TestPassThroughNeedsCanonicalFrame checks that frames whose records pass
// through unchanged, but which are not what the SDK writes — a records
// array 16, a second frame element, a record array 16 — are answered with
// the canonical encoding, never with the input itself.
func TestPassThroughNeedsCanonicalFrame(t *testing.T) {
	recs := inplaceRecords(3)
	canonical := abi.AppendFrame(nil, recs)
	body := canonical[6:] // the records
	array16 := append([]byte{0x91, 0xdc, 0, 3}, body...)
	twoElements := append(append([]byte{0x92, 0xdd, 0, 0, 0, 3}, body...), 0xc0)
	// The first record as an array 16 of its 4 elements.
	rec16 := append([]byte{0x91, 0xdd, 0, 0, 0, 3, 0xdc, 0, 4}, body[1:]...)
	handlers := map[string]func(){
		"Map":    func() { Map(func(r Record) (Record, error) { return r, nil }) },
		"Filter": func() { Filter(func(Record) (bool, error) { return true, nil }) },
	}
	for hname, register := range handlers {
		for fname, frame := range map[string][]byte{"records array 16": array16, "two elements": twoElements, "record array 16": rec16} {
			t.Run(hname+"/"+fname, func(t *testing.T) {
				if _, err := abi.DecodeFrame(frame, nil); err != nil {
					t.Fatalf("abi rejects the test frame: %v", err)
				}
				Reset()
				t.Cleanup(Reset)
				register()
				got, aliased := processFrame(t, frame)
				if aliased {
					t.Errorf("the output is the non-canonical input frame")
				}
				if !bytes.Equal(got, canonical) {
					t.Fatalf("got\n%x\nwant\n%x", got, canonical)
				}
			})
		}
	}
}
