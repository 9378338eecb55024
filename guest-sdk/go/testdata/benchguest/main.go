// Command benchguest is an operator for the SDK's Wasm benchmarks
// (inplace_bench_test.go): one handler shape per build tag, each over the
// records of the end-to-end uppercase benchmark.
package main

func main() {}
