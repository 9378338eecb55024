package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// OperatorConfig is the "wasm" operator's configuration in pipeline files.
type OperatorConfig struct {
	runtime.OperatorSettings `yaml:",inline"`
	Module                   string           `yaml:"module" required:"true" path:"file" doc:"Path of the operator's .wasm module; a relative path is relative to the pipeline file's directory."`
	MemoryLimit              runtime.ByteSize `yaml:"memory_limit" default:"256MiB" doc:"Most linear memory one instance may grow to. A guest that asks for more fails its batch with a memory-limit error and is replaced."`
	Deadline                 time.Duration    `yaml:"deadline" default:"10s" doc:"Longest one call into the guest may run (one batch); more than 0. A guest past it is stopped, its batch fails, and the instance is replaced. With preemption: false it is not stopped: a call that returns past it fails its batch then (a late overrun) and the instance is replaced."`
	Preemption               bool             `yaml:"preemption" default:"true" doc:"Rewrite the module so that a call can be stopped at its deadline: fuel checks at loop headers and function entries, a call-depth and a table-size bound, the start function run under the deadline. false runs the module as built, at its uninstrumented speed, and is only for a trusted operator's own vetted module: nothing stops a call while it runs (the deadline is checked once it returns), so a guest in an endless loop hangs its pipeline and, since compiled code has no safe point, holds up the Go garbage collector's stop-the-world pauses and so the whole process; recursion is bounded only by wazero's stack limit and table growth not at all. memory_limit still applies. The pipeline logs a warning for each operator with preemption off when it starts."`
	MaxOutput                runtime.ByteSize `yaml:"max_output" default:"64MiB" doc:"Largest output frame one batch may produce."`
	MaxOutputRecords         int              `yaml:"max_output_records" default:"1000000" doc:"Most records one batch may produce, checked in the output frame's header before decoding. Over it the batch fails with a host budget error and the instance is replaced."`
	MaxOutputMemory          runtime.ByteSize `yaml:"max_output_memory" default:"256MiB" doc:"Most host memory one batch's decoded output may take: the frame plus about 100 bytes per record and 40 per header. Over it the batch fails with a host budget error."`
	MaxMetricNames           int              `yaml:"max_metric_names" default:"1000" doc:"Most distinct metric names the operator's instances may use. A call adding one more fails with a host budget error."`
	MaxMetricName            int              `yaml:"max_metric_name" default:"256" doc:"Longest metric name, in bytes. A call using a longer one fails with a host budget error."`
	MaxLogLines              int              `yaml:"max_log_lines" default:"1000" doc:"Most log calls and stdout/stderr lines one call may write. A call past it is stopped with a host budget error."`
	MaxLogBytes              runtime.ByteSize `yaml:"max_log_bytes" default:"1MiB" doc:"Most bytes of log messages and stdout/stderr lines one call may write (each line is cut to 1KiB when printed). A call past it is stopped with a host budget error."`
	Params                   map[string]any   `yaml:"params" doc:"Free-form settings passed to the guest's init (OnInit in the SDKs)."`
}

// Validate checks the config.
func (c *OperatorConfig) Validate() error {
	errs := []error{c.OperatorSettings.Validate()}
	if c.MemoryLimit < 64<<10 || c.MemoryLimit > 4<<30 {
		errs = append(errs, runtime.FieldErr("memory_limit", "must be between 64KiB and 4GiB"))
	}
	if c.MaxOutput < 1 || c.MaxOutput > 1<<31 {
		errs = append(errs, runtime.FieldErr("max_output", "must be between 1 byte and 2GiB"))
	}
	if c.Deadline <= 0 {
		errs = append(errs, runtime.FieldErr("deadline", "must be more than 0 (a call without a deadline could hold its batch and instance forever); for a slow operator, set a long one such as 10m"))
	}
	if c.MaxOutputRecords < 1 || c.MaxOutputRecords > abi.MaxRecords {
		errs = append(errs, runtime.FieldErr("max_output_records", "must be between 1 and %d", abi.MaxRecords))
	}
	for _, f := range []struct {
		name string
		v    runtime.ByteSize
	}{{"max_output_memory", c.MaxOutputMemory}, {"max_log_bytes", c.MaxLogBytes}} {
		if f.v < 1 || f.v > 1<<40 {
			errs = append(errs, runtime.FieldErr(f.name, "must be between 1 byte and 1TiB"))
		}
	}
	if c.MaxMetricNames < 1 {
		errs = append(errs, runtime.FieldErr("max_metric_names", "must be at least 1"))
	}
	if c.MaxMetricName < 1 || c.MaxMetricName > maxText {
		errs = append(errs, runtime.FieldErr("max_metric_name", "must be between 1 and %d", maxText))
	}
	if c.MaxLogLines < 1 {
		errs = append(errs, runtime.FieldErr("max_log_lines", "must be at least 1"))
	}
	return errors.Join(errs...)
}

// budget returns the config's host budget.
func (c *OperatorConfig) budget() Budget {
	return Budget{
		MetricNames: c.MaxMetricNames, MetricNameBytes: c.MaxMetricName,
		LogLines: c.MaxLogLines, LogBytes: uint64(c.MaxLogBytes),
		OutputRecords: c.MaxOutputRecords, OutputMemory: uint64(c.MaxOutputMemory),
	}
}

// Register adds the "wasm" operator, run by e, to r.
func Register(r *runtime.Registry, e *Engine) {
	runtime.AddOperator(r, "wasm", "Runs a WebAssembly operator module built with a wasmstream guest SDK.",
		func(c *OperatorConfig) (runtime.OperatorFactory, error) {
			m, err := e.Load(context.Background(), c.Module, WithPreemption(c.Preemption))
			if err != nil {
				// "module: PATH: cause" rather than "module: module PATH: cause".
				msg := err.Error()
				var me *ModuleError
				if errors.As(err, &me) && me.Module == c.Module {
					msg = fmt.Sprintf("%s: %v", c.Module, me.Err)
				}
				return nil, &runtime.FieldError{Field: "module", Msg: msg, Err: err}
			}
			return &operatorFactory{m: m, cfg: *c}, nil
		})
}

type operatorFactory struct {
	m       *Module
	cfg     OperatorConfig
	metrics counterSet
	names   metricNames // shared by the operator's instances
}

// New returns the operator's instance env.Instance. Instance 0 starts its
// Wasm instance now, so a module that cannot start fails the pipeline
// before any record is read; the others start theirs on their first batch,
// so a high parallelism costs memory only for the instances that get
// records.
func (f *operatorFactory) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	op := NewOperator(f.m, InstanceConfig{
		Pipeline: env.Pipeline, Operator: env.Operator, Instance: env.Instance,
		MemoryLimit: uint64(f.cfg.MemoryLimit), Deadline: f.cfg.Deadline, MaxOutput: uint32(f.cfg.MaxOutput),
		Budget: f.cfg.budget(),
		Init:   &abi.InitConfig{Pipeline: env.Pipeline, Operator: env.Operator, Instance: env.Instance, Outputs: env.Outputs, Params: f.cfg.Params},
		Logger: env.Logger, Metrics: &f.metrics,
	})
	op.cfg.metricNames = &f.names
	op.replaced = &f.metrics
	if env.State != nil {
		// Keyed writes only for the keys the router sends this instance.
		op.cfg.State = env.State.NewTxn(env.Operator, runtime.OwnedKeys(env.KeyGroups, env.Parallelism, env.Instance))
	}
	if env.Instance == 0 {
		if !f.m.Preemptive() && env.Logger != nil {
			env.Logger.Warn(fmt.Sprintf("operator %s runs with preemption: false: its deadline cannot stop a call, so a guest in an endless loop hangs the pipeline and holds up the garbage collector of the whole process", env.Operator),
				"operator", env.Operator, "module", f.m.Name())
		}
		if err := op.ensure(ctx); err != nil {
			return nil, err
		}
	}
	return op, nil
}

// Close releases the factory's module (see Module.Release).
func (f *operatorFactory) Close(ctx context.Context) error {
	f.m.Release(ctx)
	return nil
}

// Probe implements runtime.Prober: it runs the module's init with the
// operator's params in a throwaway instance and closes it. A module that
// uses state gets an empty throwaway store, removed afterwards, so init
// sees what it sees on a pipeline's first run and writes nothing the
// pipeline keeps.
func (f *operatorFactory) Probe(ctx context.Context, env runtime.OperatorEnv) error {
	var txn *state.Txn
	if f.Stateful() {
		dir, err := os.MkdirTemp("", "wasmstream-probe-")
		if err != nil {
			return fmt.Errorf("creating a throwaway state store: %w", err)
		}
		defer os.RemoveAll(dir)
		st, _, err := state.Open(state.Options{Dir: dir, Holder: "validate"})
		if err != nil {
			return fmt.Errorf("opening a throwaway state store: %w", err)
		}
		defer st.Close()
		txn = st.NewTxn(env.Operator, runtime.OwnedKeys(env.KeyGroups, env.Parallelism, env.Instance))
	}
	inst, err := f.m.Instantiate(ctx, InstanceConfig{
		State:    txn,
		Pipeline: env.Pipeline, Operator: env.Operator, Instance: env.Instance,
		MemoryLimit: uint64(f.cfg.MemoryLimit), Deadline: f.cfg.Deadline, MaxOutput: uint32(f.cfg.MaxOutput),
		Budget: f.cfg.budget(),
		Init:   &abi.InitConfig{Pipeline: env.Pipeline, Operator: env.Operator, Instance: env.Instance, Outputs: env.Outputs, Params: f.cfg.Params},
		Logger: env.Logger,
	})
	var me *ModuleError
	if errors.As(err, &me) {
		return err // the module did not start: not the params' fault
	}
	if err != nil {
		return &runtime.FieldError{Field: "params", Msg: fmt.Sprintf("init failed with these params: %v", err), Err: err}
	}
	return inst.Close(ctx)
}

// Stateful implements runtime.StatefulFactory: the module imports a state
// function.
func (f *operatorFactory) Stateful() bool { return usesState(f.m.Info()) }

// Metrics implements runtime.MetricsReporter: the counters guests add
// through metric_add, summed over the operator's instances, and
// "wasm.instances_started" and "wasm.instances_replaced".
func (f *operatorFactory) Metrics() map[string]int64 { return f.metrics.Snapshot() }

// Operator adapts a module to runtime.Operator: it runs batches on one
// instance and replaces the instance when a call breaks it. The broken
// instance is closed first and its linear memory reused by the
// replacement. Only the first instance's init writes state; a
// replacement's init runs with its state writes dropped, so replacing an
// instance never undoes what batches wrote since.
type Operator struct {
	module *Module
	cfg    InstanceConfig
	inst   *Instance
	// Started counts instances created; Replaced those discarded after a
	// failure.
	Started, Replaced int
	replaced          Metrics // also told of each start and replacement, when set
}

// NewOperator returns an Operator over m. It starts no instance until the
// first Process. Not safe for concurrent use.
func NewOperator(m *Module, cfg InstanceConfig) *Operator {
	cfg.pool = &memoryPool{}
	if cfg.metricNames == nil {
		cfg.metricNames = &metricNames{}
	}
	return &Operator{module: m, cfg: cfg}
}

func (o *Operator) ensure(ctx context.Context) error {
	if o.inst != nil && !o.inst.Broken() {
		return nil
	}
	if o.inst != nil {
		// Release the broken instance before its replacement grows.
		o.inst.Close(ctx)
		o.inst = nil
		o.Replaced++
		if o.replaced != nil {
			o.replaced.Add("wasm.instances_replaced", 1)
		}
	}
	cfg := o.cfg
	cfg.discardInitState = o.Started > 0
	inst, err := o.module.Instantiate(ctx, cfg)
	if err != nil {
		return fmt.Errorf("starting a new instance: %w", err)
	}
	o.inst = inst
	o.Started++
	if o.replaced != nil {
		o.replaced.Add("wasm.instances_started", 1)
	}
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

// ProcessBatch implements runtime.BatchProcessor: the runtime's path,
// which copies each batch once into the guest and its output once out.
func (o *Operator) ProcessBatch(ctx context.Context, in, out *abi.Batch) error {
	if err := o.ensure(ctx); err != nil {
		return err
	}
	return o.inst.ProcessBatch(ctx, in, out)
}

// Close implements runtime.Operator.
func (o *Operator) Close(ctx context.Context) error {
	o.cfg.pool.close()
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
