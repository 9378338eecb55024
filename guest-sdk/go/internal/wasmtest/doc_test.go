// Package wasmtest runs Go SDK guests in a plain wazero runtime: tests and
// benchmarks of the SDK inside Wasm. It is a package of its own so that a
// module using the SDK never needs wazero, not even to tidy its go.mod.
package wasmtest
