package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// Metrics receives the counters a guest adds through metric_add. It must be
// safe for concurrent use.
type Metrics interface {
	Add(name string, delta int64)
}

// InstanceConfig configures one instance.
type InstanceConfig struct {
	Pipeline string
	Operator string
	Instance int
	// MemoryLimit caps the guest's linear memory in bytes; 0 leaves the
	// module's own maximum (at most 4 GiB).
	MemoryLimit uint64
	// Deadline bounds each call into the guest; 0 means no deadline. A
	// module compiled without preemption (WithPreemption) cannot be stopped
	// while it runs: a call that returns past its deadline fails then, as
	// a late overrun, and breaks the instance.
	Deadline time.Duration
	// MaxOutput caps the size of one output frame; 0 means 64 MiB.
	MaxOutput uint32
	// Budget bounds the host memory the guest can spend outside its linear
	// memory; zero fields take DefaultBudget's.
	Budget Budget
	// Init is passed to the guest's init export, if it has one.
	Init *abi.InitConfig
	// Logger receives guest log calls and stdout/stderr lines. It is used
	// as given: it names the operator and the instance already (as the
	// runtime's does), and the host adds neither again. Nil takes the
	// engine's logger with "operator" and "instance" attributes.
	Logger *slog.Logger
	// Metrics receives metric_add calls; nil drops them.
	Metrics Metrics
	// State serves the state imports: each init or process call's writes
	// are committed when it succeeds and dropped when it fails. Nil for an
	// operator without state.
	State *state.Txn

	// Set by Operator: the metric names its instances share, the linear
	// memory a closed instance leaves to the next, and whether init's
	// state writes are dropped (for a replacement instance).
	metricNames      *metricNames
	pool             *memoryPool
	discardInitState bool
}

// Instance is one instantiated guest. Not safe for concurrent use. After a
// call returns a *GuestError whose Broken method reports true, the instance
// must be closed and replaced.
type Instance struct {
	m      *Module
	cfg    InstanceConfig
	mod    api.Module
	mem    api.Memory
	ctx    context.Context // carries the instance to host functions
	alloc  *limitedAllocator
	logger *slog.Logger

	budget      Budget
	spent       callBudget
	metricNames *metricNames

	abiVersion, allocFn, processFn, initFn api.Function
	stack                                  []uint64
	in                                     []byte

	lastError string
	hasError  bool
	broken    bool

	// async is the current call's async session (async.go), nil outside
	// calls of an operator that declares async targets.
	async      asyncSession
	asyncFrame []byte

	// started is when the current call began; yield (instrument.go)
	// ends a call that has run past the deadline and sets interrupted.
	started     time.Time
	interrupted bool
}

// Instantiate creates an instance and runs its init export with cfg.Init.
func (m *Module) Instantiate(ctx context.Context, cfg InstanceConfig) (*Instance, error) {
	i, err := m.instantiate(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if i.initFn != nil {
		init := cfg.Init
		if init == nil {
			init = &abi.InitConfig{Pipeline: cfg.Pipeline, Operator: cfg.Operator, Instance: cfg.Instance}
		}
		payload, err := abi.AppendInitConfig(nil, init)
		if err != nil {
			i.Close(ctx)
			return nil, fmt.Errorf("encoding init config: %w", err)
		}
		if err := i.callInit(ctx, payload); err != nil {
			i.Close(ctx)
			return nil, err
		}
	}
	return i, nil
}

func (m *Module) instantiate(ctx context.Context, cfg InstanceConfig) (*Instance, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = m.engine.logger.With("operator", cfg.Operator, "instance", cfg.Instance)
	}
	if cfg.MaxOutput == 0 {
		cfg.MaxOutput = 64 << 20
	}
	limit := cfg.MemoryLimit
	if limit == 0 || limit > 1<<32 {
		limit = 1 << 32
	}
	if min := uint64(m.info.MemoryMin) * 65536; min > limit {
		return nil, &ModuleError{Module: m.name, Err: fmt.Errorf("%w: the module needs %d bytes of memory at start, over its limit of %d",
			ErrMemoryLimit, min, limit)}
	}
	i := &Instance{m: m, cfg: cfg, alloc: &limitedAllocator{limit: limit, pool: cfg.pool}, logger: logger, stack: make([]uint64, 2),
		budget: cfg.Budget.withDefaults(), metricNames: cfg.metricNames}
	if i.metricNames == nil {
		i.metricNames = &metricNames{}
	}
	i.ctx = context.WithValue(context.WithoutCancel(ctx), instanceKey{}, i)
	out := &lineLogger{i: i, stream: "stdout"}
	errw := &lineLogger{i: i, stream: "stderr"}
	// Start functions run below, under the deadline. A module compiled
	// without preemption keeps its start section, which wazero runs
	// during InstantiateModule: its time is checked against the deadline
	// once it returns.
	mc := wazero.NewModuleConfig().WithName("").
		WithStartFunctions().
		WithStdout(out).WithStderr(errw).
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader)
	ictx := experimental.WithMemoryAllocator(i.ctx, i.alloc)
	i.begin()
	i.started = time.Now()
	mod, err := m.engine.rt.InstantiateModule(ictx, m.compiled, mc)
	if err != nil {
		return nil, &ModuleError{Module: m.name, Err: fmt.Errorf("instantiating: %w", i.classify(err))}
	}
	if late := i.lateOverrun(); late != nil {
		mod.Close(ctx)
		return nil, &ModuleError{Module: m.name, Err: fmt.Errorf("instantiating: the start function: %w", late)}
	}
	i.mod = mod
	i.mem = mod.Memory()
	i.abiVersion = mod.ExportedFunction(abi.ExportABIVersion)
	i.allocFn = mod.ExportedFunction(abi.ExportAlloc)
	i.processFn = mod.ExportedFunction(abi.ExportProcess)
	i.initFn = mod.ExportedFunction(abi.ExportInit)
	starts := []string{abi.ExportInitialize}
	if m.hasStart {
		// The rewrite moved the start section to this export.
		starts = []string{exportStart, abi.ExportInitialize}
	}
	for _, name := range starts {
		if fn := mod.ExportedFunction(name); fn != nil {
			if err := i.call(fn, name, nil); err != nil {
				i.Close(ctx)
				return nil, &ModuleError{Module: m.name, Err: fmt.Errorf("instantiating: %w", err)}
			}
		}
	}
	return i, nil
}

// Close releases the instance and its memory (to the operator's next
// instance, when an Operator created it). Safe to call more than once.
func (i *Instance) Close(ctx context.Context) error {
	if i.mod == nil {
		return nil
	}
	err := i.mod.Close(ctx)
	i.mod, i.mem, i.in = nil, nil, nil
	return err
}

// Broken reports whether a failed call left the instance unusable.
func (i *Instance) Broken() bool { return i.broken || i.mod == nil }

// begin starts one operation of the host on the guest (instantiating,
// init, a batch): its budgets and its record of a refused memory.grow
// start from zero.
func (i *Instance) begin() {
	i.spent = callBudget{}
	i.alloc.refused = 0
}

// call runs fn under the instance's deadline. Of a module compiled
// without preemption, nothing stops fn while it runs: a call that returns
// past the deadline fails afterwards (lateOverrun).
func (i *Instance) call(fn api.Function, name string, stack []uint64) error {
	if i.cfg.Deadline > 0 {
		i.started = time.Now()
	}
	i.hasError, i.interrupted = false, false
	if err := fn.CallWithStack(i.ctx, stack); err != nil {
		return i.fail(name, i.classify(err))
	}
	if late := i.lateOverrun(); late != nil {
		return i.fail(name, late)
	}
	return nil
}

// lateOverrun reports a call, begun at i.started, of a module compiled
// without preemption that returned past its deadline: the deadline could
// not stop it, but a guest that is merely slow still fails its batch (an
// ErrDeadline, so the instance is replaced). Nil for a module compiled
// with preemption, whose yield stops a call at the deadline.
func (i *Instance) lateOverrun() error {
	if i.m.preempt || i.cfg.Deadline <= 0 {
		return nil
	}
	d := time.Since(i.started)
	if d <= i.cfg.Deadline {
		return nil
	}
	return &kindError{ErrDeadline, fmt.Sprintf("late overrun: the call returned after %v, past the deadline of %v (preemption is off for this module, so the deadline could not stop the call while it ran)",
		d.Round(time.Millisecond), i.cfg.Deadline)}
}

// errDeadline ends a call from the yield host function.
var errDeadline = errors.New("deadline exceeded")

// yield is the host function instrument imports: a guest calls it each time
// its loops have used up fuelPerYield iterations. It returns the next
// allowance, or ends the call if it has run past its deadline. Being Go
// code, it is also where the scheduler can stop a long-running guest for
// the garbage collector.
func yield(ctx context.Context, _ api.Module, stack []uint64) {
	stack[0] = fuelPerYield
	i := callingInstance(ctx)
	if i != nil && i.cfg.Deadline > 0 && time.Since(i.started) > i.cfg.Deadline {
		i.interrupted = true
		panic(errDeadline)
	}
}

func (i *Instance) callI32(ctx context.Context, fn api.Function) (int32, error) {
	if err := i.call(fn, fn.Definition().Name(), i.stack); err != nil {
		return 0, err
	}
	return api.DecodeI32(i.stack[0]), nil
}

// kindError carries a classified failure until fail wraps it.
type kindError struct {
	kind   error
	detail string
}

func (e *kindError) Error() string { return e.kind.Error() + ": " + e.detail }
func (e *kindError) Unwrap() error { return e.kind }

// classify names the cause of a failed call. A memory.grow the allocator
// refused earlier in the same operation is the cause only of the failures
// that follow from it (the guest gives up with unreachable or exit, or
// writes past the memory it did not get); any other trap is reported as
// itself, with the refusal mentioned.
func (i *Instance) classify(err error) error {
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	msg := err.Error()
	if j := strings.Index(msg, "\nwasm stack trace:"); j >= 0 {
		msg = msg[:j]
	}
	if isExit {
		msg = fmt.Sprintf("exit code %d", exit.ExitCode())
	}
	switch {
	case i.spent.broken != nil:
		return &kindError{ErrBudget, i.spent.broken.detail()}
	case i.interrupted:
		return &kindError{ErrDeadline, fmt.Sprintf("stopped after %v", i.cfg.Deadline)}
	case i.alloc.refused > 0 && (isExit || strings.Contains(msg, "unreachable") || strings.Contains(msg, "out of bounds memory access")):
		return &kindError{ErrMemoryLimit, fmt.Sprintf("tried to grow memory to %d bytes; the limit is %d (then: %s)", i.alloc.refused, i.alloc.limit, msg)}
	case i.alloc.refused > 0:
		msg += fmt.Sprintf(" (earlier in the call, growing memory to %d bytes was refused; the limit is %d)", i.alloc.refused, i.alloc.limit)
	}
	if isExit {
		return &kindError{ErrExit, msg}
	}
	return &kindError{ErrTrap, msg}
}

// fail wraps a classified error into a *GuestError and marks the instance
// broken when the failure was not reported by the operator itself.
func (i *Instance) fail(fn string, err error) error {
	ge := &GuestError{Pipeline: i.cfg.Pipeline, Operator: i.cfg.Operator, Instance: i.cfg.Instance,
		Module: i.m.name + " (sha256:" + i.m.digest[:12] + ")", Function: fn, Kind: ErrTrap, Detail: err.Error()}
	var ke *kindError
	if errors.As(err, &ke) {
		ge.Kind, ge.Detail = ke.kind, ke.detail
	}
	if ge.Broken() {
		i.broken = true
	}
	return ge
}

// write copies b into a guest buffer obtained from alloc.
func (i *Instance) write(b []byte) (uint32, error) {
	i.stack[0] = api.EncodeU32(uint32(len(b)))
	if err := i.call(i.allocFn, abi.ExportAlloc, i.stack); err != nil {
		return 0, err
	}
	ptr := api.DecodeU32(i.stack[0])
	if ptr == 0 && len(b) > 0 {
		// alloc's null: the guest has no buffer (abi/SPEC.md, section 3).
		// Writing the input at address 0 would overwrite its data.
		return 0, i.fail(abi.ExportAlloc, i.allocFailed(len(b)))
	}
	if !i.mem.Write(ptr, b) {
		return 0, i.fail(abi.ExportAlloc, &kindError{ErrBadOutput,
			fmt.Sprintf("alloc(%d) returned %d, which lies outside guest memory (%d bytes)", len(b), ptr, i.mem.Size())})
	}
	return ptr, nil
}

// allocFailed describes an alloc that returned 0: a memory limit hit when
// the allocator refused to grow the guest's memory during the call, bad
// output otherwise.
func (i *Instance) allocFailed(n int) error {
	if i.alloc.refused > 0 {
		return &kindError{ErrMemoryLimit, fmt.Sprintf("alloc(%d) returned 0 after growing memory to %d bytes was refused; the limit is %d",
			n, i.alloc.refused, i.alloc.limit)}
	}
	return &kindError{ErrBadOutput, fmt.Sprintf("alloc(%d) returned 0: the guest has no buffer for the input", n)}
}

func (i *Instance) callInit(ctx context.Context, payload []byte) error {
	i.begin()
	ptr, err := i.write(payload)
	if err != nil {
		return err
	}
	i.beginState()
	i.stack[0], i.stack[1] = api.EncodeU32(ptr), api.EncodeU32(uint32(len(payload)))
	if err := i.call(i.initFn, abi.ExportInit, i.stack); err != nil {
		i.endState(false)
		return err
	}
	if st := api.DecodeI32(i.stack[0]); st != abi.StatusOK {
		i.endState(false)
		return i.fail(abi.ExportInit, &kindError{ErrOperator, i.guestMessage(fmt.Sprintf("init returned status %d", st))})
	}
	// A replacement instance's init must not undo what the batches since
	// the operator's first instance wrote: its writes are dropped.
	return i.endState(!i.cfg.discardInitState)
}

func (i *Instance) beginState() {
	if i.cfg.State != nil {
		i.cfg.State.Begin()
	}
}

// endState commits or drops the state a call wrote. A commit that fails
// (the store could not read a counter it adds to) fails the call: its
// effect on state is lost.
func (i *Instance) endState(ok bool) error {
	if i.cfg.State == nil {
		return nil
	}
	if !ok {
		i.cfg.State.Reset()
		return nil
	}
	if err := i.cfg.State.Commit(); err != nil {
		return fmt.Errorf("committing the state of pipeline %s, operator %s (instance %d): %w", i.cfg.Pipeline, i.cfg.Operator, i.cfg.Instance, err)
	}
	return nil
}

func (i *Instance) guestMessage(fallback string) string {
	if i.hasError && i.lastError != "" {
		return i.lastError
	}
	return fallback + " without setting an error message"
}

// Process runs one batch through the guest and returns its output records.
// The returned records and their bytes are newly allocated and owned by the
// caller. ctx is not used for cancellation: the instance's deadline bounds
// the call.
func (i *Instance) Process(ctx context.Context, in []abi.Record) ([]abi.Record, error) {
	if i.Broken() {
		return nil, errors.New("host: Process on a broken or closed instance")
	}
	i.begin()
	i.in = abi.AppendFrame(i.in[:0], in)
	if cap(i.in) > maxKeptInput {
		// Keep no huge buffer after a huge frame: steady-state memory
		// returns once the batch is done.
		defer func() { i.in = nil }()
	}
	i.beginState()
	out, err := i.processFrame(i.in)
	if err != nil {
		i.endState(false)
		return nil, err
	}
	recs, err := i.decodeOutput(out)
	if err != nil {
		i.endState(false)
		var be *budgetError
		if errors.As(err, &be) {
			return nil, i.fail(abi.ExportProcess, &kindError{ErrBudget, be.detail()})
		}
		return nil, i.fail(abi.ExportProcess, &kindError{ErrBadOutput, err.Error()})
	}
	if err := i.endState(true); err != nil {
		return nil, err
	}
	return recs, nil
}

// ProcessBatch runs in through the guest and sets out to its output: the
// runtime's path (runtime.BatchProcessor). The input frame is copied once
// into guest memory as it is, and the output frame once out of it into out,
// indexed and checked as Process checks it. ctx is not used for
// cancellation: the instance's deadline bounds the call.
func (i *Instance) ProcessBatch(ctx context.Context, in, out *abi.Batch) error {
	if i.Broken() {
		return errors.New("host: Process on a broken or closed instance")
	}
	i.begin()
	i.beginState()
	view, err := i.processView(in.Frame())
	if err != nil {
		i.endState(false)
		return err
	}
	// A guest that changed values in place returns a frame shaped like
	// its input: that is checked against the input without decoding it.
	if !out.SetFrameLike(view, in) {
		if err := i.indexOutput(view, out); err != nil {
			i.endState(false)
			return err
		}
	}
	return i.endState(true)
}

// indexOutput sets out to the output frame view (checked by checkOutput),
// stopping when headers would take the decoded records past OutputMemory.
func (i *Instance) indexOutput(view []byte, out *abi.Batch) error {
	var r abi.FrameReader
	n := 0
	if r.Reset(view) == nil {
		n = r.Remaining()
	}
	used := uint64(len(view)) + uint64(n)*recordOverhead
	maxHeaders := 0
	if used < i.budget.OutputMemory {
		maxHeaders = int(min((i.budget.OutputMemory-used)/headerOverhead, abi.MaxRecords*16))
	}
	err := out.SetFrame(view, maxHeaders)
	var le *abi.HeaderLimitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		return i.fail(abi.ExportProcess, &kindError{ErrBudget, overBytes("host memory of one call's output", i.budget.OutputMemory).with(
			"reached at record %d of %d, with its headers", le.Record, le.Records).detail()})
	default:
		return i.fail(abi.ExportProcess, &kindError{ErrBadOutput, err.Error()})
	}
}

// maxKeptInput is the largest input buffer an instance keeps between
// batches.
const maxKeptInput = 4 << 20

// ProcessFrame runs one encoded input frame and returns a copy of the
// guest's output frame, unchecked. Process decodes and checks it.
func (i *Instance) ProcessFrame(frame []byte) ([]byte, error) {
	i.begin()
	i.beginState()
	out, err := i.processFrame(frame)
	if cerr := i.endState(err == nil); cerr != nil {
		return nil, cerr
	}
	return out, err
}

func (i *Instance) processFrame(frame []byte) ([]byte, error) {
	view, err := i.processView(frame)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(view), nil
}

// processView runs frame and returns the guest's output frame, checked
// against the output budgets, as a view of guest memory valid until the
// next call into the guest.
func (i *Instance) processView(frame []byte) ([]byte, error) {
	ptr, err := i.write(frame)
	if err != nil {
		return nil, err
	}
	i.stack[0], i.stack[1] = api.EncodeU32(ptr), api.EncodeU32(uint32(len(frame)))
	if err := i.call(i.processFn, abi.ExportProcess, i.stack); err != nil {
		return nil, err
	}
	res := int64(i.stack[0])
	if res == abi.ResultError {
		return nil, i.fail(abi.ExportProcess, &kindError{ErrOperator, i.guestMessage("process failed")})
	}
	optr, olen := abi.Unpack(res)
	if olen > i.cfg.MaxOutput {
		return nil, i.fail(abi.ExportProcess, &kindError{ErrBadOutput,
			fmt.Sprintf("output frame of %d bytes exceeds the limit of %d", olen, i.cfg.MaxOutput)})
	}
	view, ok := i.mem.Read(optr, olen)
	if !ok {
		return nil, i.fail(abi.ExportProcess, &kindError{ErrBadOutput,
			fmt.Sprintf("output at %d+%d lies outside guest memory (%d bytes)", optr, olen, i.mem.Size())})
	}
	if be := i.checkOutput(view); be != nil {
		return nil, i.fail(abi.ExportProcess, &kindError{ErrBudget, be.detail()})
	}
	return view, nil
}

// lineLogger turns a guest's stdout or stderr into log lines, each made
// safe to print and counted against the call's log budget. Of a line
// longer than maxText it keeps the start and counts the rest.
type lineLogger struct {
	mu     sync.Mutex
	i      *Instance
	stream string
	buf    []byte // the start of the current line, at most maxText bytes
	n      int    // the current line's length
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	written := len(p)
	for len(p) > 0 {
		j := bytes.IndexByte(p, '\n')
		part := p
		if j >= 0 {
			part = p[:j]
		}
		if room := maxText - len(l.buf); room > 0 {
			l.buf = append(l.buf, part[:min(room, len(part))]...)
		}
		l.n += len(part)
		if j < 0 {
			break
		}
		l.flush()
		p = p[j+1:]
	}
	return written, nil
}

// flush logs the current line.
func (l *lineLogger) flush() {
	line, n := guestText(l.buf, l.n), l.n
	l.buf, l.n = l.buf[:0], 0
	l.i.chargeLog(n)
	l.i.logger.Info(line, "stream", l.stream)
}
