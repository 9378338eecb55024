// Command uppercase is a wasmstream operator that upper-cases the ASCII
// letters of every record's value, in place: it copies and allocates nothing
// per record.
//
// Build it from the repository root with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o examples/wasm/uppercase/go/uppercase.wasm ./examples/wasm/uppercase/go
//
// and run it with pipeline.yaml.
package main

import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"

func init() {
	wasmstream.MapInPlace(upper)
}

// upper upper-cases r.Value's ASCII letters in place. The bytes belong to
// the input batch, which the handler may modify until it returns; leaving
// the record's slices as they were lets the SDK copy it to the output whole.
// MapInPlace hands it the SDK's own decoded record rather than a copy, so
// nothing is copied per record but the record's encoding itself, if that.
func upper(r *wasmstream.Record) error {
	upperASCII(r.Value)
	return nil
}

func main() {}
