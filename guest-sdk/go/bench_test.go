package wasmstream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
)

// benchRecords returns n records with a 4-byte key, a size-byte value and a
// millisecond timestamp: the shape of the end-to-end uppercase benchmark.
func benchRecords(n, size int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			Key:       binary.BigEndian.AppendUint32(nil, uint32(i)),
			Value:     bytes.Repeat([]byte("abcdefghij"), size/10),
			Timestamp: 1700000000000 + int64(i),
		}
	}
	return recs
}

func upperMap(r Record) (Record, error) {
	for i, c := range r.Value {
		if 'a' <= c && c <= 'z' {
			r.Value[i] = c - ('a' - 'A')
		}
	}
	return r, nil
}

func upperInPlaceMap(r *Record) error {
	_, err := upperMap(*r)
	return err
}

// benchHandlers are the handler shapes the benchmarks and the allocation
// test run.
var benchHandlers = []struct {
	name     string
	register func()
}{
	{"Map", func() { Map(upperMap) }},
	{"MapInPlace", func() { MapInPlace(upperInPlaceMap) }},
	{"Filter", func() { Filter(func(r Record) (bool, error) { return r.Key[3]&1 == 0, nil }) }},
	{"FlatMap", func() { FlatMap(func(r Record, e *Emitter) error { e.Emit(r); return nil }) }},
	{"FlatMapNewValue", func() {
		FlatMap(func(r Record, e *Emitter) error { r.Value = r.Value[1:]; e.Emit(r); return nil })
	}},
	{"ProcessBatch", func() {
		var r Record
		ProcessBatch(func(b *Batch, e *Emitter) error {
			for b.Next(&r) {
				e.Emit(r)
			}
			return nil
		})
	}},
}

// BenchmarkRun measures the native test path, Run, over batches of 1000
// records of 100 bytes with an in-place upper-casing Map: it encodes the
// input, processes it exactly as the Wasm export does, and decodes the
// output into records the caller owns (two allocations per batch).
func BenchmarkRun(b *testing.B) {
	Reset()
	b.Cleanup(Reset)
	Map(upperMap)
	in := benchRecords(1000, 100)
	b.SetBytes(int64(len(in) * 100))
	b.ReportAllocs()
	for b.Loop() {
		out, err := Run(in)
		if err != nil || len(out) != len(in) {
			b.Fatalf("Run: %d records, %v", len(out), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(in)), "ns/record")
}

// BenchmarkProcess measures what a Wasm process call does between the host
// writing the input frame and reading the output frame — decode, handler,
// encode — for each handler shape, natively.
func BenchmarkProcess(b *testing.B) {
	frame := abi.AppendFrame(nil, benchRecords(1000, 100))
	for _, h := range benchHandlers {
		b.Run(h.name, func(b *testing.B) {
			Reset()
			b.Cleanup(Reset)
			h.register()
			b.SetBytes(1000 * 100)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := op.process(frame); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
		})
	}
}

// TestProcessAllocatesNothing holds the SDK to zero allocations per batch
// once its buffers have grown, for every handler shape, with and without
// headers.
func TestProcessAllocatesNothing(t *testing.T) {
	plain := benchRecords(100, 100)
	withHeaders := benchRecords(100, 100)
	for i := range withHeaders {
		withHeaders[i].Headers = []Header{{Name: "trace", Value: []byte("abc")}, {Name: "content-type", Value: []byte("text/plain")}}
	}
	for _, h := range benchHandlers {
		for name, recs := range map[string][]Record{"plain": plain, "headers": withHeaders} {
			t.Run(fmt.Sprintf("%s/%s", h.name, name), func(t *testing.T) {
				Reset()
				t.Cleanup(Reset)
				h.register()
				frame := abi.AppendFrame(nil, recs)
				if _, err := op.process(frame); err != nil { // grow the buffers
					t.Fatal(err)
				}
				allocs := testing.AllocsPerRun(20, func() {
					if _, err := op.process(frame); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Fatalf("%v allocations per batch, want 0", allocs)
				}
			})
		}
	}
}
