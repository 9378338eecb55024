//go:build wasip1

//lint:file-ignore U1000 the host calls these through their //go:wasmexport names

package wasmstream

import (
	"errors"
	"unsafe"

	"github.com/wasmstream/wasmstream/abi"
)

// The exports of ABI version 1. Their names must equal the abi.Export*
// constants; TestWasip1Build checks them.

//go:wasmexport wasmstream_abi_version
func exportABIVersion() int32 { return abi.Version }

//go:wasmexport wasmstream_language
func exportLanguage() int32 { return int32(abi.LanguageGo) }

// exportAlloc returns the module's grow-only input buffer, at least n bytes
// long: after the first few calls it costs nothing. The pointer is never nil.
//
//go:wasmexport alloc
func exportAlloc(n uint32) unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(op.alloc(int(n))))
}

// exportDealloc does nothing: alloc's buffer is reused, never freed.
//
//go:wasmexport dealloc
func exportDealloc(ptr unsafe.Pointer, n uint32) {}

//go:wasmexport init
func exportInit(ptr unsafe.Pointer, n uint32) int32 {
	if err := op.init(unsafe.Slice((*byte)(ptr), n)); err != nil {
		fail(err)
		return abi.StatusError
	}
	return abi.StatusOK
}

//go:wasmexport process
func exportProcess(ptr unsafe.Pointer, n uint32) int64 {
	out, err := op.process(unsafe.Slice((*byte)(ptr), n))
	if err != nil {
		fail(err)
		return abi.ResultError
	}
	return abi.Pack(uint32(uintptr(unsafe.Pointer(unsafe.SliceData(out)))), uint32(len(out)))
}

// fail reports err to the host for the current call. A panic's stack goes to
// the host log, since the error message carries only the panic value.
func fail(err error) {
	if pe, ok := errors.AsType[*PanicError](err); ok {
		hostLog(abi.LogError, pe.Error()+"\n"+string(pe.Stack))
	}
	hostSetError(err.Error())
}
