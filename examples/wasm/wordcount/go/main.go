// Command wordcount is a keyed word count as a wasmstream operator, in two
// stages of one module (params.stage):
//
//   - split: each line becomes one record per word, keyed by the word
//     (lower-cased ASCII letters and digits; everything else separates
//     words), so the runtime routes each word to one instance of the next
//     operator;
//   - count: adds 1 to the word's "count" in keyed state, which the host
//     owns and checkpoints, and emits "word count" when params.emit is
//     true.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o wordcount.wasm .
package main

import (
	"fmt"
	"strconv"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

var (
	stage = "count"
	emit  = false
)

func init() {
	wasmstream.OnInit(func(c *wasmstream.Config) error {
		var err error
		if stage, err = c.String("stage", "count"); err != nil {
			return err
		}
		if stage != "split" && stage != "count" {
			return fmt.Errorf("params.stage must be split or count, not %q", stage)
		}
		emit, err = c.Bool("emit", false)
		return err
	})
	wasmstream.FlatMap(func(r wasmstream.Record, e *wasmstream.Emitter) error {
		if stage == "split" {
			return split(r.Value, e)
		}
		return count(r, e)
	})
}

// split emits a record per word, keyed by the word. Words are lower-cased in
// place: the record's bytes alias the input batch.
func split(line []byte, e *wasmstream.Emitter) error {
	start := -1
	for i := 0; i <= len(line); i++ {
		word := false
		if i < len(line) {
			c := line[i]
			if 'A' <= c && c <= 'Z' {
				line[i] = c + 32
				word = true
			} else {
				word = ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
			}
		}
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			w := line[start:i]
			e.Emit(wasmstream.Record{Key: w, Value: w})
			start = -1
		}
	}
	return nil
}

var buf []byte

func count(r wasmstream.Record, e *wasmstream.Emitter) error {
	n, err := wasmstream.StateOf(r).Add("count", 1)
	if err != nil || !emit {
		return err
	}
	buf = append(append(append(buf[:0], r.Key...), ' '), strconv.FormatInt(n, 10)...)
	e.Emit(wasmstream.Record{Key: r.Key, Value: buf})
	return nil
}

func main() {}
