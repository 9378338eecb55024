// Command enrich is a wasmstream operator that enriches click records with
// the user they name, looked up in PostgreSQL through the pipeline's
// async target "users" without blocking the stream.
//
// A click is a JSON object with a "user" field (a number). For each click
// the operator submits the target's query "user_by_id" with that id,
// keeping the click as the request's context; when the result arrives it
// emits {"click": <the click>, "user": <the row, or null>}. A lookup that
// failed or timed out goes to the output "unenriched", with the reason in
// the header "enrich.error", so nothing is lost.
//
// Build it from the repository root with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o examples/wasm/enrich/go/enrich.wasm ./examples/wasm/enrich/go
package main

import (
	"encoding/json"
	"fmt"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

func init() {
	wasmstream.FlatMap(submit)
	wasmstream.OnResult(enrich)
}

type click struct {
	User json.Number `json:"user"`
}

// submit asks for the click's user; the click travels as the context.
func submit(r wasmstream.Record, _ *wasmstream.Emitter) error {
	var c click
	if err := json.Unmarshal(r.Value, &c); err != nil || c.User == "" {
		return fmt.Errorf("a click needs a numeric \"user\" field: %q", r.Value)
	}
	id, err := c.User.Int64()
	if err != nil {
		return fmt.Errorf("user %q is not an integer", c.User)
	}
	_, err = wasmstream.Submit(wasmstream.SQL("users", "user_by_id", r.Value, id))
	return err
}

// enrich joins a click with its user row.
func enrich(res *wasmstream.Result, e *wasmstream.Emitter) error {
	if res.Status != wasmstream.ResultOK {
		e.EmitTo("unenriched", wasmstream.Record{Value: res.Context,
			Headers: []wasmstream.Header{{Name: "enrich.error", Value: []byte(res.Error)}}})
		return nil
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(res.Body, &rows); err != nil {
		return fmt.Errorf("rows: %w", err)
	}
	user := json.RawMessage("null")
	if len(rows) > 0 {
		user = rows[0]
	}
	out, err := json.Marshal(struct {
		Click json.RawMessage `json:"click"`
		User  json.RawMessage `json:"user"`
	}{res.Context, user})
	if err != nil {
		return err
	}
	e.Emit(wasmstream.Record{Value: out})
	return nil
}

func main() {}
