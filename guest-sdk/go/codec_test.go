package wasmstream

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/wasmstream/wasmstream/abi"
)

// addFrameSeeds adds the ABI's golden frames and frames that use every
// encoding a reader must accept but no canonical writer produces.
func addFrameSeeds(f *testing.F) {
	for _, pattern := range []string{"frames/*.msgpack", "conformance/*.in.msgpack"} {
		paths, err := filepath.Glob(filepath.Join("..", "..", "abi", "testdata", pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			if len(b) < 1<<16 {
				f.Add(b)
			}
		}
	}
	for _, b := range [][]byte{
		{0x91, 0x90}, // zero records, fixarray count
		{0x91, 0xdc, 0, 1, 0x94, 0xa1, 'k', 0xd9, 1, 'v', 0xd3, 0, 0, 0, 0, 0, 0, 0, 5, 0x90},                                                     // str key and value, wide int, empty headers array
		{0x91, 0x91, 0x94, 0xc5, 0, 1, 'k', 0xc6, 0, 0, 0, 1, 'v', 0xcc, 5, 0xc0},                                                                 // wide bin, uint 8
		{0x91, 0x91, 0x94, 0xc4, 0, 0xc4, 1, 'v', 0xcf, 0, 0, 0, 0, 0, 0, 0, 5, 0xc0},                                                             // uint 64 holding a small value
		{0x91, 0x91, 0x95, 0xc0, 0xc0, 0x00, 0xc0, 0xa0},                                                                                          // empty output
		{0x91, 0x91, 0x97, 0xc0, 0xc0, 0x00, 0xc0, 0xa1, 'o', 0x81, 0xa1, 'x', 0x92, 0xc3, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xd4, 1, 2},              // reserved record fields
		{0x93, 0x91, 0x94, 0xc0, 0xc4, 1, 'v', 0x00, 0x92, 0xa1, 'h', 0xc0, 0x80, 0xc7, 1, 5, 9},                                                  // reserved frame elements
		{0x91, 0x92, 0x94, 0xc0, 0xc0, 0x00, 0x92, 0xa1, 'h', 0xc4, 1, 'x', 0x94, 0xc0, 0xc0, 0x00, 0x92, 0xa1, 'g', 0xc4, 1, 'y'},                // header names that change
		{0x91, 0x91, 0x94, 0xc0, 0xc0, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xc0},                                                                     // timestamp overflow
		{0x91, 0x91, 0x95, 0xc0, 0xc0, 0x00, 0xc0, 0xa1, 'o', 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0}, // short
	} {
		f.Add(b)
	}
}

// FuzzReaderMatchesABI checks the SDK's reader against abi's: for any
// bytes, both accept with the same records or both reject with abi's error.
func FuzzReaderMatchesABI(f *testing.F) {
	addFrameSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		want, wantErr := abi.DecodeFrame(frame, nil)
		var r reader
		var got []Record
		err := r.reset(frame)
		if err == nil {
			var rec Record
			for r.next(&rec) {
				c := rec
				c.Headers = append([]Header(nil), rec.Headers...)
				got = append(got, c)
			}
			err = r.close()
		}
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("SDK reader: %v; abi: %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("SDK reader: %d records; abi: %d", len(got), len(want))
		}
		for i := range want {
			if !sameRecord(got[i], want[i]) {
				t.Fatalf("record %d: SDK reader %+v; abi %+v", i, got[i], want[i])
			}
		}
	})
}

// FuzzWriterMatchesABI checks that the SDK's writer writes what abi's does.
func FuzzWriterMatchesABI(f *testing.F) {
	f.Add([]byte("k"), []byte("value"), int64(1700000000000), "trace", []byte("abc"), "", uint8(0), uint16(0))
	f.Add([]byte(nil), []byte(nil), int64(-1), "", []byte(nil), "alerts", uint8(0xff), uint16(300))
	f.Add([]byte{}, []byte{}, int64(1<<32), "a-very-long-header-name-over-31-bytes", []byte{}, "an-output-name-longer-than-31-bytes", uint8(0x0f), uint16(70000&0xffff))
	f.Add([]byte("k"), []byte("v"), int64(-1<<40), "h", []byte("x"), "o", uint8(0xf0), uint16(17))
	f.Fuzz(func(t *testing.T, key, value []byte, ts int64, hname string, hval []byte, output string, flags uint8, n uint16) {
		r := Record{Key: key, Value: value, Timestamp: ts, Output: output}
		if flags&1 != 0 {
			r.Key = nil
		}
		if flags&2 != 0 {
			r.Value = nil
		}
		if flags&4 != 0 {
			r.Value = bytes.Repeat([]byte{'x'}, int(n)) // past bin 8 and bin 16
		}
		for i := 0; i < int(flags>>4); i++ {
			r.Headers = append(r.Headers, Header{Name: hname, Value: hval})
		}
		recs := []Record{r, {Timestamp: ts ^ 1}, r}
		var w writer
		w.reset(nil)
		for i := range recs {
			w.append(&recs[i])
		}
		if got, want := w.bytes(), abi.AppendFrame(nil, recs); !bytes.Equal(got, want) {
			t.Fatalf("SDK writer:\n%x\nabi:\n%x", got, want)
		}
	})
}

// FuzzPassThroughIsCanonical runs every frame abi accepts through handlers
// that pass records on unchanged — where the SDK copies canonically encoded
// records whole — and checks the output is the canonical encoding of the
// input's records.
func FuzzPassThroughIsCanonical(f *testing.F) {
	addFrameSeeds(f)
	handlers := map[string]func(){
		"Map":     func() { Map(func(r Record) (Record, error) { return r, nil }) },
		"Filter":  func() { Filter(func(Record) (bool, error) { return true, nil }) },
		"FlatMap": func() { FlatMap(func(r Record, e *Emitter) error { e.Emit(r); e.Emit(r); return nil }) },
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		recs, err := abi.DecodeFrame(frame, nil)
		if err != nil {
			return
		}
		want := abi.AppendFrame(nil, recs)
		for name, register := range handlers {
			Reset()
			register()
			got, err := RunFrame(frame)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if name == "FlatMap" {
				dup := make([]Record, 0, 2*len(recs))
				for _, r := range recs {
					dup = append(dup, r, r)
				}
				want := abi.AppendFrame(nil, dup)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s:\n%x\nwant\n%x", name, got, want)
				}
				continue
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s:\n%x\nwant\n%x", name, got, want)
			}
		}
		Reset()
	})
}

func sameRecord(a, b Record) bool {
	if !bytes.Equal(a.Key, b.Key) || (a.Key == nil) != (b.Key == nil) ||
		!bytes.Equal(a.Value, b.Value) || (a.Value == nil) != (b.Value == nil) ||
		a.Timestamp != b.Timestamp || a.Output != b.Output || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Name != b.Headers[i].Name || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) ||
			(a.Headers[i].Value == nil) != (b.Headers[i].Value == nil) {
			return false
		}
	}
	return true
}

func TestReaderReusesHeaderNames(t *testing.T) {
	frame := abi.AppendFrame(nil, []Record{
		{Headers: []Header{{Name: "trace", Value: []byte("1")}}},
		{Headers: []Header{{Name: "trace", Value: []byte("2")}}},
	})
	var r reader
	if err := r.reset(frame); err != nil {
		t.Fatal(err)
	}
	var rec Record
	allocs := testing.AllocsPerRun(100, func() {
		if err := r.reset(frame); err != nil {
			t.Fatal(err)
		}
		for r.next(&rec) {
		}
		if err := r.close(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decoding records with repeated header names: %v allocations, want 0", allocs)
	}
}

func TestAlloc(t *testing.T) {
	var o operator
	p0 := o.alloc(0)
	if p0 == nil || cap(p0) == 0 || len(p0) != 0 {
		t.Fatalf("alloc(0) = len %d cap %d nil %v; want an empty, non-nil buffer", len(p0), cap(p0), p0 == nil)
	}
	p1 := o.alloc(100)
	if len(p1) != 100 || unsafe.SliceData(p1) != unsafe.SliceData(p0) {
		t.Fatalf("alloc(100) did not reuse the buffer")
	}
	big := o.alloc(1 << 20)
	if len(big) != 1<<20 {
		t.Fatalf("alloc(1 MiB) = %d bytes", len(big))
	}
	if again := o.alloc(10); unsafe.SliceData(again) != unsafe.SliceData(big) {
		t.Fatalf("alloc shrank after growing")
	}
	o.busy = true // the host calling alloc from a host import during a call
	if inner := o.alloc(10); unsafe.SliceData(inner) == unsafe.SliceData(big) {
		t.Fatalf("a re-entrant alloc returned the input buffer being processed")
	}
	if n := testing.AllocsPerRun(100, func() { o.alloc(1000) }); n != 0 {
		t.Errorf("alloc of a size already held: %v allocations, want 0", n)
	}
}
