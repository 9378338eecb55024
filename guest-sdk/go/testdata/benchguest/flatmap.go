//go:build flatmap

package main

import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"

// A FlatMap that upper-cases in place and emits each record once.
func init() {
	wasmstream.FlatMap(func(r wasmstream.Record, e *wasmstream.Emitter) error {
		upper(r.Value)
		e.Emit(r)
		return nil
	})
}
