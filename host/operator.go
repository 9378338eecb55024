package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime"
)

// OperatorConfig is the "wasm" operator's configuration in pipeline files.
type OperatorConfig struct {
	runtime.OperatorSettings `yaml:",inline"`
	Module                   string           `yaml:"module" required:"true" doc:"Path of the operator's .wasm module, relative to the working directory."`
	MemoryLimit              runtime.ByteSize `yaml:"memory_limit" default:"256MiB" doc:"Most linear memory one instance may grow to. A guest that asks for more fails its batch with a memory-limit error and is replaced."`
	Deadline                 time.Duration    `yaml:"deadline" default:"10s" doc:"Longest one call into the guest may run (one batch). A guest past it is stopped, its batch fails, and the instance is replaced."`
	MaxOutput                runtime.ByteSize `yaml:"max_output" default:"64MiB" doc:"Largest output frame one batch may produce."`
	Params                   map[string]any   `yaml:"params" doc:"Free-form settings passed to the guest's init (OnInit in the SDKs)."`
}

// Validate checks the config.
func (c *OperatorConfig) Validate() error {
	var errs []error
	if c.MemoryLimit < 64<<10 || c.MemoryLimit > 4<<30 {
		errs = append(errs, runtime.FieldErr("memory_limit", "must be between 64KiB and 4GiB"))
	}
	if c.MaxOutput < 1 || c.MaxOutput > 1<<31 {
		errs = append(errs, runtime.FieldErr("max_output", "must be between 1 byte and 2GiB"))
	}
	return errors.Join(errs...)
}

// Register adds the "wasm" operator, run by e, to r.
func Register(r *runtime.Registry, e *Engine) {
	runtime.AddOperator(r, "wasm", "Runs a WebAssembly operator module built with a wasmstream guest SDK.",
		func(c *OperatorConfig) (runtime.OperatorFactory, error) {
			m, err := e.Load(context.Background(), c.Module)
			if err != nil {
				return nil, err
			}
			return &operatorFactory{m: m, cfg: *c}, nil
		})
}

type operatorFactory struct {
	m       *Module
	cfg     OperatorConfig
	metrics counterSet
}

func (f *operatorFactory) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	op := &Operator{module: f.m, cfg: InstanceConfig{
		Pipeline: env.Pipeline, Operator: env.Operator, Instance: env.Instance,
		MemoryLimit: uint64(f.cfg.MemoryLimit), Deadline: f.cfg.Deadline, MaxOutput: uint32(f.cfg.MaxOutput),
		Init:   &abi.InitConfig{Pipeline: env.Pipeline, Operator: env.Operator, Instance: env.Instance, Outputs: env.Outputs, Params: f.cfg.Params},
		Logger: env.Logger, Metrics: &f.metrics,
	}, replaced: &f.metrics}
	if env.State != nil {
		op.cfg.State = env.State.NewTxn(env.Operator)
	}
	// Start the first instance now so a module that cannot start fails the
	// pipeline before any record is read.
	if err := op.ensure(ctx); err != nil {
		return nil, err
	}
	return op, nil
}

func (f *operatorFactory) Close(ctx context.Context) error { return nil }

// Stateful implements runtime.StatefulFactory: the module imports a state
// function.
func (f *operatorFactory) Stateful() bool { return usesState(f.m.Info()) }

// Metrics implements runtime.MetricsReporter: the counters guests add
// through metric_add, summed over the operator's instances, and
// "wasm.instances_replaced".
func (f *operatorFactory) Metrics() map[string]int64 { return f.metrics.Snapshot() }

// Operator adapts a module to runtime.Operator: it runs batches on one
// instance and replaces the instance when a call breaks it.
type Operator struct {
	module *Module
	cfg    InstanceConfig
	inst   *Instance
	// Replaced counts instances discarded after a failure.
	Replaced int
	replaced Metrics // also told of each replacement, when set
}

// NewOperator returns an Operator over m. Not safe for concurrent use.
func NewOperator(m *Module, cfg InstanceConfig) *Operator { return &Operator{module: m, cfg: cfg} }

func (o *Operator) ensure(ctx context.Context) error {
	if o.inst != nil && !o.inst.Broken() {
		return nil
	}
	if o.inst != nil {
		o.inst.Close(ctx)
		o.inst = nil
		o.Replaced++
		if o.replaced != nil {
			o.replaced.Add("wasm.instances_replaced", 1)
		}
	}
	inst, err := o.module.Instantiate(ctx, o.cfg)
	if err != nil {
		return fmt.Errorf("starting a new instance: %w", err)
	}
	o.inst = inst
	return nil
}

// Process implements runtime.Operator.
func (o *Operator) Process(ctx context.Context, in, out []abi.Record) ([]abi.Record, error) {
	if err := o.ensure(ctx); err != nil {
		return nil, err
	}
	recs, err := o.inst.Process(ctx, in)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return recs, nil
	}
	return append(out, recs...), nil
}

// Close implements runtime.Operator.
func (o *Operator) Close(ctx context.Context) error {
	if o.inst == nil {
		return nil
	}
	err := o.inst.Close(ctx)
	o.inst = nil
	return err
}

// counterSet is a concurrency-safe Metrics.
type counterSet struct {
	mu sync.Mutex
	v  map[string]int64
}

func (c *counterSet) Add(name string, delta int64) {
	c.mu.Lock()
	if c.v == nil {
		c.v = map[string]int64{}
	}
	c.v[name] += delta
	c.mu.Unlock()
}

// Snapshot returns the counters.
func (c *counterSet) Snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.v))
	for k, v := range c.v {
		out[k] = v
	}
	return out
}
