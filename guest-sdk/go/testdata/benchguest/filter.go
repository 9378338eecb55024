//go:build filter

package main

import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"

// A Filter that keeps every record.
func init() {
	wasmstream.Filter(func(r wasmstream.Record) (bool, error) { return len(r.Value) > 0, nil })
}
