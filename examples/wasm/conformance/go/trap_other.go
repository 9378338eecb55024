//go:build !wasip1

package main

import "github.com/wasmstream/wasmstream/abi"

// trap stands in for the Wasm trap in a native build, where
// runtime.Breakpoint would stop the test process: a panic, which the SDK
// turns into an error that wraps abi.ErrConformanceTrap.
func trap() { panic(abi.ErrConformanceTrap) }
