package wasmstream

import (
	"errors"
	"fmt"

	"github.com/wasmstream/wasmstream/abi"
)

// Async I/O (abi/SPEC.md section 5.2): Submit sends a request to a target
// the pipeline file declares under the operator's async.targets, and the
// handler registered with OnResult receives its result in a later call,
// with the context the request carried. No call waits for a request.

// AsyncRequest is one request: its target, the context handed back with
// its result, and the fields of the target's kind.
type AsyncRequest = abi.AsyncRequest

// Result is one request's result. Status is 0 when the request completed
// (Code and Body hold the answer: an HTTP status and body, a Redis reply,
// SQL rows as JSON), or ResultError or ResultTimeout with Error saying why.
type Result = abi.AsyncResult

// Result statuses.
const (
	ResultOK      = abi.StatusOK
	ResultError   = abi.StatusError
	ResultTimeout = abi.StatusTimeout
)

// Ticket identifies a submitted request; its Result carries it.
type Ticket uint64

// ErrCapacity is returned by Submit when the instance already has
// async.capacity requests in flight. The host gives an instance at most as
// many records per call as it has room for, so an operator that submits
// one request per record never sees it.
var ErrCapacity = errors.New("wasmstream: async capacity full")

// SubmitError is Submit's error for a request the host refused.
type SubmitError struct {
	Status int32
	Msg    string
}

func (e *SubmitError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrCapacity) report a refusal for capacity.
func (e *SubmitError) Is(target error) bool {
	return target == ErrCapacity && e.Status == abi.StatusCapacity
}

var reqBuf []byte

// Submit sends req and returns its ticket. A refusal (a target the
// pipeline does not declare, a request it does not allow, capacity full) is
// a *SubmitError with the host's reason. Requests submitted by a call that
// then fails are dropped: the retried call submits them again.
func Submit(req *AsyncRequest) (Ticket, error) {
	if op.resultFn == nil {
		return 0, errors.New("wasmstream: Submit without an OnResult handler: register one in the operator's init function to receive the results")
	}
	b, err := abi.AppendAsyncRequest(reqBuf[:0], req)
	if err != nil {
		return 0, fmt.Errorf("wasmstream: encoding the async request: %w", err)
	}
	reqBuf = b
	t, status, msg := hostAsyncSubmit(b)
	if status != abi.StatusOK {
		return 0, &SubmitError{Status: status, Msg: msg}
	}
	return Ticket(t), nil
}

// HTTP returns a request to HTTP target target: method and path (with its
// query) appended to the target's url.
func HTTP(target, method, path string, context []byte) *AsyncRequest {
	return &AsyncRequest{Target: target, Method: method, Path: path, Context: context}
}

// Redis returns a request running one command on Redis target target.
func Redis(target string, context []byte, command ...string) *AsyncRequest {
	return &AsyncRequest{Target: target, Command: command, Context: context}
}

// SQL returns a request running the target's query named query with args.
func SQL(target, query string, context []byte, args ...any) *AsyncRequest {
	if args == nil {
		args = []any{}
	}
	return &AsyncRequest{Target: target, Query: query, Args: args, Context: context}
}

// RedisItems splits the body of a Redis array reply (MGET, HMGET,
// LRANGE...) into its elements; a nil element is a nil reply.
func RedisItems(body []byte) ([][]byte, error) {
	v, err := abi.DecodeValue(body)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("wasmstream: not an array reply")
	}
	out := make([][]byte, len(arr))
	for i, e := range arr {
		switch x := e.(type) {
		case nil:
		case []byte:
			out[i] = x
		case string:
			out[i] = []byte(x)
		default:
			return nil, fmt.Errorf("wasmstream: array reply element %d is %T", i, e)
		}
	}
	return out, nil
}

// OnResult registers fn to handle async results. It is called once per
// result, in the call that delivers it (after the call's records, if any,
// were handled by the operator's record handler), and emits records
// through e. Result and its bytes are valid only during the call. An error
// fails the call: its results are delivered again to the retry.
func OnResult(fn func(r *Result, e *Emitter) error) {
	switch {
	case op.regErr != nil:
	case fn == nil:
		op.regErr = errors.New("wasmstream: OnResult called with a nil function")
	case op.resultFn != nil:
		op.regErr = fmt.Errorf("%w: OnResult called twice; register one handler", ErrDuplicateHandler)
	default:
		op.resultFn = fn
	}
	op.registered()
}

// results hands the async results of frame to the OnResult handler.
func (o *operator) results(frame []byte, e *Emitter) error {
	if o.resultFn == nil {
		// The operator submits nothing (Submit needs OnResult), so the
		// host sends it no results: element 1 is skipped like any other.
		return nil
	}
	res, err := abi.DecodeResults(frame)
	if err != nil {
		return fmt.Errorf("decoding async results: %w", err)
	}
	e.in, e.last = nil, nil
	for i := range res {
		if err := o.resultFn(&res[i], e); err != nil {
			return err
		}
	}
	return nil
}

// submitRefusal describes a status async_submit returned. The host's own
// message (which names the target and the reason) is the call's error
// message if the call fails without setting one.
func submitRefusal(status int32) string {
	switch status {
	case abi.StatusTooLarge:
		return "wasmstream: async request refused: too large (async.max_request or async.max_context)"
	case abi.StatusCapacity:
		return "wasmstream: async request refused: capacity full (async.capacity requests in flight)"
	}
	return fmt.Sprintf("wasmstream: async request refused (status %d): an undeclared target, or a request its declaration does not allow", status)
}
