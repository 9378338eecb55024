// Command router is a wasmstream operator that routes log lines: lines
// containing "ERROR" go unchanged to the output "alerts", lines containing
// "DEBUG" are dropped (unless the param drop_debug is false), and every other
// line goes to the default output with a "level" header taken from the line.
//
// Build it from the repository root with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o examples/wasm/router/router.wasm ./examples/wasm/router
//
// and run it with pipeline.yaml; README.md explains it.
package main

import (
	"bytes"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

// alertsOutput is the named output ERROR lines are routed to.
const alertsOutput = "alerts"

var (
	errorWord = []byte("ERROR")
	debugWord = []byte("DEBUG")
)

// dropDebug is the drop_debug param, set by configure.
var dropDebug = true

// headers is reused for every record's headers, so adding one allocates
// nothing: the Emitter copies a record as soon as it is emitted.
var headers []wasmstream.Header

func init() {
	wasmstream.OnInit(configure)
	wasmstream.FlatMap(route)
}

// configure reads the params: drop_debug (bool, default true).
func configure(cfg *wasmstream.Config) error {
	var err error
	if dropDebug, err = cfg.Bool("drop_debug", true); err != nil {
		return err
	}
	if !cfg.HasOutput(alertsOutput) {
		wasmstream.Log(wasmstream.LogWarn, "the pipeline connects no output named "+alertsOutput+": add outputs."+alertsOutput+" to keep ERROR lines")
	}
	return nil
}

func route(r wasmstream.Record, out *wasmstream.Emitter) error {
	switch {
	case bytes.Contains(r.Value, errorWord):
		out.EmitTo(alertsOutput, r)
		wasmstream.Count("alerts", 1)
	case dropDebug && bytes.Contains(r.Value, debugWord):
		wasmstream.Count("debug_dropped", 1)
	default:
		headers = append(headers[:0], r.Headers...)
		headers = append(headers, wasmstream.Header{Name: "level", Value: levelOf(r.Value)})
		r.Headers = headers
		out.Emit(r)
	}
	return nil
}

// levels are the level names levelOf recognises, as words of a line.
var levels = [][]byte{
	[]byte("FATAL"), []byte("ERROR"), []byte("WARN"), []byte("WARNING"),
	[]byte("NOTICE"), []byte("INFO"), []byte("DEBUG"), []byte("TRACE"),
}

var unknownLevel = []byte("UNKNOWN")

// levelOf returns the first word of line that names a level, without
// surrounding brackets or a trailing colon ("[WARN]", "INFO:"), or UNKNOWN.
// The result is one of the package's slices: it does not alias line.
func levelOf(line []byte) []byte {
	for len(line) > 0 {
		i := bytes.IndexByte(line, ' ')
		word := line
		if i >= 0 {
			word, line = line[:i], line[i+1:]
		} else {
			line = nil
		}
		word = bytes.Trim(word, "[]:")
		for _, l := range levels {
			if bytes.Equal(word, l) {
				return l
			}
		}
	}
	return unknownLevel
}

func main() {}
