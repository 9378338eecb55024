//go:build identity

package main

import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"

// A Map that returns every record as it is: the SDK's own cost per record.
func init() {
	wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil })
}
