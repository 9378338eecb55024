//go:build wasip1

//lint:file-ignore U1000 reached from the //go:wasmexport functions, which staticcheck sees as unused

package wasmstream

import (
	"unsafe"

	"github.com/wasmstream/wasmstream/abi"
)

// The host functions of ABI version 1. The import module and names must
// equal abi.HostModule and abi.Import*; TestWasip1Build checks them.

//go:wasmimport wasmstream set_error
func importSetError(ptr unsafe.Pointer, n uint32)

//go:wasmimport wasmstream log
func importLog(level int32, ptr unsafe.Pointer, n uint32)

//go:wasmimport wasmstream metric_add
func importMetricAdd(namePtr unsafe.Pointer, nameLen uint32, delta int64)

func hostSetError(msg string) {
	importSetError(unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

func hostLog(level abi.LogLevel, msg string) {
	importLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

func hostMetricAdd(name string, delta int64) {
	importMetricAdd(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)), delta)
}

//go:wasmimport wasmstream state_get
func importStateGet(scope int32, keyPtr unsafe.Pointer, keyLen uint32, namePtr unsafe.Pointer, nameLen uint32, bufPtr unsafe.Pointer, bufCap uint32) int64

//go:wasmimport wasmstream state_put
func importStatePut(scope int32, keyPtr unsafe.Pointer, keyLen uint32, namePtr unsafe.Pointer, nameLen uint32, valPtr unsafe.Pointer, valLen uint32, ttlMS int64) int32

//go:wasmimport wasmstream state_delete
func importStateDelete(scope int32, keyPtr unsafe.Pointer, keyLen uint32, namePtr unsafe.Pointer, nameLen uint32) int32

//go:wasmimport wasmstream state_add
func importStateAdd(scope int32, keyPtr unsafe.Pointer, keyLen uint32, namePtr unsafe.Pointer, nameLen uint32, delta int64, out unsafe.Pointer) int32

//go:wasmimport wasmstream state_add_f64
func importStateAddF64(scope int32, keyPtr unsafe.Pointer, keyLen uint32, namePtr unsafe.Pointer, nameLen uint32, delta float64, out unsafe.Pointer) int32

//go:wasmimport wasmstream state_append
func importStateAppend(scope int32, keyPtr unsafe.Pointer, keyLen uint32, namePtr unsafe.Pointer, nameLen uint32, valPtr unsafe.Pointer, valLen uint32) int32

// stateBuf receives state_get values; it grows to the largest value read.
var stateBuf = make([]byte, 256)

func bptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
func sptr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

func hostStateGet(scope int32, key []byte, name string) ([]byte, bool, error) {
	for {
		n := importStateGet(scope, bptr(key), uint32(len(key)), sptr(name), uint32(len(name)), bptr(stateBuf), uint32(len(stateBuf)))
		switch {
		case n == stNotFound:
			return nil, false, nil
		case n < 0:
			return nil, false, stateErr("get", name, int32(n))
		case int(n) <= len(stateBuf):
			return stateBuf[:n], true, nil
		}
		stateBuf = make([]byte, n)
	}
}

func hostStatePut(scope int32, key []byte, name string, val []byte, ttlMS int64) int32 {
	return importStatePut(scope, bptr(key), uint32(len(key)), sptr(name), uint32(len(name)), bptr(val), uint32(len(val)), ttlMS)
}

func hostStateDelete(scope int32, key []byte, name string) int32 {
	return importStateDelete(scope, bptr(key), uint32(len(key)), sptr(name), uint32(len(name)))
}

var addOut int64

func hostStateAdd(scope int32, key []byte, name string, delta int64) (int64, int32) {
	st := importStateAdd(scope, bptr(key), uint32(len(key)), sptr(name), uint32(len(name)), delta, unsafe.Pointer(&addOut))
	return addOut, st
}

var addF64Out float64

func hostStateAddF64(scope int32, key []byte, name string, delta float64) (float64, int32) {
	st := importStateAddF64(scope, bptr(key), uint32(len(key)), sptr(name), uint32(len(name)), delta, unsafe.Pointer(&addF64Out))
	return addF64Out, st
}

func hostStateAppend(scope int32, key []byte, name string, val []byte) int32 {
	return importStateAppend(scope, bptr(key), uint32(len(key)), sptr(name), uint32(len(name)), bptr(val), uint32(len(val)))
}

//go:wasmimport wasmstream async_submit
func importAsyncSubmit(ptr unsafe.Pointer, n uint32) int64

func hostAsyncSubmit(req []byte) (int64, int32, string) {
	t := importAsyncSubmit(bptr(req), uint32(len(req)))
	if t < 0 {
		return 0, int32(t), submitRefusal(int32(t))
	}
	return t, abi.StatusOK, ""
}
