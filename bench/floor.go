package bench

import (
	"bytes"
	"context"
	"fmt"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
)

// FloorBatch is the number of records in each frame a FloorLoop hands the
// guest: the batch size of the end-to-end language rows.
const FloorBatch = 1000

// FloorLoop runs a language's uppercase module with no runtime around it
// (host.Floor): the batches the end-to-end rows push through the pipeline,
// encoded once as canonical frames and handed to the guest's process
// export in a plain loop. Its records/s are the floor an end-to-end figure
// is measured against.
type FloorLoop struct {
	floor *host.Floor
	frame []byte // FloorBatch records
	want  []byte // the value of every record, upper-cased
}

// NewFloorLoop instantiates the module at wasmPath, instrumented as the
// runtime loads it or as built, and checks that one batch comes back with
// every record upper-cased.
func NewFloorLoop(ctx context.Context, wasmPath string, instrumented bool) (*FloorLoop, error) {
	f, err := host.NewFloor(ctx, wasmPath, instrumented)
	if err != nil {
		return nil, err
	}
	value := lowerValue()
	recs := make([]abi.Record, FloorBatch)
	for i := range recs {
		recs[i].Value = value
	}
	l := &FloorLoop{floor: f, frame: abi.AppendFrame(nil, recs), want: bytes.ToUpper(value)}
	if err := l.verify(ctx); err != nil {
		f.Close(ctx)
		return nil, fmt.Errorf("%s: %w", wasmPath, err)
	}
	return l, nil
}

// lowerValue is the value of every record of the benchmarks: ValueSize
// lowercase letters, as Env.Run's source yields.
func lowerValue() []byte {
	value := make([]byte, ValueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	return value
}

// verify processes one batch and checks every record of the output.
func (l *FloorLoop) verify(ctx context.Context) error {
	out, err := l.floor.Process(ctx, l.frame)
	if err != nil {
		return err
	}
	recs, err := abi.DecodeFrame(out, nil)
	if err != nil {
		return err
	}
	if len(recs) != FloorBatch {
		return fmt.Errorf("the output has %d records, want %d", len(recs), FloorBatch)
	}
	for i := range recs {
		if !bytes.Equal(recs[i].Value, l.want) {
			return fmt.Errorf("record %d came back as %q, want %q", i, recs[i].Value, l.want)
		}
	}
	return nil
}

// Run processes n records (n/FloorBatch batches, rounded up) and returns
// how many went through. Each output's record count and first record are
// checked, which is all a caller of process must look at to use it.
func (l *FloorLoop) Run(ctx context.Context, n int) (int64, error) {
	var r abi.FrameReader
	var rec abi.Record
	var done int64
	for ; done < int64(n); done += FloorBatch {
		out, err := l.floor.Process(ctx, l.frame)
		if err != nil {
			return done, err
		}
		if err := r.Reset(out); err != nil {
			return done, err
		}
		if r.Remaining() != FloorBatch {
			return done, fmt.Errorf("the output has %d records, want %d", r.Remaining(), FloorBatch)
		}
		if err := r.Next(&rec); err != nil {
			return done, err
		}
		if !bytes.Equal(rec.Value, l.want) {
			return done, fmt.Errorf("the first record came back as %q, want %q", rec.Value, l.want)
		}
	}
	return done, nil
}

// Close releases the loop's runtime.
func (l *FloorLoop) Close(ctx context.Context) error { return l.floor.Close(ctx) }
