package wasmstream

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
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

// mapRegistrations register a handler as a Map and as a MapInPlace, which
// must agree on every output byte.
var mapRegistrations = map[string]func(fn func(r *Record) error){
	"Map": func(fn func(r *Record) error) {
		Map(func(r Record) (Record, error) { err := fn(&r); return r, err })
	},
	"MapInPlace": func(fn func(r *Record) error) { MapInPlace(fn) },
}

// TestMapPassesInputFrame checks that an in-place Map's output is the input
// frame itself, holding the changed bytes, and that a Map changing any one
// record — first, middle or last — gets the canonical encoding of every
// record, the unchanged ones around it copied whole; for Map and MapInPlace.
func TestMapPassesInputFrame(t *testing.T) {
	recs := inplaceRecords(7)
	frame := abi.AppendFrame(nil, recs)
	want := abi.AppendFrame(nil, upperRecords(recs))
	for kind, register := range mapRegistrations {
		t.Run(kind, func(t *testing.T) {
			Reset()
			t.Cleanup(Reset)
			register(upperInPlaceMap)
			for range 2 { // the second call reuses the SDK's buffers
				got, aliased := processFrame(t, frame)
				if !aliased {
					t.Errorf("in-place %s: the output is not the input frame", kind)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("in-place %s:\n%x\nwant\n%x", kind, got, want)
				}
			}
			for _, changed := range []int{0, 3, 6} {
				for name, change := range map[string]func(*Record){
					"value":     func(r *Record) { r.Value = []byte("new") },
					"value nil": func(r *Record) { r.Value = nil },
					"shorter":   func(r *Record) { r.Value = r.Value[:len(r.Value)-1] },
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
						register(func(r *Record) error {
							upperInPlaceMap(r)
							if i%len(recs) == changed {
								change(r)
							}
							i++
							return nil
						})
						for range 2 {
							got, aliased := processFrame(t, frame)
							if aliased {
								t.Errorf("the output is the input frame, though record %d changed", changed)
							}
							if !bytes.Equal(got, want) {
								t.Fatalf("got\n%x\nwant\n%x", got, want)
							}
						}
					})
				}
			}
		})
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
		"Map":        func() { Map(func(r Record) (Record, error) { return r, nil }) },
		"MapInPlace": func() { MapInPlace(func(*Record) error { return nil }) },
		"Filter":     func() { Filter(func(Record) (bool, error) { return true, nil }) },
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

// mapModes are the handlers FuzzMapInPlaceMatchesMap runs as a Map and as a
// MapInPlace: passing records on, changing their bytes in place, and
// changing their structure in the ways the SDK must notice.
var mapModes = []func(r *Record) error{
	func(*Record) error { return nil },
	upperInPlaceMap,
	func(r *Record) error { // a new value for every other record
		if len(r.Value)%2 == 1 {
			r.Value = append([]byte("new "), r.Value...)
		}
		return nil
	},
	func(r *Record) error { // route records whose value starts with a vowel
		if len(r.Value) > 0 && bytes.IndexByte([]byte("aeiou"), r.Value[0]) >= 0 {
			r.Output = "vowels"
		}
		return nil
	},
	func(r *Record) error { // headers of the handler's own, or none
		if len(r.Headers) == 0 {
			r.Headers = []Header{{Name: "added", Value: r.Key}}
		} else {
			r.Headers = nil
		}
		return nil
	},
	func(r *Record) error { // key and timestamp
		r.Key, r.Timestamp = r.Value, r.Timestamp+1
		return nil
	},
	func(r *Record) error {
		if bytes.Contains(r.Value, []byte("fail")) {
			return errors.New("asked to fail")
		}
		return nil
	},
}

// FuzzMapInPlaceMatchesMap holds MapInPlace, whose loop decodes the common
// records itself, to Map byte for byte: the same output frame, or the same
// error, for any input frame and each of mapModes. The seeds include every
// truncation of frames with records of each shape, so the fast path's
// reads at the end of a frame are covered by go test.
func FuzzMapInPlaceMatchesMap(f *testing.F) {
	frames := [][]byte{
		abi.AppendFrame(nil, inplaceRecords(7)),
		abi.AppendFrame(nil, benchRecords(3, 100)),
		abi.AppendFrame(nil, []Record{
			{},
			{Key: []byte{}, Value: []byte{}},
			{Value: []byte("fail"), Timestamp: -1},
			{Value: bytes.Repeat([]byte("x"), 300), Timestamp: 1 << 32},
			{Key: []byte("k"), Value: []byte("a"), Timestamp: 1<<32 - 1},
			{Value: []byte("routed"), Output: "side"},
			{Value: []byte("e"), Timestamp: 1<<63 - 1},
		}),
	}
	for _, frame := range frames {
		for n := range len(frame) + 1 {
			for mode := range mapModes {
				f.Add(frame[:n], uint8(mode))
			}
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte, mode uint8) {
		fn := mapModes[int(mode)%len(mapModes)]
		var outs [2][]byte
		var errs [2]string
		for i, kind := range []string{"Map", "MapInPlace"} {
			Reset()
			mapRegistrations[kind](fn)
			// A copy with no room past its end, as the Wasm export's frame
			// has none, so that a slice past the frame's end panics.
			out, err := op.process(slices.Clip(slices.Clone(frame)))
			outs[i] = slices.Clone(out)
			if err != nil {
				errs[i] = err.Error()
			}
		}
		Reset()
		if errs[0] != errs[1] || !bytes.Equal(outs[0], outs[1]) {
			t.Fatalf("frame %x, mode %d:\nMap        %x %q\nMapInPlace %x %q", frame, mode, outs[0], errs[0], outs[1], errs[1])
		}
	})
}

// TestMapInPlaceOwnership checks that the SDK never writes into slices a
// MapInPlace handler put into its record, even when later records have
// headers, which the SDK decodes into a header array.
func TestMapInPlaceOwnership(t *testing.T) {
	Reset()
	t.Cleanup(Reset)
	recs := inplaceRecords(7) // headers on records 0, 3 and 6
	mine := make([]Header, 0, 4)
	kept := [][]byte{}
	MapInPlace(func(r *Record) error {
		if len(r.Headers) == 0 {
			r.Headers = mine // empty, but with room for the next record's headers
		}
		k := []byte("mine")
		kept = append(kept, k)
		r.Key = k
		return nil
	})
	for range 2 {
		out, err := Run(recs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range out {
			if string(out[i].Key) != "mine" || !bytes.Equal(out[i].Value, recs[i].Value) || len(out[i].Headers) != len(recs[i].Headers) {
				t.Fatalf("record %d: got %+v", i, out[i])
			}
		}
	}
	for _, h := range mine[:cap(mine)] {
		if h.Name != "" || h.Value != nil {
			t.Errorf("the SDK wrote into the handler's header array: %+v", mine[:cap(mine)])
			break
		}
	}
	for _, k := range kept {
		if string(k) != "mine" {
			t.Errorf("the SDK wrote into the handler's key: %q", k)
		}
	}
}

// TestMapInPlaceUnderGC runs MapInPlace batches while the collector runs
// concurrently, for the pointers the loop stores without write barriers
// (setBytes): every output must be right, and the race detector's checkptr
// and GODEBUG=gccheckmark=1 find what the collector would get wrong.
func TestMapInPlaceUnderGC(t *testing.T) {
	Reset()
	t.Cleanup(Reset)
	i := 0
	MapInPlace(func(r *Record) error {
		upperInPlaceMap(r)
		if i%5 == 0 {
			r.Value = append(bytes.Clone(r.Value), '!') // encoded, then dropped
		}
		i++
		return nil
	})
	in := benchRecords(200, 100)
	want := make([]Record, len(in))
	for j := range in {
		want[j] = in[j].Clone()
		upperInPlaceMap(&want[j])
		if j%5 == 0 {
			want[j].Value = append(want[j].Value, '!')
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for n := range 200 {
		i = 0
		out, err := Run(in)
		if err != nil {
			t.Fatal(err)
		}
		for j := range out {
			if !bytes.Equal(out[j].Value, want[j].Value) || !bytes.Equal(out[j].Key, want[j].Key) || out[j].Timestamp != want[j].Timestamp {
				t.Fatalf("batch %d, record %d: got %+v, want %+v", n, j, out[j], want[j])
			}
		}
	}
}
