//go:build !filter && !filterhalf && !flatmap && !mapcopy && !identity && !inplace && !inplaceidentity

package main

import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"

// The default shape: an in-place Map that upper-cases byte by byte.
func init() {
	wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
		upper(r.Value)
		return r, nil
	})
}
