package abi_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
)

// batchRecords covers every field shape: nil and empty keys and values,
// timestamps of every width, headers with nil values and repeated names,
// outputs, and values past each bin width.
func batchRecords() []abi.Record {
	return []abi.Record{
		{},
		{Key: []byte{}, Value: []byte{}, Timestamp: -1},
		{Key: []byte("k"), Value: []byte("v"), Timestamp: 1700000000000},
		{Value: bytes.Repeat([]byte("x"), 300), Timestamp: 200,
			Headers: []abi.Header{{Name: "a", Value: []byte("1")}, {Name: "b"}, {Name: "a", Value: []byte{}}}},
		{Value: bytes.Repeat([]byte("y"), 70000), Timestamp: -40000, Output: "alerts"},
		{Key: []byte("z"), Timestamp: 30000, Headers: []abi.Header{{Name: strings.Repeat("n", 40), Value: []byte("v")}}},
	}
}

func TestBatchAppendMatchesAppendFrame(t *testing.T) {
	recs := batchRecords()
	var b abi.Batch
	for i := range recs {
		b.Append(&recs[i])
	}
	if b.Len() != len(recs) || !b.HasOutputs() {
		t.Fatalf("Len %d HasOutputs %v", b.Len(), b.HasOutputs())
	}
	size, kv := 0, 0
	for i := range recs {
		size += recs[i].Size()
		kv += len(recs[i].Key) + len(recs[i].Value)
	}
	if b.Size() != size || b.KeyValueBytes() != kv {
		t.Errorf("Size %d KeyValueBytes %d, want %d %d", b.Size(), b.KeyValueBytes(), size, kv)
	}
	got := b.AppendViews(nil)
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("views differ:\n got %+v\nwant %+v", got, recs)
	}
	// Frame drops outputs: a frame is an operator's input.
	stripped := make([]abi.Record, len(recs))
	copy(stripped, recs)
	for i := range stripped {
		stripped[i].Output = ""
	}
	if want := abi.AppendFrame(nil, stripped); !bytes.Equal(b.Frame(), want) {
		t.Fatalf("Frame differs from AppendFrame")
	}
	// Without outputs the frame is the batch's own buffer.
	var c abi.Batch
	for i := range stripped {
		c.Append(&stripped[i])
	}
	if want := abi.AppendFrame(nil, stripped); !bytes.Equal(c.Frame(), want) {
		t.Fatalf("Frame of a batch without outputs differs from AppendFrame")
	}
}

func TestBatchSetFrameCanonical(t *testing.T) {
	recs := batchRecords()
	frame := abi.AppendFrame(nil, recs)
	var b abi.Batch
	if err := b.SetFrame(frame, 1000); err != nil {
		t.Fatal(err)
	}
	if got := b.AppendViews(nil); !reflect.DeepEqual(got, recs) {
		t.Fatalf("views differ:\n got %+v\nwant %+v", got, recs)
	}
	// Copying records between batches keeps their bytes and names.
	var c abi.Batch
	for i := 0; i < b.Len(); i++ {
		c.AppendFrom(&b, i)
	}
	if got := c.AppendViews(nil); !reflect.DeepEqual(got, recs) {
		t.Fatalf("copied views differ")
	}
	if c.Size() != b.Size() || c.KeyValueBytes() != b.KeyValueBytes() {
		t.Errorf("copied sizes %d/%d, want %d/%d", c.Size(), c.KeyValueBytes(), b.Size(), b.KeyValueBytes())
	}
	// Reset reuses the buffers and forgets the records.
	b.Reset()
	if b.Len() != 0 || b.Size() != 0 || len(b.Frame()) != 6 {
		t.Fatalf("after Reset: Len %d Size %d frame %d bytes", b.Len(), b.Size(), len(b.Frame()))
	}
}

// TestBatchSetFrameAnyEncoding checks that a frame in widths and types a
// guest may use instead of the canonical ones is read like FrameReader
// reads it, and that Frame re-encodes it canonically.
func TestBatchSetFrameAnyEncoding(t *testing.T) {
	frames := map[string][]byte{
		// fixarray header, str key, bin16 value, int16 timestamp, empty header array.
		"wide fields": {0x91, 0x91, 0x94, 0xa1, 'k', 0xc5, 0, 2, 'h', 'i', 0xd1, 0x75, 0x30, 0x90},
		// output field present but empty, a reserved sixth field, a reserved frame element.
		"empty output and reserved": {0x92, 0x91, 0x96, 0xc0, 0xc4, 1, 'v', 0x01, 0xc0, 0xa0, 0xc3, 0x81, 0xa1, 'x', 0x01},
		// header name as bin8, header value as str.
		"header types": {0x91, 0xdc, 0, 1, 0x94, 0xc0, 0xc0, 0xcc, 5, 0x92, 0xc4, 1, 'n', 0xa1, 'v'},
		// int64 timestamp that fits in a fixint.
		"wide timestamp": {0x91, 0xdd, 0, 0, 0, 1, 0x94, 0xc0, 0xc0, 0xd3, 0, 0, 0, 0, 0, 0, 0, 7, 0xc0},
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			want, err := abi.DecodeFrame(frame, nil)
			if err != nil {
				t.Fatal(err)
			}
			var b abi.Batch
			if err := b.SetFrame(frame, 1000); err != nil {
				t.Fatal(err)
			}
			got := b.AppendViews(nil)
			if len(got) != len(want) {
				t.Fatalf("got %d records, want %d", len(got), len(want))
			}
			for i := range want {
				if len(want[i].Headers) == 0 {
					want[i].Headers = nil
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("views differ:\n got %+v\nwant %+v", got, want)
			}
			if !bytes.Equal(b.Frame(), abi.AppendFrame(nil, want)) {
				t.Fatalf("Frame is not the canonical encoding:\n got % x\nwant % x", b.Frame(), abi.AppendFrame(nil, want))
			}
		})
	}
}

func TestBatchSetFrameErrors(t *testing.T) {
	good := abi.AppendFrame(nil, batchRecords())
	for n := 0; n < len(good); n += 7 {
		frame := good[:n]
		_, want := abi.DecodeFrame(frame, nil)
		var b abi.Batch
		got := b.SetFrame(frame, 1000)
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Fatalf("truncated to %d bytes: SetFrame error %v, DecodeFrame error %v", n, got, want)
		}
		if b.Len() != 0 {
			t.Fatalf("a failed SetFrame left %d records", b.Len())
		}
	}
	var b abi.Batch
	err := b.SetFrame(good, 2)
	var le *abi.HeaderLimitError
	if !errors.As(err, &le) || le.Record != 4 || le.Records != 6 {
		t.Fatalf("SetFrame with a limit of 2 headers: %v", err)
	}
}

// FuzzBatchSetFrame checks that SetFrame accepts exactly what DecodeFrame
// accepts, with the same error, the same records and a canonical Frame.
func FuzzBatchSetFrame(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		want, werr := abi.DecodeFrame(frame, nil)
		var b abi.Batch
		gerr := b.SetFrame(frame, 1<<20)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("SetFrame error %v, DecodeFrame error %v", gerr, werr)
		}
		if werr != nil {
			return
		}
		got := b.AppendViews(nil)
		for i := range want {
			if len(want[i].Headers) == 0 {
				want[i].Headers = nil
			}
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("views differ:\n got %+v\nwant %+v", got, want)
		}
		for i := range want {
			want[i].Output = ""
		}
		if !bytes.Equal(b.Frame(), abi.AppendFrame(nil, want)) {
			t.Fatalf("Frame is not canonical")
		}
	})
}

// BenchmarkBatch measures the record path's per-batch costs on 1000
// records of 100 bytes: encoding a source's records (Append), taking a
// guest's output frame (SetFrame: copy and validate), indexing it, and
// building the Record views a sink is given, so that the cost of keeping
// the Record view for connectors is known (runtime/RATIONALE.md).
//
//	go test -run '^$' -bench Batch -count 5 ./abi
func BenchmarkBatch(b *testing.B) {
	recs := make([]abi.Record, 1000)
	for i := range recs {
		recs[i].Value = bytes.Repeat([]byte("a"), 100)
		recs[i].Timestamp = 1700000000000 + int64(i)
	}
	frame := abi.AppendFrame(nil, recs)
	var bt abi.Batch
	b.Run("append", func(b *testing.B) {
		for b.Loop() {
			bt.Reset()
			for i := range recs {
				bt.Append(&recs[i])
			}
		}
	})
	b.Run("setframe", func(b *testing.B) {
		for b.Loop() {
			if err := bt.SetFrame(frame, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("setframe+index", func(b *testing.B) {
		for b.Loop() {
			bt.SetFrame(frame, 0)
			bt.Key(0)
		}
	})
	views := make([]abi.Record, 0, 1000)
	b.Run("setframe+index+views", func(b *testing.B) {
		for b.Loop() {
			bt.SetFrame(frame, 0)
			views = bt.AppendViews(views[:0])
		}
	})
}

// likeBatch is a batch built by Append with every field shape and no
// outputs, and its frame.
func likeBatch() (*abi.Batch, []byte) {
	recs := batchRecords()
	var b abi.Batch
	for i := range recs {
		recs[i].Output = ""
		b.Append(&recs[i])
	}
	return &b, bytes.Clone(b.Frame())
}

// TestBatchSetFrameLike checks the shortcut for a guest that changed
// values in place: a frame differing from the input only inside values is
// taken without decoding; any other difference is refused, for SetFrame
// to validate.
func TestBatchSetFrameLike(t *testing.T) {
	like, frame := likeBatch()
	want := like.AppendViews(nil)
	changed := bytes.Clone(frame)
	for i := range want {
		if len(want[i].Value) > 0 {
			// Upper-case every value in place, as the uppercase guests do.
			off := bytes.Index(changed, want[i].Value)
			copy(changed[off:], bytes.ToUpper(want[i].Value))
		}
	}
	var out abi.Batch
	if !out.SetFrameLike(changed, like) {
		t.Fatal("a frame with only its values changed was refused")
	}
	dec, err := abi.DecodeFrame(changed, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range dec {
		if len(dec[i].Headers) == 0 {
			dec[i].Headers = nil
		}
	}
	if got := out.AppendViews(nil); !reflect.DeepEqual(got, dec) {
		t.Fatalf("views differ:\n got %+v\nwant %+v", got, dec)
	}
	if out.Size() != like.Size() || out.KeyValueBytes() != like.KeyValueBytes() || !bytes.Equal(out.Frame(), changed) {
		t.Fatal("the batch taken does not match the frame")
	}
	// A changed key, timestamp, header, length or count is refused.
	for _, at := range []int{2, 6, 7, 9, len(frame) - 1} {
		bad := bytes.Clone(frame)
		bad[at] ^= 1
		var b abi.Batch
		if b.SetFrameLike(bad, like) {
			t.Errorf("a frame with byte %d changed was taken as shaped like its input", at)
		}
	}
	var b abi.Batch
	if b.SetFrameLike(frame[:len(frame)-1], like) {
		t.Error("a shorter frame was taken")
	}
	// A batch from a guest's frame has no layout to compare with.
	var fromGuest abi.Batch
	if err := fromGuest.SetFrame(frame, 100); err != nil {
		t.Fatal(err)
	}
	fromGuest.Frame()
	if b.SetFrameLike(frame, &fromGuest) {
		t.Error("a batch without a layout was used as one")
	}
}

// FuzzBatchSetFrameLike checks that whatever SetFrameLike takes is a valid
// frame that decodes to the records it shows.
func FuzzBatchSetFrameLike(f *testing.F) {
	_, frame := likeBatch()
	f.Add(frame)
	f.Fuzz(func(t *testing.T, mutated []byte) {
		like, _ := likeBatch()
		var b abi.Batch
		if !b.SetFrameLike(mutated, like) {
			return
		}
		dec, err := abi.DecodeFrame(mutated, nil)
		if err != nil {
			t.Fatalf("taken, but it does not decode: %v", err)
		}
		for i := range dec {
			if len(dec[i].Headers) == 0 {
				dec[i].Headers = nil
			}
		}
		if got := b.AppendViews(nil); !reflect.DeepEqual(got, dec) {
			t.Fatalf("views differ from the decoded frame")
		}
	})
}

// BenchmarkBatchSetFrameLike measures taking a guest's output shaped like
// its input (1000 records of 100 bytes), against SetFrame on the same
// frame (BenchmarkBatch/setframe).
func BenchmarkBatchSetFrameLike(b *testing.B) {
	var like abi.Batch
	for i := range 1000 {
		like.Append(&abi.Record{Value: bytes.Repeat([]byte("a"), 100), Timestamp: 1700000000000 + int64(i)})
	}
	frame := bytes.Clone(like.Frame())
	var out abi.Batch
	for b.Loop() {
		if !out.SetFrameLike(frame, &like) {
			b.Fatal("refused")
		}
	}
}
