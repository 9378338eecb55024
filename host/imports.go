package host

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmstream/wasmstream/abi"
)

type hostFunc struct {
	params, results []api.ValueType
	fn              api.GoModuleFunction
}

// hostFuncs are the "wasmstream" imports this host implements. They use
// wazero's stack-based calling convention: no reflection per call.
var hostFuncs = map[string]hostFunc{
	abi.ImportSetError:    {params: []api.ValueType{i32, i32}, fn: api.GoModuleFunc(setError)},
	abi.ImportLog:         {params: []api.ValueType{i32, i32, i32}, fn: api.GoModuleFunc(logMessage)},
	abi.ImportMetricAdd:   {params: []api.ValueType{i32, i32, i64}, fn: api.GoModuleFunc(metricAdd)},
	abi.ImportAsyncSubmit: {params: []api.ValueType{i32, i32}, results: []api.ValueType{i64}, fn: api.GoModuleFunc(asyncSubmit)},
}

// reserved lists the imports ABI version 1 reserves for later hosts.
var reserved = map[string]bool{
	abi.ImportTimerSet: true, abi.ImportTimerDelete: true,
}

func hostFuncNames() []string {
	names := make([]string, 0, len(hostFuncs))
	for n := range hostFuncs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.HostModule)
	for _, name := range hostFuncNames() {
		f := hostFuncs[name]
		b.NewFunctionBuilder().WithGoModuleFunction(f.fn, f.params, f.results).Export(name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiating the %s host module: %w", abi.HostModule, err)
	}
	y := rt.NewHostModuleBuilder(yieldModule)
	y.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(yield), nil, []api.ValueType{i32}).Export(yieldName)
	if _, err := y.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiating the %s host module: %w", yieldModule, err)
	}
	return nil
}

type instanceKey struct{}

// callingInstance returns the Instance making a host call; every call into a
// guest carries it in its context.
func callingInstance(ctx context.Context) *Instance {
	i, _ := ctx.Value(instanceKey{}).(*Instance)
	return i
}

// readText reads a message of n bytes at ptr from guest memory and makes it
// safe to print (guestText): only its first maxText bytes are copied, so a
// guest declaring a 4 GiB message costs the host at most that.
func readText(mod api.Module, ptr, n uint32) string {
	s, _ := readTextIn(mod, ptr, n)
	return s
}

// readTextIn is readText, also reporting whether the message lay inside
// guest memory.
func readTextIn(mod api.Module, ptr, n uint32) (string, bool) {
	mem := mod.Memory()
	if mem == nil || uint64(ptr)+uint64(n) > uint64(mem.Size()) {
		return fmt.Sprintf("(a message of %d bytes at %d lies outside guest memory)", n, ptr), false
	}
	b, _ := mem.Read(ptr, min(n, maxText))
	return guestText(b, int(n)), true
}

func setError(ctx context.Context, mod api.Module, stack []uint64) {
	if i := callingInstance(ctx); i != nil {
		i.lastError = readText(mod, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
		i.hasError = true
	}
}

func logMessage(ctx context.Context, mod api.Module, stack []uint64) {
	i := callingInstance(ctx)
	if i == nil {
		return
	}
	level := slog.LevelInfo
	switch abi.LogLevel(api.DecodeI32(stack[0])) {
	case abi.LogDebug:
		level = slog.LevelDebug
	case abi.LogWarn:
		level = slog.LevelWarn
	case abi.LogError:
		level = slog.LevelError
	}
	ptr, n := api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	msg, in := readTextIn(mod, ptr, n)
	if !in {
		n = uint32(len(msg)) // not a message of n bytes: only the notice is printed
	}
	i.chargeLog(int(n))
	i.logger.Log(ctx, level, msg)
}

func metricAdd(ctx context.Context, mod api.Module, stack []uint64) {
	i := callingInstance(ctx)
	if i == nil || i.cfg.Metrics == nil {
		return
	}
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	if n > uint32(i.budget.MetricNameBytes) {
		i.breakBudget(overCount("bytes in one metric name", i.budget.MetricNameBytes).with("a name of %d bytes", n))
	}
	raw, ok := mod.Memory().Read(ptr, n)
	if !ok {
		i.lastError, i.hasError = readText(mod, ptr, n), true
		return
	}
	if !i.metricNames.admit(raw, i.budget.MetricNames) {
		i.breakBudget(overCount("distinct metric names of the operator", i.budget.MetricNames).with("a new name \"%s\"", guestText(raw, len(raw))))
	}
	i.cfg.Metrics.Add(guestText(raw, len(raw)), int64(stack[2]))
}
