//go:build filterhalf

package main

import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"

// A Filter that keeps every other record.
func init() {
	wasmstream.Filter(func(r wasmstream.Record) (bool, error) { return r.Value[0]&1 == 0, nil })
}
