// Command statebench is the state read benchmark's operator (bench/state.go)
// in Go, for comparison with the Rust and C ones: for each record, it makes
// params.reads (default 10) reads of counters of the record's key, named c0,
// c1, … up to params.counters (default 10). A counter it does not find it
// puts (value 1), so a first pass over the keys writes them and every later
// pass only reads. It emits nothing, and at the end of each batch adds to
// the operator counters reads, misses and sum (of the values read), which
// the benchmark checks.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o statebench.wasm .
package main

import (
	"encoding/binary"
	"fmt"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

var (
	names          = []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13", "c14", "c15"}
	reads          = 10
	counters       = 10
	one            = binary.LittleEndian.AppendUint64(nil, 1)
	errBadCounters = fmt.Errorf("params.reads must be at least 0 and params.counters between 1 and %d", len(names))
)

func init() {
	wasmstream.OnInit(func(c *wasmstream.Config) error {
		var err error
		if reads, err = c.Int("reads", 10); err != nil {
			return err
		}
		if counters, err = c.Int("counters", 10); err != nil {
			return err
		}
		if reads < 0 || counters < 1 || counters > len(names) {
			return errBadCounters
		}
		return nil
	})
	wasmstream.ProcessBatch(run)
}

func run(b *wasmstream.Batch, _ *wasmstream.Emitter) error {
	var n, misses, sum int64
	var r wasmstream.Record
	for b.Next(&r) {
		st := wasmstream.StateOf(r)
		for i := 0; i < reads; i++ {
			name := names[i%counters]
			v, ok, err := st.Get(name)
			switch {
			case err != nil:
				return err
			case !ok:
				if err := st.Put(name, one); err != nil {
					return err
				}
				misses++
			case len(v) == 8:
				sum += int64(binary.LittleEndian.Uint64(v))
			default:
				return fmt.Errorf("counter %s holds %d bytes", name, len(v))
			}
			n++
		}
	}
	if err := b.Err(); err != nil {
		return err
	}
	wasmstream.Count("reads", n)
	wasmstream.Count("misses", misses)
	wasmstream.Count("sum", sum)
	return nil
}

func main() {}
