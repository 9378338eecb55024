package host

import (
	"context"
	"errors"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// The state imports (abi/SPEC.md, section 5). Each call works on the
// calling instance's transaction: what a call into the guest writes is
// applied only if the call succeeds. Key, name and value bytes are read in
// place from guest memory; a value is copied out only by a put.

var stateFuncs = map[string]hostFunc{
	abi.ImportStateGet:    {params: []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, results: []api.ValueType{i64}, fn: api.GoModuleFunc(stateGet)},
	abi.ImportStatePut:    {params: []api.ValueType{i32, i32, i32, i32, i32, i32, i32, i64}, results: []api.ValueType{i32}, fn: api.GoModuleFunc(statePut)},
	abi.ImportStateDelete: {params: []api.ValueType{i32, i32, i32, i32, i32}, results: []api.ValueType{i32}, fn: api.GoModuleFunc(stateDelete)},
	abi.ImportStateAdd:    {params: []api.ValueType{i32, i32, i32, i32, i32, i64, i32}, results: []api.ValueType{i32}, fn: api.GoModuleFunc(stateAdd)},
	abi.ImportStateAppend: {params: []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, results: []api.ValueType{i32}, fn: api.GoModuleFunc(stateAppend)},
	abi.ImportStateAddF64: {params: []api.ValueType{i32, i32, i32, i32, i32, api.ValueTypeF64, i32}, results: []api.ValueType{i32}, fn: api.GoModuleFunc(stateAddF64)},
}

func init() {
	for name, f := range stateFuncs {
		hostFuncs[name] = f
	}
}

// UsesState reports whether the module imports a state function, and so
// keeps keyed state.
func (i Info) UsesState() bool { return usesState(i) }

// usesState reports whether a module imports a state function.
func usesState(info Info) bool {
	for _, imp := range info.Imports {
		if _, ok := stateFuncs[imp.Name]; ok && imp.Module == abi.HostModule {
			return true
		}
	}
	return false
}

// stateArgs reads the (scope, key, name) every state call starts with. A
// failure sets the call's status in stack[0].
func stateArgs(ctx context.Context, mod api.Module, stack []uint64) (i *Instance, scope int, key, name []byte, ok bool) {
	i = callingInstance(ctx)
	fail := func(st int32, msg string) {
		if i != nil {
			i.lastError, i.hasError = msg, true
		}
		stack[0] = api.EncodeI32(st)
	}
	if i == nil || i.cfg.State == nil {
		fail(abi.StatusError, "state: this operator has no state store")
		return nil, 0, nil, nil, false
	}
	scope = int(api.DecodeI32(stack[0]))
	if scope != state.ScopeKey && scope != state.ScopeOperator {
		fail(abi.StatusBadScope, "state: scope must be 0 (key) or 1 (operator)")
		return nil, 0, nil, nil, false
	}
	mem := mod.Memory()
	key, ok1 := mem.Read(api.DecodeU32(stack[1]), api.DecodeU32(stack[2]))
	name, ok2 := mem.Read(api.DecodeU32(stack[3]), api.DecodeU32(stack[4]))
	if !ok1 || !ok2 {
		fail(abi.StatusError, "state: key or name lies outside guest memory")
		return nil, 0, nil, nil, false
	}
	return i, scope, key, name, true
}

// status turns a store error into a status, keeping its message for the
// guest to report.
func (i *Instance) status(err error) int32 {
	if err == nil {
		return abi.StatusOK
	}
	i.lastError, i.hasError = "state: "+err.Error(), true
	switch {
	case errors.Is(err, state.ErrTxnTooLarge):
		// The call's transaction is the host's budget for state: name it.
		i.lastError = "state: " + ErrBudget.Error() + ": state bytes written in one call (the pipeline's state.call_writes): " + err.Error()
		return abi.StatusTooLarge
	case errors.Is(err, state.ErrTooLarge):
		return abi.StatusTooLarge
	case errors.Is(err, state.ErrNotCounter), errors.Is(err, state.ErrCounterKind):
		return abi.StatusNotCounter
	case errors.Is(err, state.ErrNotOwned):
		// The guest set a record's key itself: with parallelism above 1 the
		// record was routed by the key it arrived with, to an instance that
		// does not hold the new key's state.
		i.lastError += " (the record was routed to this instance by the key it arrived with; to key records by a JSON field or a header, set key_by on the operator in the pipeline file instead of changing the key in the operator)"
	}
	return abi.StatusError
}

func stateGet(ctx context.Context, mod api.Module, stack []uint64) {
	i, scope, key, name, ok := stateArgs(ctx, mod, stack)
	if !ok {
		stack[0] = api.EncodeI64(int64(api.DecodeI32(stack[0])))
		return
	}
	val, found, err := i.cfg.State.Get(scope, key, name)
	switch {
	case err != nil:
		stack[0] = api.EncodeI64(int64(i.status(err)))
	case !found:
		stack[0] = api.EncodeI64(int64(abi.StatusNotFound))
	default:
		if uint32(len(val)) <= api.DecodeU32(stack[6]) && !mod.Memory().Write(api.DecodeU32(stack[5]), val) {
			stack[0] = api.EncodeI64(int64(i.status(errors.New("the value buffer lies outside guest memory"))))
			return
		}
		stack[0] = uint64(len(val))
	}
}

func statePut(ctx context.Context, mod api.Module, stack []uint64) {
	ttl := time.Duration(int64(stack[7])) * time.Millisecond
	stateWrite(ctx, mod, stack, func(t *state.Txn, scope int, key, name, val []byte) error {
		return t.Put(scope, key, name, val, ttl)
	})
}

// stateWrite runs a call that takes a value at stack[5:7].
func stateWrite(ctx context.Context, mod api.Module, stack []uint64, write func(t *state.Txn, scope int, key, name, val []byte) error) {
	i, scope, key, name, ok := stateArgs(ctx, mod, stack)
	if !ok {
		return
	}
	val, ok := mod.Memory().Read(api.DecodeU32(stack[5]), api.DecodeU32(stack[6]))
	if !ok {
		stack[0] = api.EncodeI32(i.status(errors.New("the value lies outside guest memory")))
		return
	}
	stack[0] = api.EncodeI32(i.status(write(i.cfg.State, scope, key, name, val)))
}

func stateDelete(ctx context.Context, mod api.Module, stack []uint64) {
	i, scope, key, name, ok := stateArgs(ctx, mod, stack)
	if !ok {
		return
	}
	stack[0] = api.EncodeI32(i.status(i.cfg.State.Delete(scope, key, name)))
}

func stateAdd(ctx context.Context, mod api.Module, stack []uint64) {
	i, scope, key, name, ok := stateArgs(ctx, mod, stack)
	if !ok {
		return
	}
	n, err := i.cfg.State.Add(scope, key, name, int64(stack[5]))
	if err == nil && !mod.Memory().WriteUint64Le(api.DecodeU32(stack[6]), uint64(n)) {
		err = errors.New("the result address lies outside guest memory")
	}
	stack[0] = api.EncodeI32(i.status(err))
}

func stateAppend(ctx context.Context, mod api.Module, stack []uint64) {
	stateWrite(ctx, mod, stack, (*state.Txn).Append)
}

// stateAddF64 is state_add for a float64 counter. A NaN or infinite delta,
// or a sum that overflows, is refused with -1 and writes nothing, so a
// float counter is always a finite number a query can show; an int
// counter (or a value that is no counter) answers -4. A result address
// outside guest memory answers -1 before anything is added.
func stateAddF64(ctx context.Context, mod api.Module, stack []uint64) {
	i, scope, key, name, ok := stateArgs(ctx, mod, stack)
	if !ok {
		return
	}
	out := api.DecodeU32(stack[6])
	if uint64(out)+8 > uint64(mod.Memory().Size()) {
		stack[0] = api.EncodeI32(i.status(errors.New("the result address lies outside guest memory")))
		return
	}
	n, err := i.cfg.State.AddFloat(scope, key, name, api.DecodeF64(stack[5]))
	if err == nil {
		mod.Memory().WriteFloat64Le(out, n)
	}
	stack[0] = api.EncodeI32(i.status(err))
}
