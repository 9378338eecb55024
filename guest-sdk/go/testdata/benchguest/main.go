// Command benchguest is an operator for the SDK's Wasm benchmarks
// (guest-sdk/go/internal/wasmtest): one handler shape per build tag, each over the
// records of the end-to-end uppercase benchmark.
package main

func main() {}
