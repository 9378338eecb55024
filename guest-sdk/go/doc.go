// Package wasmstream is the Go guest SDK for wasmstream: it turns a Go
// package into a wasmstream operator module and hides the ABI (package
// github.com/wasmstream/wasmstream/abi) entirely.
//
// An operator is a main package that registers exactly one handler —
// MapInPlace, Map, Filter, FlatMap or ProcessBatch — and optionally an
// OnInit hook, from its init function, and has an empty main:
//
//	package main
//
//	import wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
//
//	func init() {
//		wasmstream.MapInPlace(func(r *wasmstream.Record) error {
//			for i, c := range r.Value {
//				if 'a' <= c && c <= 'z' {
//					r.Value[i] = c - ('a' - 'A') // in place: no copy, no allocation
//				}
//			}
//			return nil
//		})
//	}
//
//	func main() {}
//
// MapInPlace and Map both produce one record per input record. A MapInPlace
// handler is given a pointer to the record the SDK decoded and changes it
// where it is; a Map handler is given a copy and returns the record to
// emit. They encode the same output, but in a Go Wasm guest, where a Record
// is copied through memory into and out of every call, MapInPlace is the
// faster by far (its loop is also written for the Wasm port's costs): use it
// for handlers that edit records, the common case, and Map where returning a
// new record reads better and the time does not matter.
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o op.wasm .
//
// The module's _initialize export runs the package init functions, so the
// handler is registered before the host's first call. Registration is global
// because a Wasm module has exactly one set of exports; a second
// registration, or none, makes every init and process call fail with an error
// that says so (see ErrDuplicateHandler and ErrNoHandler) rather than crash
// the module at load.
//
// # Bytes and lifetimes
//
// The host writes each batch of input records into one buffer inside the
// module, and the records handed to a handler alias it: no bytes are copied
// on the way in. A handler may modify a record's Key, Value and header
// values in place (an in-place upper-case allocates nothing), but must not
// keep them, or slices of them, after it returns: the next batch overwrites
// the buffer. Copy what must outlive the call (Record.Clone does).
//
// Output is encoded as it is produced: the record returned by a Map, left by
// a MapInPlace, kept by a Filter, or passed to Emitter.Emit is copied into
// the output frame before the call returns, so its bytes may be reused at
// once. The exception is a record that a Map, MapInPlace or Filter passes on
// with nothing changed but the contents of its key, value or header value
// bytes: its encoding in the input is copied later, in one piece with its
// neighbours, or, when every record of the batch passes on so, the input
// frame itself is the output and nothing is copied. This is why a record's
// bytes are valid only during the handler call it is passed to: such a
// handler must not change them after that call returns, even within the
// batch. The Record a MapInPlace handler points to is reused for the next
// record: it must not keep the pointer either.
//
// # Errors and panics
//
// A handler that returns an error fails the whole batch: the host receives
// err.Error() verbatim and no output. A panic in a handler or in the OnInit
// hook is recovered and fails the call with a *PanicError ("panic: ...");
// the module keeps running.
//
// # Testing without Wasm
//
// Everything except the Wasm exports and imports builds for the host
// platform too. Run, RunFrame and Init drive the registered handler through
// the very decode and encode code the Wasm exports use; on the host platform
// Log writes to the writer set by SetLogOutput (standard error by default)
// and Count adds to counters that Metrics returns. Native state has the
// host's semantics, a failed call's writes dropped included. Reset clears
// state, counters and what a test registered between tests, and keeps what
// an init function registered.
//
// # Concurrency
//
// A Wasm module instance is single-threaded and so is this package: nothing
// in it is safe for concurrent use. The host runs parallel instances, each
// with its own memory.
package wasmstream
