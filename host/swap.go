package host

import (
	"context"
	"fmt"

	"github.com/wasmstream/wasmstream/runtime"
)

// Swap loads the module at path and swaps it in for the Wasm operator
// named operator of the running pipeline p, keeping the operator's other
// settings (params, limits, parallelism) and its keyed state (see
// runtime.Pipeline.Swap). The module is compiled, ABI-checked and its
// first instance initialised before anything changes; a module that fails
// any of these is refused with the pipeline untouched. The old module's
// compiled code is released once nothing uses it.
func Swap(ctx context.Context, p *runtime.Pipeline, e *Engine, operator, path string, opts runtime.SwapOptions) (runtime.SwapResult, error) {
	var cfg *OperatorConfig
	for _, c := range p.Spec().Operators {
		if c.Label == operator {
			oc, ok := c.Config.(*OperatorConfig)
			if !ok {
				return runtime.SwapResult{}, fmt.Errorf("swap: operator %q is not a wasm operator", operator)
			}
			cfg = oc
		}
	}
	if cfg == nil {
		return runtime.SwapResult{}, fmt.Errorf("swap: the pipeline has no operator %q", operator)
	}
	m, err := e.Load(ctx, path, WithPreemption(cfg.Preemption))
	if err != nil {
		return runtime.SwapResult{}, fmt.Errorf("swap %s: %w", operator, err)
	}
	next := *cfg
	next.Module = path
	f := &operatorFactory{m: m, cfg: next}
	return p.Swap(ctx, operator, f, opts) // p.Swap closes f, releasing m, when it is done with it
}
