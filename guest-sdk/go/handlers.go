package wasmstream

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"unsafe"
)

// ErrNoHandler is returned by every init and process call of a module that
// registered no handler.
var ErrNoHandler = errors.New("wasmstream: no handler registered; call Map, MapInPlace, Filter, FlatMap or ProcessBatch from the operator's init function")

// ErrDuplicateHandler is wrapped by the error every init and process call
// returns after a module registered two handlers, or two OnInit hooks.
var ErrDuplicateHandler = errors.New("wasmstream: duplicate registration")

// PanicError is the error a panic inside a handler or OnInit hook becomes:
// the call fails with it instead of crashing the module.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack at the panic, for the host log
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value if it is an error, so errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Map registers fn as the operator's handler: each input record produces
// exactly the record fn returns. fn may modify the record's bytes in place
// and return it, which copies nothing; it may also return a record with new
// slices, or set Output to route it.
//
// Call Map, like the other registration functions, from an init function.
func Map(fn func(Record) (Record, error)) {
	if op.register(kindMap, fn == nil) {
		op.mapFn = fn
	}
	op.registered()
}

// MapInPlace registers fn as the operator's handler: each input record
// produces exactly one record, the one fn leaves in *r. fn may modify the
// bytes of r's key, value and header values in place, replace any of r's
// fields (new slices, another timestamp, other headers) or set r.Output to
// route it; it returns only an error.
//
// It encodes what Map would, but the record is not copied into and out of
// the handler: r points to a Record the SDK reuses for every record of the
// batch, decoded straight from the input by a loop written for the costs of
// Go's Wasm port. In a Go Wasm guest the SDK's own time for a 100-byte
// record falls from about 320 ns with Map to about 80 ns. Prefer it to Map
// for handlers that change records in place; Map is the plain form for
// handlers that build a new record.
//
// *r, and every slice it holds, is valid only until fn returns: fn must not
// keep r, and must not change the bytes after it returns (see Map). Slices
// fn puts into r are its own: the SDK encodes them before the next record
// and writes into none of them.
func MapInPlace(fn func(r *Record) error) {
	if op.register(kindMapInPlace, fn == nil) {
		op.mapInPlaceFn = fn
	}
	op.registered()
}

// Filter registers fn as the operator's handler: each input record is kept,
// with any in-place changes fn made to its bytes, when fn returns true, and
// dropped when it returns false.
func Filter(fn func(Record) (bool, error)) {
	if op.register(kindFilter, fn == nil) {
		op.filterFn = fn
	}
	op.registered()
}

// FlatMap registers fn as the operator's handler: fn is called once per
// input record and emits zero or more records through the Emitter, which is
// valid only during that call.
func FlatMap(fn func(Record, *Emitter) error) {
	if op.register(kindFlatMap, fn == nil) {
		op.flatMapFn = fn
	}
	op.registered()
}

// ProcessBatch registers fn as the operator's handler: fn is called once per
// input batch, reads the records with Batch.Next and emits any number of
// records. The Batch and the Emitter are valid only during that call.
func ProcessBatch(fn func(*Batch, *Emitter) error) {
	if op.register(kindBatch, fn == nil) {
		op.batchFn = fn
	}
	op.registered()
}

// OnInit registers fn to run once when the host initialises the operator
// instance, before the first batch, with the operator's configuration. An
// error from fn fails the instance's start and is shown by the host. fn may
// keep cfg. A module without an OnInit hook accepts any configuration.
func OnInit(fn func(cfg *Config) error) {
	switch {
	case op.regErr != nil:
	case fn == nil:
		op.regErr = errors.New("wasmstream: OnInit called with a nil function")
	case op.onInit != nil:
		op.regErr = fmt.Errorf("%w: OnInit called twice; register one hook", ErrDuplicateHandler)
	default:
		op.onInit = fn
	}
	op.registered()
}

type handlerKind uint8

const (
	kindNone handlerKind = iota
	kindMap
	kindMapInPlace
	kindFilter
	kindFlatMap
	kindBatch
)

func (k handlerKind) String() string {
	switch k {
	case kindMap:
		return "Map"
	case kindMapInPlace:
		return "MapInPlace"
	case kindFilter:
		return "Filter"
	case kindFlatMap:
		return "FlatMap"
	case kindBatch:
		return "ProcessBatch"
	}
	return "none"
}

// operator is the module's one operator: its registration and the buffers
// that are reused by every call.
type operator struct {
	registration
	// atInit is the registration as package initialisation (the init
	// functions) left it, which Reset restores.
	atInit registration

	busy bool // inside init or process: alloc must not hand out in

	in      []byte // grow-only input buffer handed to the host by alloc
	scratch []byte // grow-only buffer for re-entrant alloc calls
	out     []byte // grow-only output buffer holding the last output frame
	rec     Record // the record handed to per-record handlers
	// hdrs is the header array the MapInPlace loop decodes into, which it
	// gives back to rec whenever the handler replaced rec.Headers.
	hdrs  []Header
	batch Batch
	emit  Emitter

	runIn []byte // the native test path's input frame (local.go)
}

// registration is what the registration functions set.
type registration struct {
	kind         handlerKind
	mapFn        func(Record) (Record, error)
	mapInPlaceFn func(*Record) error
	filterFn     func(Record) (bool, error)
	flatMapFn    func(Record, *Emitter) error
	batchFn      func(*Batch, *Emitter) error
	resultFn     func(*Result, *Emitter) error
	onInit       func(*Config) error
	regErr       error // first registration mistake; fails every call
}

// registered keeps the registration made so far as the one Reset restores
// when it was made during package initialisation, in an init function (the
// runtime runs those inside its doInit functions).
func (o *operator) registered() {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "runtime.doInit") {
			o.atInit = o.registration
			return
		}
		if !more {
			return
		}
	}
}

// op is the module's operator. A Wasm module has one set of exports, so it
// has one operator.
var op operator

func (o *operator) register(k handlerKind, isNil bool) bool {
	switch {
	case o.regErr != nil:
	case isNil:
		o.regErr = fmt.Errorf("wasmstream: %s called with a nil function", k)
	case o.kind != kindNone:
		o.regErr = fmt.Errorf("%w: %s called after %s already registered the operator's handler; register exactly one", ErrDuplicateHandler, k, o.kind)
	default:
		o.kind = k
		return true
	}
	return false
}

func (o *operator) ready() error {
	if o.regErr != nil {
		return o.regErr
	}
	if o.kind == kindNone {
		return ErrNoHandler
	}
	return nil
}

// minAlloc is the smallest input buffer alloc hands out, so that even
// alloc(0) returns a valid, non-nil pointer.
const minAlloc = 64 << 10

// alloc returns a buffer of n bytes for the host to write into. Outside a
// call it is the grow-only input buffer, so repeated calls allocate nothing.
// Inside a call (the host calling alloc from a host import) it is a separate
// grow-only buffer, so the batch being processed is not overwritten.
func (o *operator) alloc(n int) []byte {
	buf := &o.in
	if o.busy {
		buf = &o.scratch
	}
	if cap(*buf) < n || cap(*buf) == 0 {
		*buf = make([]byte, max(n, 2*cap(*buf), minAlloc))
	}
	return (*buf)[:n:cap(*buf)]
}

// init decodes the host's init payload and runs the OnInit hook.
func (o *operator) init(payload []byte) error {
	cfg, err := decodeConfig(payload)
	if err != nil {
		return err
	}
	return o.initConfig(cfg)
}

func (o *operator) initConfig(cfg *Config) (err error) {
	if err := o.ready(); err != nil {
		return err
	}
	if o.onInit == nil {
		return nil
	}
	o.busy = true
	defer func() {
		o.busy = false
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return o.onInit(cfg)
}

// process runs the handler over one input frame, whose record bytes the
// handler may modify, and returns the output frame. The output lives in
// o.out, valid until the next call.
func (o *operator) process(frame []byte) (out []byte, err error) {
	if err := o.ready(); err != nil {
		return nil, err
	}
	b, e := &o.batch, &o.emit
	if err := b.reset(frame); err != nil {
		return nil, err
	}
	e.reset(o.out[:0])
	if o.kind != kindBatch {
		// A ProcessBatch handler decodes into records of its own and may
		// change them, so only per-record handlers have an original to
		// compare emitted records with.
		e.in, e.last = &b.r, &o.rec
	}
	o.busy = true
	defer func() {
		o.busy = false
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	// The per-record loops call the reader and writer directly rather than
	// through Batch.Next and Emitter.Emit: in a Wasm guest each call saved
	// is measurable. A decoding error stops the loop and finish reports it;
	// Map and Filter emit at most one record per input record, so they stay
	// within abi.MaxRecords without Emit's check.
	//
	// A record that Map or Filter passes on unchanged but for its bytes'
	// contents — an in-place Map, a Filter — is not copied at once: it
	// joins the run of such records since the last record encoded or
	// dropped, whose input bytes are copied to the output whole when the run
	// ends. When every record of a canonical frame is passed on, the output
	// is the input frame itself and nothing is copied at all.
	switch o.kind {
	case kindMap:
		fn, rd, rec := o.mapFn, &b.r, &o.rec
		run, runN := rd.off, 0
		for rd.next(rec) {
			r, err := fn(*rec)
			if err != nil {
				return nil, err
			}
			if rd.canonical && r.Timestamp == rec.Timestamp && r.Output == "" &&
				len(r.Key) == len(rec.Key) && unsafe.SliceData(r.Key) == unsafe.SliceData(rec.Key) &&
				len(r.Value) == len(rec.Value) && unsafe.SliceData(r.Value) == unsafe.SliceData(rec.Value) &&
				len(r.Headers) == len(rd.hdrs) && (len(rd.hdrs) == 0 || sameHeaders(r.Headers, rd.hdrs)) {
				runN++
				continue
			}
			e.w.appendRun(rd.src[run:rd.rawStart], runN)
			e.w.append(&r)
			run, runN = rd.off, 0
		}
		if out, ok := o.finishRun(run, runN); ok {
			return out, nil
		}
	case kindMapInPlace:
		if out, ok, err := o.mapInPlace(); err != nil || ok {
			return out, err
		}
	case kindFilter:
		fn, rd, rec := o.filterFn, &b.r, &o.rec
		run, runN := rd.off, 0
		for rd.next(rec) {
			keep, err := fn(*rec)
			if err != nil {
				return nil, err
			}
			// fn may have changed entries of the Headers array it shares
			// with rec; nothing else of rec.
			if keep && rd.canonical && (len(rd.hdrs) == 0 || sameHeaders(rec.Headers, rd.hdrs)) {
				runN++
				continue
			}
			e.w.appendRun(rd.src[run:rd.rawStart], runN)
			if keep {
				e.w.append(rec)
			}
			run, runN = rd.off, 0
		}
		if out, ok := o.finishRun(run, runN); ok {
			return out, nil
		}
	case kindFlatMap:
		fn := o.flatMapFn
		for b.r.next(&o.rec) {
			if err := fn(o.rec, e); err != nil {
				return nil, err
			}
		}
	case kindBatch:
		if err := o.batchFn(b, e); err != nil {
			return nil, err
		}
	}
	if err := b.finish(&o.rec); err != nil {
		return nil, err
	}
	if frame[0] != 0x91 {
		if err := o.results(frame, e); err != nil {
			return nil, err
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	o.out = e.w.bytes()
	return o.out, nil
}

// finishRun ends the Map or Filter loop of process, whose last run of
// unchanged records starts at byte run of the input and holds n records.
// When that run is the whole input frame, every record passed on as it
// was encoded, and the frame is exactly what writer would write for them
// (one element, an array 32 of records), finishRun checks the rest of the
// frame and returns the frame itself as the output, with ok true: the host
// copies the output out before it writes into the buffer again. Otherwise
// it appends the run to the output and returns ok false.
func (o *operator) finishRun(run, n int) (out []byte, ok bool) {
	rd := &o.batch.r
	if rd.err == nil && rd.left == 0 && n == rd.count && run == 6 && rd.src[0] == 0x91 && rd.src[1] == 0xdd {
		if err := rd.close(); err == nil {
			o.out = o.emit.w.buf[:0] // kept for the next call's output
			return rd.src, true
		}
		// close set rd.err, which finish reports.
		return nil, false
	}
	o.emit.w.appendRun(rd.src[run:rd.off], n)
	return nil, false
}
