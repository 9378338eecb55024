package wasmtest

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmstream/wasmstream/abi"
)

// guestRuntime returns a plain wazero runtime that can run an SDK guest:
// WASI, and the host functions a stateless guest imports (set_error, log,
// metric_add) as stubs; *lastErr holds the last message the guest set with
// set_error. The caller closes the runtime.
func guestRuntime(tb testing.TB, ctx context.Context) (wazero.Runtime, *string) {
	tb.Helper()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		tb.Fatal(err)
	}
	lastErr := new(string)
	hb := rt.NewHostModuleBuilder(abi.HostModule)
	hb.NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, ptr, n uint32) {
		msg, _ := m.Memory().Read(ptr, n)
		*lastErr = string(msg)
	}).Export(abi.ImportSetError)
	hb.NewFunctionBuilder().WithFunc(func(context.Context, api.Module, int32, uint32, uint32) {}).Export(abi.ImportLog)
	hb.NewFunctionBuilder().WithFunc(func(context.Context, api.Module, uint32, uint32, int64) {}).Export(abi.ImportMetricAdd)
	if _, err := hb.Instantiate(ctx); err != nil {
		tb.Fatal(err)
	}
	return rt, lastErr
}
