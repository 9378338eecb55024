package abi_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
)

func addSeeds(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "frames", "*.msgpack"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 1<<16 {
			f.Add(b)
		}
	}
	f.Add([]byte{0x91, 0xdd, 0, 0, 0, 1, 0x95, 0xc0, 0xc0, 0x00, 0x92, 0xa1, 'h', 0xc4, 0x00, 0xa1, 'o'})
	f.Add([]byte{0x92, 0x90, 0x81, 0xa1, 'x', 0x91, 0xc0})
}

// FuzzFrameReader feeds arbitrary bytes, as a guest could return them, to the
// frame decoder: it must return records or an ErrMalformed error, never
// panic or hang, and whatever it accepts must re-encode to a frame that
// decodes to the same records.
func FuzzFrameReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var r abi.FrameReader
		if err := r.Reset(b); err != nil {
			if !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("Reset: error %v does not wrap ErrMalformed", err)
			}
			return
		}
		var recs []abi.Record
		for {
			var rec abi.Record
			err := r.Next(&rec)
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, abi.ErrMalformed) {
					t.Fatalf("Next: error %v does not wrap ErrMalformed", err)
				}
				return
			}
			recs = append(recs, rec)
		}
		if err := r.Close(); err != nil {
			return
		}
		again := abi.AppendFrame(nil, recs)
		back, err := abi.DecodeFrame(again, nil)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if len(back) != len(recs) {
			t.Fatalf("round trip: %d records, want %d", len(back), len(recs))
		}
		for i := range recs {
			if !bytes.Equal(back[i].Value, recs[i].Value) || !bytes.Equal(back[i].Key, recs[i].Key) ||
				back[i].Timestamp != recs[i].Timestamp || back[i].Output != recs[i].Output {
				t.Fatalf("round trip changed record %d", i)
			}
		}
	})
}

// FuzzDecodeValue checks the init-config decoder on arbitrary bytes.
func FuzzDecodeValue(f *testing.F) {
	b, _ := abi.AppendInitConfig(nil, &abi.InitConfig{Pipeline: "p", Params: map[string]any{"a": []any{int64(1), "x", 2.5}}})
	f.Add(b)
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := abi.DecodeValue(b)
		if err != nil {
			if !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if _, err := abi.AppendValue(nil, v); err != nil {
			t.Fatalf("re-encoding a decoded value: %v", err)
		}
	})
}
