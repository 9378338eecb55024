//go:build mapcopy

package main

import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"

var buf []byte

// A Map that returns each record with a new value, which the SDK encodes.
func init() {
	wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
		buf = append(buf[:0], r.Value...)
		upper(buf)
		r.Value = buf
		return r, nil
	})
}
