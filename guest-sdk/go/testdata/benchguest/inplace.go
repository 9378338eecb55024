//go:build inplace

package main

import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"

// The default shape as a MapInPlace: the record is upper-cased byte by byte
// where the SDK decoded it.
func init() {
	wasmstream.MapInPlace(func(r *wasmstream.Record) error {
		upper(r.Value)
		return nil
	})
}
