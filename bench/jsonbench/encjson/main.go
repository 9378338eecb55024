// Command encjson is the jsonfilter operator (examples/wasm/jsonfilter)
// written with encoding/json instead of the SDK's JSON reader: the way a Go
// operator parsed JSON before the SDK had one, measured by bench/jsonbench
// beside it.
package main

import (
	"encoding/json"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

func init() {
	wasmstream.FlatMap(func(r wasmstream.Record, out *wasmstream.Emitter) error {
		var v struct {
			Event string `json:"event"`
			User  struct {
				Name *string `json:"name"`
			} `json:"user"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			wasmstream.Count("invalid_json", 1)
			return nil
		}
		if v.Event != "click" {
			return nil
		}
		if v.User.Name != nil {
			r.Key = []byte(*v.User.Name)
		}
		out.Emit(r)
		return nil
	})
}

func main() {}
