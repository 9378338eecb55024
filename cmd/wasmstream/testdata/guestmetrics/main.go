// Command guestmetrics is a test operator that passes records through and
// counts them with metric_add under two names: "records.seen" and one a
// label value must escape (a quote, a backslash and a newline).
package main

import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"

func init() {
	wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) {
		wasmstream.Count("records.seen", 1)
		wasmstream.Count("odd \"name\" \\\n", 2)
		return r, nil
	})
}

func main() {}
