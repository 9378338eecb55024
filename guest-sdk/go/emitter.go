package wasmstream

import (
	"fmt"

	"github.com/wasmstream/wasmstream/abi"
)

// Emitter appends records to the output batch of the current call. It is
// valid only during the handler call it is passed to. Not safe for
// concurrent use.
type Emitter struct {
	w   writer
	err error

	// For per-record handlers, the input and the record being handled, as
	// decoded: Emit copies it whole when it is emitted unchanged.
	in   *reader
	last *Record
}

// Emit encodes r into the output batch at once; r and its bytes may be
// reused or modified as soon as Emit returns. A record whose Output is set
// goes to that named output, otherwise to the default output.
func (e *Emitter) Emit(r Record) {
	if e.w.len() >= abi.MaxRecords {
		if e.err == nil {
			e.err = fmt.Errorf("wasmstream: more than %d records emitted from one batch, the ABI's limit per frame; split the work across batches", abi.MaxRecords)
		}
		return
	}
	if e.in != nil && e.in.unchanged(e.last, &r) {
		e.w.appendRaw(e.in.raw())
		return
	}
	e.w.append(&r)
}

// EmitTo emits r to the named output; "" is the default output. It
// overrides r.Output.
func (e *Emitter) EmitTo(output string, r Record) {
	r.Output = output
	e.Emit(r)
}

// Len returns how many records have been emitted in the current call.
func (e *Emitter) Len() int { return e.w.len() }

func (e *Emitter) reset(dst []byte) {
	e.err, e.in, e.last = nil, nil, nil
	e.w.reset(dst)
}
