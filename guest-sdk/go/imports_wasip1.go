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
