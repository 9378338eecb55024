//go:build wasip1

package main

import "runtime"

// trap makes the module trap. The SDK recovers Go panics — nil dereferences
// and index errors included, which Go on Wasm checks explicitly — so a
// "trap" record has to leave Go's control: runtime.Breakpoint is the single
// Wasm instruction unreachable on GOARCH=wasm (UNDEF in runtime/asm_wasm.s).
func trap() { runtime.Breakpoint() }
