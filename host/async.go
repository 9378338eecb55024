package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime"
)

// Async I/O (abi/SPEC.md section 5.2). The runtime owns the requests: the
// host hands async_submit's bytes to the call's session and writes the
// results the session delivers into the input frame as element 1.

// ProcessAsync implements runtime.AsyncProcessor: ProcessBatch with the
// call's async session.
func (o *Operator) ProcessAsync(ctx context.Context, in *abi.Batch, s runtime.AsyncSession, out *abi.Batch) error {
	if err := o.ensure(ctx); err != nil {
		return err
	}
	return o.inst.ProcessAsync(ctx, in, s, out)
}

// ProcessAsync is ProcessBatch with an async session: the guest's
// async_submit calls go to s, and s.Results() are written into the input
// frame as its element 1 (abi/SPEC.md section 5.2).
func (i *Instance) ProcessAsync(ctx context.Context, in *abi.Batch, s runtime.AsyncSession, out *abi.Batch) error {
	if i.Broken() {
		return errors.New("host: Process on a broken or closed instance")
	}
	i.async = s
	defer func() { i.async = nil }()
	results := s.Results()
	if len(results) == 0 {
		return i.ProcessBatch(ctx, in, out)
	}
	i.asyncFrame = abi.AppendFrameWithResults(i.asyncFrame[:0], in.Frame(), results)
	if cap(i.asyncFrame) > maxKeptInput {
		defer func() { i.asyncFrame = nil }()
	}
	i.begin()
	i.beginState()
	view, err := i.processView(i.asyncFrame)
	if err != nil {
		i.endState(false)
		return err
	}
	if err := i.indexOutput(view, out); err != nil {
		i.endState(false)
		return err
	}
	return i.endState(true)
}

// asyncSubmit is the async_submit import: (req_ptr, req_len) -> i64.
func asyncSubmit(ctx context.Context, mod api.Module, stack []uint64) {
	i := callingInstance(ctx)
	fail := func(status int32, msg string) {
		if i != nil {
			i.lastError, i.hasError = "async_submit: "+msg, true
		}
		stack[0] = api.EncodeI64(int64(status))
	}
	if i == nil || i.async == nil {
		fail(abi.StatusError, "the operator declares no async targets (async.targets in the pipeline file)")
		return
	}
	req, ok := mod.Memory().Read(api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if !ok {
		fail(abi.StatusError, fmt.Sprintf("the request at %d+%d lies outside guest memory", api.DecodeU32(stack[0]), api.DecodeU32(stack[1])))
		return
	}
	ticket, status, msg := i.async.Submit(req)
	if status != abi.StatusOK {
		fail(status, msg)
		return
	}
	stack[0] = api.EncodeI64(ticket)
}

// asyncSession is the type of Instance.async.
type asyncSession = runtime.AsyncSession
