// Command lookup is a wasmstream operator that looks up each record's
// value through the async target its params name and emits
// "value=answer" when the answer arrives (or "value!error" when the
// lookup failed). It measures async I/O in bench/ (go run ./bench/harness
// -async) and shows the smallest use of Submit and OnResult.
//
// Params: target (the target's name, default "svc"), kind: http (GET
// /v/VALUE) or redis (GET k:VALUE), and count: when true, each answer
// also adds 1 to the keyed counter "count" of the record's value, which
// makes the pipeline keep state (the async crash test uses it).
//
// Build it from the repository root with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o examples/wasm/lookup/go/lookup.wasm ./examples/wasm/lookup/go
package main

import (
	"bytes"
	"fmt"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

var (
	target, kind = "svc", "http"
	count        bool
)

func init() {
	wasmstream.OnInit(func(cfg *wasmstream.Config) error {
		var err error
		if target, err = cfg.String("target", "svc"); err != nil {
			return err
		}
		if kind, err = cfg.String("kind", "http"); err != nil {
			return err
		}
		if count, err = cfg.Bool("count", false); err != nil {
			return err
		}
		if kind != "http" && kind != "redis" {
			return fmt.Errorf("kind %q: want http or redis", kind)
		}
		return nil
	})
	wasmstream.FlatMap(submit)
	wasmstream.OnResult(answer)
}

func submit(r wasmstream.Record, _ *wasmstream.Emitter) error {
	ctx := bytes.Clone(r.Value)
	req := wasmstream.HTTP(target, "GET", "/v/"+string(r.Value), ctx)
	if kind == "redis" {
		req = wasmstream.Redis(target, ctx, "GET", "k:"+string(r.Value))
	}
	_, err := wasmstream.Submit(req)
	return err
}

func answer(res *wasmstream.Result, e *wasmstream.Emitter) error {
	v := append(bytes.Clone(res.Context), '=')
	if res.Status != wasmstream.ResultOK {
		v[len(v)-1] = '!'
		v = append(v, res.Error...)
	} else {
		v = append(v, res.Body...)
		if count {
			if _, err := wasmstream.KeyState(res.Context).Add("count", 1); err != nil {
				return err
			}
		}
	}
	e.Emit(wasmstream.Record{Value: v})
	return nil
}

func main() {}
