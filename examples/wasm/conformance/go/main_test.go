package main

import (
	"errors"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
	"github.com/wasmstream/wasmstream/internal/vectors"
)

// nativeErrors recognises the native path's trap (a panic wrapping
// abi.ErrConformanceTrap) and the operator's errors.
var nativeErrors = vectors.Errors{
	Trap:   func(err error) bool { return errors.Is(err, abi.ErrConformanceTrap) },
	Failed: func(err error, msg string) bool { return err != nil && err.Error() == msg },
}

// TestConformanceVectors runs every golden vector through the operator
// natively, with the SDK's RunFrame: the output must equal the expected
// frame byte for byte, or the error the expected message. The host's
// conformance test runs the same vectors through the Wasm module.
func TestConformanceVectors(t *testing.T) {
	for _, v := range vectors.Load(t, vectors.Conformance) {
		t.Run(v.Name, func(t *testing.T) {
			got, err := wasmstream.RunFrame(v.In)
			v.Check(t, got, err, nativeErrors)
		})
	}
}

// TestStateConformanceVectors runs the state vectors natively, against the
// SDK's stand-in for the host's state, fresh for each vector.
func TestStateConformanceVectors(t *testing.T) {
	for _, v := range vectors.Load(t, vectors.State) {
		t.Run(v.Name, func(t *testing.T) {
			wasmstream.Reset() // keeps the handler init registered
			got, err := wasmstream.RunFrame(v.In)
			v.Check(t, got, err, nativeErrors)
		})
	}
}

// TestAsyncConformanceVectors runs the async vectors natively: the
// requests submitted (kept by the SDK's native stand-in) and the output.
func TestAsyncConformanceVectors(t *testing.T) {
	for _, v := range vectors.Load(t, vectors.Async) {
		t.Run(v.Name, func(t *testing.T) {
			wasmstream.Reset()
			got, err := wasmstream.RunFrame(v.In)
			v.Check(t, got, err, nativeErrors)
			v.CheckSubmits(t, wasmstream.LocalSubmitted())
		})
	}
}
