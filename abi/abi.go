// Package abi is the contract between the wasmstream host and guest operator
// modules: the names of the exports a guest provides and the imports the host
// provides, the status values they exchange, and the msgpack layout of record
// batches. SPEC.md beside this file is the normative text; this package is its
// executable form.
//
// The package depends only on the standard library and builds for
// GOOS=wasip1, so the Go guest SDK uses the very same codec as the host.
// Changes are additive: a breaking change becomes a new ABI version that lives
// beside the old one.
package abi

// Version is the ABI version this package describes. A guest declares the
// version it speaks by exporting ExportABIVersion; a host refuses a module
// whose version it does not list in its supported set.
const Version = 1

// Guest exports.
const (
	// ExportABIVersion is `() -> i32`: the ABI version the module speaks.
	// Required.
	ExportABIVersion = "wasmstream_abi_version"
	// ExportAlloc is `(len i32) -> i32`: a guest buffer of at least len bytes,
	// at any alignment but not at address 0, that the host writes the next
	// call's input into (SPEC.md, section 3). Required.
	ExportAlloc = "alloc"
	// ExportDealloc is `(ptr i32, len i32)`: returns a buffer obtained from
	// alloc that the host did not pass on. Optional.
	ExportDealloc = "dealloc"
	// ExportInit is `(ptr i32, len i32) -> i32`: the operator's configuration
	// as a msgpack map (see InitConfig). Returns StatusOK or StatusError.
	// Optional.
	ExportInit = "init"
	// ExportProcess is `(ptr i32, len i32) -> i64`: processes one input
	// frame and returns the packed location of the output frame (see Pack),
	// or ResultError. Required.
	ExportProcess = "process"
	// ExportMemory is the guest's linear memory. Required.
	ExportMemory = "memory"
	// ExportInitialize is the WASI reactor initialiser, run once after
	// instantiation when present (Go, C and Rust reactors export it).
	ExportInitialize = "_initialize"
	// ExportLanguage is an optional exported function `() -> i32` returning
	// one of the Language values, so tools can say what built a module.
	ExportLanguage = "wasmstream_language"
)

// HostModule is the import module name of the wasmstream host functions.
// The host also always provides WASI preview 1 ("wasi_snapshot_preview1").
const HostModule = "wasmstream"

// WASIModule is the WASI preview 1 import module name.
const WASIModule = "wasi_snapshot_preview1"

// Host imports implemented by ABI version 1 hosts.
const (
	// ImportSetError is `(ptr i32, len i32)`: records a UTF-8 error message
	// for the current call. The host copies the bytes before returning. A
	// call that then returns StatusError or ResultError fails with it.
	ImportSetError = "set_error"
	// ImportLog is `(level i32, ptr i32, len i32)`: writes a UTF-8 message to
	// the host log at a LogLevel.
	ImportLog = "log"
	// ImportMetricAdd is `(name_ptr i32, name_len i32, delta i64)`: adds
	// delta to the operator's named counter.
	ImportMetricAdd = "metric_add"
)

// Host imports reserved by ABI version 1 for later host releases. Their
// signatures and semantics are fixed in SPEC.md; a host that does not yet
// implement one refuses, at load time, a module that imports it, naming the
// import.
const (
	ImportStateGet    = "state_get"     // (scope, key_ptr, key_len, name_ptr, name_len, buf_ptr, buf_cap i32) -> i64
	ImportStatePut    = "state_put"     // (scope, key_ptr, key_len, name_ptr, name_len, val_ptr, val_len i32, ttl_ms i64) -> i32
	ImportStateDelete = "state_delete"  // (scope, key_ptr, key_len, name_ptr, name_len i32) -> i32
	ImportStateAdd    = "state_add"     // (scope, key_ptr, key_len, name_ptr, name_len i32, delta i64, out_ptr i32) -> i32
	ImportStateAppend = "state_append"  // (scope, key_ptr, key_len, name_ptr, name_len, val_ptr, val_len i32) -> i32
	ImportStateAddF64 = "state_add_f64" // (scope, key_ptr, key_len, name_ptr, name_len i32, delta f64, out_ptr i32) -> i32
	ImportAsyncSubmit = "async_submit"  // (req_ptr i32, req_len i32) -> i64
	ImportTimerSet    = "timer_set"     // (key_ptr i32, key_len i32, at_ms i64) -> i32
	ImportTimerDelete = "timer_delete"  // (key_ptr i32, key_len i32, at_ms i64) -> i32
)

// Status values returned by init and by the state imports.
const (
	StatusOK         int32 = 0
	StatusError      int32 = -1 // the call failed; see set_error
	StatusNotFound   int32 = -2 // a state lookup found nothing
	StatusTooLarge   int32 = -3 // a value or frame over a configured limit
	StatusNotCounter int32 = -4 // state_add or state_add_f64 on a value that is not a counter of its kind
	StatusBadScope   int32 = -5 // a state scope other than 0 (key) or 1 (operator)
	StatusCapacity   int32 = -6 // async_submit with async.capacity requests in flight
	StatusTimeout    int32 = -7 // an async result whose request timed out
)

// ResultError is the value process returns when it fails. Every other value
// is a packed (pointer, length) pair; see Pack.
const ResultError int64 = -1

// Pack returns the i64 that carries a guest buffer's pointer in its high 32
// bits and its length in its low 32 bits.
func Pack(ptr, length uint32) int64 { return int64(uint64(ptr)<<32 | uint64(length)) }

// Unpack is the inverse of Pack.
func Unpack(v int64) (ptr, length uint32) { return uint32(uint64(v) >> 32), uint32(uint64(v)) }

// LogLevel is the level argument of ImportLog.
type LogLevel int32

// Log levels, in increasing severity.
const (
	LogDebug LogLevel = 0
	LogInfo  LogLevel = 1
	LogWarn  LogLevel = 2
	LogError LogLevel = 3
)

// Language identifies the toolchain a guest SDK belongs to, as returned by
// the optional ExportLanguage function.
type Language int32

// Languages with a wasmstream guest SDK.
const (
	LanguageUnknown        Language = 0
	LanguageGo             Language = 1
	LanguageRust           Language = 2
	LanguageC              Language = 3
	LanguageAssemblyScript Language = 4
	LanguageZig            Language = 5
)

func (l Language) String() string {
	switch l {
	case LanguageGo:
		return "Go"
	case LanguageRust:
		return "Rust"
	case LanguageC:
		return "C"
	case LanguageAssemblyScript:
		return "AssemblyScript"
	case LanguageZig:
		return "Zig"
	}
	return "unknown"
}
