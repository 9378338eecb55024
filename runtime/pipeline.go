package runtime

import (
	"context"
	"errors"
	"fmt"
	"github.com/wasmstream/wasmstream/runtime/state"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// ErrDrainTimeout is the cause when a stopping pipeline could not write its
// in-flight records within the shutdown timeout.
var ErrDrainTimeout = errors.New("in-flight records did not drain before the shutdown timeout")

// StageError is returned by Run when a component stopped the pipeline.
type StageError struct {
	Kind      Kind   // the failing component's kind
	Component string // its path in the pipeline file
	Name      string // an operator's name (its name: or a generated one)
	Err       error
}

func (e *StageError) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("%s %s (%s): %v", e.Kind, e.Name, e.Component, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Kind, e.Component, e.Err)
}

func (e *StageError) Unwrap() error { return e.Err }

// Option configures Build.
type Option func(*Pipeline)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(p *Pipeline) { p.log = l } }

// WithRateLimit caps the records per second the pipeline reads from its
// source (a token bucket holding one second's worth): a tenant's quota in
// serve mode. The reader waits before passing a Read's records on, so the
// source is slowed by backpressure, not made to drop anything. 0 is no
// limit.
func WithRateLimit(recordsPerSecond float64) Option {
	return func(p *Pipeline) { p.rate = recordsPerSecond }
}

// WithSource replaces the spec's source, for embedding and tests.
func WithSource(s Source) Option { return func(p *Pipeline) { p.source = s } }

// WithSink replaces the spec's default sink, for embedding and tests.
func WithSink(s Sink) Option { return func(p *Pipeline) { p.sink.sink = s } }

// WithOutput connects named output name to s, replacing the spec's sink
// for it if it has one, for embedding and tests.
func WithOutput(name string, s Sink) Option {
	return func(p *Pipeline) { p.outs[name] = &sinkStage{path: "outputs." + name, sink: s} }
}

// WithDeadLetter replaces the spec's dead-letter sink, for embedding and
// tests; without on_error.dead_letter in the spec it has no effect.
func WithDeadLetter(s Sink) Option {
	return func(p *Pipeline) { p.dlq = &sinkStage{path: "on_error.dead_letter", sink: s} }
}

// Pipeline is a built pipeline, ready to Run once.
type Pipeline struct {
	spec   *Spec
	log    *slog.Logger
	source Source
	ops    []*opStage
	sink   *sinkStage
	outs   map[string]*sinkStage
	dlq    *sinkStage
	stats  counters
	names  []string
	pool   *batchPool

	failOnce sync.Once
	failMu   sync.Mutex
	failErr  error // guarded by failMu: the drain timer may set it while Run ends
	hardStop context.CancelCauseFunc
	runCtx   context.Context // cancelled on a hard stop

	// Keyed state and checkpoints (checkpoint.go); store is nil when no
	// operator keeps state.
	stateful      bool
	store         *state.Store
	storeReady    chan struct{} // closed once store is open (or Run failed before)
	inflight      atomic.Int64  // source batches not yet acknowledged
	idle          chan struct{} // signalled when inflight drops to 0
	savepoints    chan savepointReq
	posWarnOnce   sync.Once
	fromSavepoint string

	// The connector contract (contract.go): checkpoint participants,
	// the split positions of the last checkpoint, acknowledgements held
	// until a checkpoint, connector metrics.
	parts      []participant
	splits     map[string][]byte
	deferAcks  bool
	deferMu    sync.Mutex
	deferred   []AckFunc
	readerDone chan struct{} // closed when the reader stops
	metricsMu  sync.Mutex
	metrics    map[string]*ConnectorMetrics
	// versionsMu guards versions: every operator version the pipeline
	// ran, closed when Run ends.
	versionsMu sync.Mutex
	versions   []*opVersion
	rate       float64 // WithRateLimit
	throttled  atomic.Int64
	tokens     float64   // the reader's bucket (ratelimit.go)
	bucketAt   time.Time // when tokens was last refilled
}

func (st *opStage) setFactory(f OperatorFactory) {
	st.facMu.Lock()
	st.factory = f
	st.facMu.Unlock()
}

func (st *opStage) getFactory() OperatorFactory {
	st.facMu.Lock()
	defer st.facMu.Unlock()
	return st.factory
}

type opStage struct {
	spec        *ComponentSpec
	facMu       sync.Mutex
	factory     OperatorFactory // guarded by facMu once Run started (a swap replaces it)
	parallelism int
	// The running version of the operator (swap.go), the envs its
	// instances were built with, and started, closed once Run built them.
	version     atomic.Pointer[opVersion]
	envs        []OperatorEnv
	started     chan struct{}
	inputs      []*queue
	unkeyedOnce sync.Once // the warning that unkeyed records meet one stateful instance
	keyBy       *keyer    // the operator's key_by, or nil
	async       *asyncStage
}

type sinkStage struct {
	path string
	sink Sink
	mu   sync.Mutex // serialises Write: the dead-letter sink has two writers
	in   *queue
	dead bool // the dead-letter sink
}

// Build creates the components of spec without doing I/O.
func Build(spec *Spec, opts ...Option) (*Pipeline, error) {
	p := &Pipeline{spec: spec, outs: map[string]*sinkStage{}, sink: &sinkStage{path: "sink"}}
	for _, o := range opts {
		o(p)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("pipeline", spec.Name)
	var errs []error
	if p.source == nil {
		if spec.Source == nil {
			errs = append(errs, errors.New("no source"))
		} else if s, err := spec.Source.comp.build(spec.Source.Config); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", spec.Source.Path, err))
		} else {
			p.source = s.(Source)
		}
	}
	buildSink := func(c *ComponentSpec) *sinkStage {
		s, err := c.comp.build(c.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Path, err))
			return &sinkStage{path: c.Path}
		}
		return &sinkStage{path: c.Path, sink: s.(Sink)}
	}
	if p.sink.sink == nil {
		if spec.Sink == nil {
			errs = append(errs, errors.New("no sink"))
		} else {
			p.sink = buildSink(spec.Sink)
		}
	}
	for name, c := range spec.Outputs {
		if p.outs[name] != nil {
			continue
		}
		p.outs[name] = buildSink(c)
	}
	switch {
	case spec.DeadLetter == nil:
		p.dlq = nil
	case p.dlq == nil:
		p.dlq = buildSink(spec.DeadLetter)
	}
	if p.dlq != nil {
		p.dlq.dead = true
	}
	for _, c := range spec.Operators {
		f, err := c.comp.build(c.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Path, err))
			continue
		}
		par := 1
		if oc, ok := c.Config.(operatorConfig); ok {
			par = oc.operatorSettings().Parallelism
		}
		st := &opStage{spec: c, factory: f.(OperatorFactory), parallelism: par, started: make(chan struct{})}
		if oc, ok := c.Config.(operatorConfig); ok {
			if k := newKeyer(oc.operatorSettings().KeyBy); k != nil {
				k.warn = func() {
					p.log.Warn("a record routed to the operator has no key where its key_by looks: it is unkeyed (later ones are counted, not logged)",
						"operator", c.Label, "key_by", k.String())
				}
				st.keyBy = k
			}
		}
		p.ops = append(p.ops, st)
		if sf, ok := f.(StatefulFactory); ok && sf.Stateful() {
			p.stateful = true
		}
		p.names = append(p.names, c.Label)
	}
	p.stats.ops = make([]opCounters, len(p.ops))
	poolBytes := int(spec.QueueMaxBytes)
	if poolBytes <= 0 {
		poolBytes = 64 << 20
	}
	p.pool = newBatchPool(poolBytes)
	p.storeReady = make(chan struct{})
	p.idle = make(chan struct{}, 1)
	p.savepoints = make(chan savepointReq)
	p.readerDone = make(chan struct{})
	p.metrics = map[string]*ConnectorMetrics{}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Stats returns a snapshot of the pipeline's counters. Safe to call
// concurrently with Run.
func (p *Pipeline) Stats() Stats {
	factories := make([]OperatorFactory, len(p.ops))
	for i, op := range p.ops {
		factories[i] = op.getFactory()
	}
	s := p.stats.snapshot(p.names, factories)
	for i, op := range p.ops {
		if op.keyBy != nil {
			s.Operators[i].Unkeyed = op.keyBy.unkeyed.Load()
		}
		if a := op.async; a != nil {
			c := &a.stats
			s.Operators[i].Async = &AsyncStats{Submitted: c.submitted.Load(), Completed: c.completed.Load(),
				Timeouts: c.timeouts.Load(), Errors: c.errors.Load(), Retries: c.retries.Load(), Refused: c.refused.Load(),
				CacheHits: c.cacheHits.Load(), Batches: c.batches.Load(), Batched: c.batched.Load(),
				InFlight: c.inflight.Load(), Latency: c.latency.snapshot()}
		}
	}
	s.StateCacheBytes, s.StateDiskBytes = p.stateBytes()
	s.Throttled = p.throttled.Load()
	p.metricsMu.Lock()
	paths := slices.Sorted(maps.Keys(p.metrics))
	for _, path := range paths {
		s.Connectors = p.metrics[path].snapshot(s.Connectors)
	}
	p.metricsMu.Unlock()
	return s
}

// Spec returns the pipeline's spec.
func (p *Pipeline) Spec() *Spec { return p.spec }

func (p *Pipeline) env(component string) Env {
	dir := filepath.Join(p.spec.DataDir, filepath.FromSlash(sanitizePath(component)))
	return Env{Pipeline: p.spec.Name, Component: component, DataDir: dir,
		Logger: p.log.With("component", component), BatchSize: p.spec.Batch.Size,
		Checkpointing: p.store != nil}
}

// connectorEnv is env for a source or sink: with its metrics and, from
// the checkpoint rec, the handle it prepared.
func (p *Pipeline) connectorEnv(component string, rec *checkpointRecord) Env {
	env := p.env(component)
	p.metricsMu.Lock()
	m := p.metrics[component]
	if m == nil {
		m = newConnectorMetrics(component)
		p.metrics[component] = m
	}
	p.metricsMu.Unlock()
	env.Metrics = m
	if pr, ok := rec.Prepared[component]; ok {
		env.Prepared = &pr
	}
	return env
}

// findParticipants lists the sinks, then the source, that take part in
// checkpoints.
// An OptionalParticipant that does not require checkpoints takes part
// only when the pipeline checkpoints for another reason.
func (p *Pipeline) findParticipants(sinks []*sinkStage) {
	required := p.stateful
	add := func(path string, c any) {
		cp, ok := c.(CheckpointParticipant)
		if !ok {
			return
		}
		if op, ok := c.(OptionalParticipant); !ok || op.RequiresCheckpoints() {
			required = true
		}
		p.parts = append(p.parts, participant{path: path, cp: cp})
	}
	for _, s := range sinks {
		add(s.path, s.sink)
	}
	add(p.sourcePath(), p.source)
	if !required {
		p.parts = nil
	}
}

func (p *Pipeline) sourcePath() string {
	if p.spec.Source != nil {
		return p.spec.Source.Path
	}
	return "source"
}

// logGuarantee logs the delivery guarantee a component states.
func (p *Pipeline) logGuarantee(component string, c any) {
	if g, ok := c.(GuaranteeReporter); ok {
		p.log.Info("delivery guarantee", "component", component, "guarantee", string(g.Guarantee()))
	}
}

func sanitizePath(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

// fail records the first fatal error and stops the pipeline hard.
func (p *Pipeline) fail(err error) {
	if se, ok := err.(*StageError); ok && se.Kind == KindOperator && se.Name == "" {
		for _, st := range p.ops {
			if st.spec.Path == se.Component {
				se.Name = st.spec.Label
			}
		}
	}
	p.failOnce.Do(func() {
		p.failMu.Lock()
		p.failErr = err
		p.failMu.Unlock()
		p.log.Error("pipeline stopping", "err", err)
		p.hardStop(err)
	})
}

// Run runs the pipeline until the source ends, ctx is cancelled, or a
// failure stops it. Cancelling ctx stops the source and drains in-flight
// records to the sinks for up to the spec's shutdown timeout. Run returns nil
// when everything read was written (or dead-lettered), a *StageError when a
// component stopped the pipeline, or an error wrapping ErrDrainTimeout.
// Records not written are never acknowledged, so a restart replays them.
func (p *Pipeline) Run(ctx context.Context) (err error) {
	if err := os.MkdirAll(p.spec.DataDir, 0o755); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	runCtx, hardStop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer hardStop(nil)
	p.hardStop, p.runCtx = hardStop, runCtx

	// The state store first (its checkpoint holds what participants
	// prepared), then sinks, then operators, then the source, so nothing is
	// read that cannot be written.
	sinks := p.allSinks()
	p.findParticipants(sinks)
	var position []byte
	var rec checkpointRecord
	if p.stateful || len(p.parts) > 0 {
		// No := here: the deferred Close must add its error to Run's
		// named result, not to a variable of this block.
		st, pos, oerr := p.openStore()
		if oerr != nil {
			close(p.storeReady)
			return &StageError{Kind: KindState, Component: "state", Err: oerr}
		}
		p.store = st
		defer func() {
			if cerr := st.Close(); cerr != nil {
				err = errors.Join(err, &StageError{Kind: KindState, Component: "state", Err: fmt.Errorf("closing: %w", cerr)})
			}
		}()
		if rec, oerr = decodeCheckpointRecord(pos); oerr != nil {
			close(p.storeReady)
			return &StageError{Kind: KindState, Component: "state", Err: oerr}
		}
		position, p.splits = rec.Source, rec.Splits
		if position == nil {
			position = []byte{} // no checkpoint yet, or no position in it: from the beginning
		}
		if p.splits == nil {
			p.splits = map[string][]byte{}
		}
		switch p.source.(type) {
		case SplitSource, PositionedSource:
		default:
			p.deferAcks = true
		}
	}
	close(p.storeReady)
	var opened []*sinkStage
	closeSinks := func() {
		for _, s := range opened {
			if cerr := s.sink.Close(context.WithoutCancel(ctx)); cerr != nil {
				err = errors.Join(err, &StageError{Kind: KindSink, Component: s.path, Err: fmt.Errorf("closing: %w", cerr)})
			}
		}
	}
	for _, s := range sinks {
		if err := s.sink.Open(ctx, p.connectorEnv(s.path, &rec)); err != nil {
			closeSinks()
			return &StageError{Kind: KindSink, Component: s.path, Err: fmt.Errorf("opening: %w", err)}
		}
		opened = append(opened, s)
		p.logGuarantee(s.path, s.sink)
		s.in = newQueue(p.spec.QueueDepth*max(1, len(p.ops)), int64(p.spec.QueueMaxBytes))
	}
	defer closeSinks()

	instances := make([][]Operator, len(p.ops))
	closeOps := func() {
		for i, insts := range instances {
			if p.ops[i].version.Load() != nil {
				continue // closed with the versions below
			}
			for _, op := range insts {
				if cerr := op.Close(context.WithoutCancel(ctx)); cerr != nil {
					p.log.Warn("closing operator", "operator", p.ops[i].spec.Label, "err", cerr)
				}
			}
			if cerr := p.ops[i].factory.Close(context.WithoutCancel(ctx)); cerr != nil {
				p.log.Warn("closing operator", "operator", p.ops[i].spec.Label, "err", cerr)
			}
		}
		p.versionsMu.Lock()
		versions := p.versions
		p.versionsMu.Unlock()
		for _, v := range versions {
			v.close()
		}
	}
	defer closeOps()
	outputs := p.outputNames()
	for _, st := range p.ops {
		if err := p.openAsync(ctx, st); err != nil {
			return &StageError{Kind: KindOperator, Component: st.spec.Path, Name: st.spec.Label, Err: err}
		}
		if st.async != nil {
			defer st.async.close(context.WithoutCancel(ctx), p)
		}
	}
	for i, st := range p.ops {
		st.inputs = make([]*queue, st.parallelism)
		for j := 0; j < st.parallelism; j++ {
			env := OperatorEnv{Env: p.env(st.spec.Label), Operator: st.spec.Label, Instance: j,
				Parallelism: st.parallelism, KeyGroups: p.spec.KeyGroups, Outputs: outputs, State: p.store}
			env.Logger = env.Logger.With("instance", j)
			op, err := st.factory.New(ctx, env)
			if err != nil {
				return &StageError{Kind: KindOperator, Component: st.spec.Path, Name: st.spec.Label, Err: fmt.Errorf("starting instance %d: %w", j, err)}
			}
			instances[i] = append(instances[i], op)
			if _, ok := op.(AsyncProcessor); st.async != nil && !ok {
				return &StageError{Kind: KindOperator, Component: st.spec.Path, Name: st.spec.Label, Err: fmt.Errorf("it declares async targets, but operator %s does not support async I/O", st.spec.Name)}
			}
			st.inputs[j] = newQueue(p.spec.QueueDepth, int64(p.spec.QueueMaxBytes))
			st.envs = append(st.envs, env)
		}
		v := newVersion(instances[i], st.factory)
		p.versionsMu.Lock()
		p.versions = append(p.versions, v)
		p.versionsMu.Unlock()
		st.version.Store(v)
		close(st.started)
	}

	srcEnv := p.connectorEnv("source", &rec)
	if pr, ok := rec.Prepared[p.sourcePath()]; ok {
		srcEnv.Prepared = &pr
	}
	if p.store != nil {
		srcEnv.Position = position
		if _, ok := p.source.(SplitSource); ok {
			srcEnv.Splits = maps.Clone(p.splits)
		}
	}
	srcEnv.Checkpoint = p.requestCheckpoint
	if err := p.source.Open(ctx, srcEnv); err != nil {
		return &StageError{Kind: KindSource, Component: p.spec.Source.Path, Err: fmt.Errorf("opening: %w", err)}
	}
	p.logGuarantee(p.sourcePath(), p.source)
	defer func() {
		// Acknowledgements no checkpoint covered: the records are
		// redelivered.
		p.releaseDeferred(errors.New("the pipeline stopped before a checkpoint covered the records"))
		if cerr := p.source.Close(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, &StageError{Kind: KindSource, Component: p.spec.Source.Path, Err: fmt.Errorf("closing: %w", cerr)})
		}
	}()

	// The source stops on ctx (graceful) or on a hard stop.
	srcCtx, stopSource := context.WithCancel(runCtx)
	defer stopSource()
	// The drain timer runs until Run has given up what was left, and Run
	// waits for it to end before reading the failure it may have set.
	drainDone, drainEnded := make(chan struct{}), make(chan struct{})
	stopDrain := sync.OnceFunc(func() {
		close(drainDone)
		<-drainEnded
	})
	defer stopDrain()
	go func() {
		defer close(drainEnded)
		select {
		case <-ctx.Done():
		case <-drainDone:
			return
		}
		p.log.Info("stopping: draining in-flight records", "timeout", p.spec.Shutdown)
		stopSource()
		t := time.NewTimer(p.spec.Shutdown)
		defer t.Stop()
		select {
		case <-t.C:
			p.fail(ErrDrainTimeout)
		case <-drainDone:
		}
	}()

	var srcErr error
	readCh := make(chan readResult, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		srcErr = p.read(srcCtx, runCtx, readCh)
	}()
	first := p.firstTargets()
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.batchRecords(runCtx, readCh, first)
	}()

	// Operators: stage i closes stage i+1's inputs when all its instances end.
	for i, st := range p.ops {
		var stageWG sync.WaitGroup
		for j := range instances[i] {
			stageWG.Add(1)
			w := &opWorker{p: p, stage: i, st: st, j: j, in: st.inputs[j], next: p.targetsAfter(i)}
			if st.async != nil {
				w.async = newAsyncInst(st.async, p)
			}
			go func() {
				defer stageWG.Done()
				w.run(runCtx)
			}()
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			stageWG.Wait()
			if i+1 < len(p.ops) {
				for _, q := range p.ops[i+1].inputs {
					q.close()
				}
			}
		}(i)
	}
	// Sinks: the regular sinks close when the last stage is done; the
	// dead-letter sink after them.
	var sinkWG, dlqWG sync.WaitGroup
	for _, s := range sinks {
		w := &sinkWorker{p: p, s: s}
		if s.dead {
			dlqWG.Add(1)
			go func() { defer dlqWG.Done(); w.run(runCtx) }()
			continue
		}
		sinkWG.Add(1)
		go func() { defer sinkWG.Done(); w.run(runCtx) }()
	}

	wg.Wait()
	for _, s := range sinks {
		if !s.dead {
			s.in.close()
		}
	}
	sinkWG.Wait()
	if p.dlq != nil {
		p.dlq.in.close()
		dlqWG.Wait()
	}
	stopDrain() // every worker has ended: nothing is left to drain
	// After a hard stop, batches may still sit in queues: give them up so
	// their sources are negatively acknowledged.
	cause := context.Cause(runCtx)
	if cause == nil {
		cause = errors.New("pipeline stopped")
	}
	for r := range readCh {
		if r.g != nil { // a checkpoint's flush marker holds no records
			p.pool.put(r.recs)
			r.g.release(cause)
		}
	}
	for _, st := range p.ops {
		for _, q := range st.inputs {
			q.drain(cause)
		}
	}
	for _, s := range sinks {
		s.in.drain(cause)
	}
	p.failMu.Lock()
	failErr := p.failErr
	p.failMu.Unlock()
	if failErr != nil {
		if errors.Is(failErr, ErrDrainTimeout) {
			return fmt.Errorf("stopping pipeline %s: %w", p.spec.Name, ErrDrainTimeout)
		}
		return failErr
	}
	if srcErr != nil && errors.Is(srcErr, ErrCheckpoint) { // the reader's checkpoint, not the source
		return &StageError{Kind: KindState, Component: "state", Err: srcErr}
	}
	if srcErr != nil {
		return &StageError{Kind: KindSource, Component: p.spec.Source.Path, Err: srcErr}
	}
	// Everything read was written: a last checkpoint, so a restart resumes
	// exactly here.
	if p.store != nil && runCtx.Err() == nil {
		if err := p.checkpoint(); err != nil {
			return &StageError{Kind: KindState, Component: "state", Err: err}
		}
	}
	return nil
}

func (p *Pipeline) allSinks() []*sinkStage {
	out := []*sinkStage{p.sink}
	names := make([]string, 0, len(p.outs))
	for n := range p.outs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, p.outs[n])
	}
	if p.dlq != nil {
		out = append(out, p.dlq)
	}
	return out
}

func (p *Pipeline) outputNames() []string {
	names := make([]string, 0, len(p.outs))
	for n := range p.outs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type readResult struct {
	// recs are what one Read returned, copied into a Batch before the
	// next Read (a source may reuse its records: Source.Read).
	recs  *Batch
	g     *ackGroup
	flush bool // no records: send every partial batch now (a checkpoint waits)
}

// read pulls from the source until it ends. It returns nil at io.EOF or
// when ctx is cancelled, and the source's error otherwise. Records the source
// has returned are passed on even when ctx is cancelled meanwhile (a graceful
// stop drains them); only a hard stop (run) gives them back unprocessed.
func (p *Pipeline) read(ctx, run context.Context, out chan<- readResult) error {
	defer close(out)
	defer close(p.readerDone)
	last := time.Now()
	_, positioned := p.source.(PositionedSource)
	_, split := p.source.(SplitSource)
	positioned = positioned || split
	read := false                         // records were read since the last checkpoint
	pending := make(chan savepointReq, 1) // a request taken while a Read blocked
	defer func() {
		select {
		case r := <-pending:
			r.reply <- savepointReply{err: errors.New("the pipeline stopped reading before the savepoint")}
		default:
		}
	}()
	for {
		var sp *savepointReq
		select {
		case r := <-pending:
			sp = &r
		default:
			select {
			case r := <-p.savepoints:
				sp = &r
			default:
			}
		}
		if sp != nil && sp.swap != nil {
			// A swap: at a quiescent point, after a checkpoint when the
			// pipeline keeps state, so that the swap is a checkpoint's
			// boundary.
			req := sp.swap
			sp = nil
			began := time.Now()
			err := p.quiesce(run, out)
			var id uint64
			if err == nil && p.store != nil {
				if err = p.checkpoint(); err == nil {
					id = p.store.LastCheckpoint().ID
					last, read = time.Now(), false
				}
			}
			if err == nil {
				p.doSwap(req)
			}
			req.reply <- swapReply{res: SwapResult{Operator: req.st.spec.Label, Checkpoint: id, Pause: time.Since(began)}, err: err}
			if err != nil {
				if run.Err() != nil {
					return nil
				}
				return fmt.Errorf("checkpoint: %w", err)
			}
		}
		if p.store == nil && sp != nil {
			// A source's request (Env.Checkpoint) without state: a
			// quiescent point is all it needs.
			err := p.quiesce(run, out)
			sp.answer(p, err)
			if err != nil {
				return nil
			}
		}
		if p.store != nil {
			due := read && time.Since(last) >= p.spec.State.CheckpointInterval
			if sp != nil || due || p.store.NeedsCheckpoint() || p.deferredFull() {
				err := p.quiesce(run, out)
				if err == nil {
					err = p.checkpoint()
				}
				if sp != nil {
					sp.answer(p, err)
				}
				if err != nil {
					if run.Err() != nil {
						return nil
					}
					return fmt.Errorf("checkpoint: %w", err)
				}
				last, read = time.Now(), false
			}
		}
		rctx, stop := ctx, func() bool { return false }
		if p.store != nil && positioned {
			wait := time.Duration(-1) // nothing read: only a savepoint interrupts
			if read {
				wait = max(p.spec.State.CheckpointInterval-time.Since(last), 0)
			}
			rctx, stop = p.interruptible(ctx, wait, pending)
		} else if split {
			// Only the source's own requests interrupt (Env.Checkpoint).
			rctx, stop = p.interruptible(ctx, -1, pending)
		}
		var recs []Record
		var ack AckFunc
		var settle OutcomeFunc
		var err error
		if os, ok := p.source.(OutcomeSource); ok {
			recs, settle, err = os.ReadOutcomes(rctx)
		} else {
			recs, ack, err = p.source.Read(rctx)
		}
		if stop() && err != nil && ctx.Err() == nil && isInterrupt(err) {
			// The Read was interrupted for a checkpoint or a savepoint, not
			// stopped: what it returned goes on, then the checkpoint is
			// taken and reading resumes. The cause decides, not the record
			// count: a source may return what it had buffered.
			err = nil
		}
		if len(recs) > 0 {
			read = true
			if p.rate > 0 && !p.throttle(run, len(recs)) {
				// Stopped while held back: the records were not passed on.
				switch {
				case ack != nil:
					ack(context.Cause(run))
				case settle != nil:
					failed := make([]Outcome, len(recs))
					for i := range failed {
						failed[i] = Failed
					}
					settle(failed, context.Cause(run))
				}
				return nil
			}
			p.stats.in.Add(int64(len(recs)))
			p.stats.bytesIn.Add(recordBytes(recs))
			p.inflight.Add(1)
			g := newAckGroup(nil)
			if settle != nil {
				g.outcomes = make([]Outcome, len(recs))
				ack = func(err error) {
					for i, o := range g.outcomes {
						if o == Pending {
							if err != nil {
								g.outcomes[i] = Failed
							} else {
								g.outcomes[i] = Written
							}
						}
					}
					settle(g.outcomes, err)
				}
			}
			g.ack = p.countedAck(ack)
			staged := p.pool.get()
			for i := range recs {
				staged.Append(&recs[i])
			}
			select {
			case out <- readResult{recs: staged, g: g}:
			case <-run.Done():
				p.pool.put(staged)
				g.release(context.Cause(run))
				return nil
			}
		} else if err == nil {
			switch {
			case ack != nil:
				ack(nil)
			case settle != nil:
				settle(nil, nil)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		case ctx.Err() != nil:
			return nil
		default:
			p.log.Error("source failed", "err", err)
			return err
		}
	}
}

// interruptible returns a context for one Read of a positioned source that
// is cancelled when a checkpoint falls due (after wait; never when wait is
// negative) or a savepoint is
// requested (passed on through pending), so that a source blocked waiting
// for data (a watched directory, a slow generator) does not hold up
// checkpoints and savepoints. The reader treats the interrupted Read as
// having read nothing. stop ends the watch and reports whether it
// interrupted the Read.
func (p *Pipeline) interruptible(ctx context.Context, wait time.Duration, pending chan<- savepointReq) (context.Context, func() bool) {
	rctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var interrupted atomic.Bool
	go func() {
		var due <-chan time.Time
		if wait >= 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			due = t.C
		}
		select {
		case <-due:
		case r := <-p.savepoints:
			pending <- r
		case <-done:
			return
		case <-rctx.Done():
			return
		}
		interrupted.Store(true)
		cancel(errCheckpointDue)
	}()
	return rctx, func() bool {
		close(done)
		cancel(nil)
		return interrupted.Load()
	}
}

// errCheckpointDue interrupts a blocked Read (see interruptible).
var errCheckpointDue = errors.New("checkpoint due")

// isInterrupt reports whether err, returned by a Read whose context the
// reader cancelled with errCheckpointDue, is that cancellation: ctx.Err()
// or the cause, possibly wrapped.
func isInterrupt(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, errCheckpointDue)
}

func (p *Pipeline) countedAck(ack AckFunc) AckFunc {
	return func(err error) {
		if err != nil {
			p.stats.nacked.Add(1)
		} else {
			p.stats.acked.Add(1)
		}
		switch {
		case ack == nil:
		case err == nil && p.deferAcks:
			p.deferAck(ack)
		default:
			ack(err)
		}
		// After the source's ack: a checkpoint waiting for this must see
		// the source's position advanced.
		if p.inflight.Add(-1) == 0 {
			select {
			case p.idle <- struct{}{}:
			default:
			}
		}
	}
}

// targets is where a stage sends its default output: the inputs of the next
// operator's instances, or the default sink.
type targets struct {
	keyBy *keyer // the next operator's key_by, or nil
	part  partitioner
	chans []*queue
	sink  *sinkStage // set when the next hop is the default sink
}

func (p *Pipeline) firstTargets() *targets { return p.targetsAfter(-1) }

func (p *Pipeline) targetsAfter(stage int) *targets {
	if stage+1 < len(p.ops) {
		next := p.ops[stage+1]
		part := partitioner{groups: p.spec.KeyGroups, parallelism: next.parallelism}
		if sf, ok := next.factory.(StatefulFactory); ok && sf.Stateful() && next.parallelism > 1 {
			part.stateful = true
			part.onUnkeyed = func() {
				next.unkeyedOnce.Do(func() {
					p.log.Warn("unkeyed records reach an operator that keeps state: they all go to one instance, since they share the nil key's state; give them keys to spread them",
						"operator", next.spec.Label, "parallelism", next.parallelism,
						"instance", InstanceFor(KeyGroup(nil, p.spec.KeyGroups), p.spec.KeyGroups, next.parallelism))
				})
			}
		}
		return &targets{keyBy: next.keyBy, part: part, chans: next.inputs}
	}
	return &targets{part: partitioner{groups: p.spec.KeyGroups, parallelism: 1}, chans: []*queue{p.sink.in}, sink: p.sink}
}

// route applies the next operator's key_by to r and returns the instance r
// goes to.
func (t *targets) route(r *Record) int {
	if t.keyBy != nil {
		t.keyBy.apply(r)
	}
	return t.part.pick(r.Key)
}

// batchRecords groups source records into batches per target instance and
// sends each when it reaches the size or byte limit or has lingered.
func (p *Pipeline) batchRecords(ctx context.Context, in <-chan readResult, t *targets) {
	n := len(t.chans)
	bufs := make([]*batch, n)
	for i := range bufs {
		bufs[i] = p.newBatch()
	}
	size, maxBytes := p.spec.Batch.Size, int(p.spec.Batch.MaxBytes)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	lingering := false
	flush := func(i int) bool {
		b := bufs[i]
		if b.recs.Len() == 0 {
			return true
		}
		bufs[i] = p.newBatch()
		if !t.chans[i].put(ctx, b) {
			b.done(context.Cause(ctx))
			return false
		}
		return true
	}
	defer func() {
		for i := range bufs {
			bufs[i].done(context.Cause(ctx))
		}
		if t.sink == nil {
			for _, q := range t.chans {
				q.close()
			}
		}
	}()
	for {
		select {
		case r, ok := <-in:
			if !ok {
				for i := range bufs {
					if !flush(i) {
						return
					}
				}
				return
			}
			if r.flush {
				for i := range bufs {
					if !flush(i) {
						return
					}
				}
				continue
			}
			in := r.recs
			if n == 1 && t.keyBy == nil && bufs[0].recs.Len() == 0 && in.Len() <= size && in.Size() <= maxBytes {
				// The Read's records make one batch as they are.
				b := bufs[0]
				p.pool.put(b.recs)
				b.recs, b.bytes = in, in.Size()
				b.ref(r.g)
				if r.g.outcomes != nil {
					for j := range in.Len() {
						b.origins = append(b.origins, origin{r.g, int32(j)})
					}
				}
				if b.recs.Len() >= size || b.bytes >= maxBytes {
					if !flush(0) {
						r.g.release(context.Cause(ctx))
						return
					}
				}
			} else {
				var rec Record
				for j := 0; j < in.Len(); j++ {
					var i int
					if t.keyBy != nil {
						in.View(j, &rec)
						i = t.route(&rec)
						bufs[i].add(&rec, r.g, j)
					} else {
						i = t.part.pick(in.Key(j))
						bufs[i].addFrom(in, j, r.g)
					}
					if b := bufs[i]; b.recs.Len() >= size || b.bytes >= maxBytes {
						if !flush(i) {
							p.pool.put(in)
							r.g.release(context.Cause(ctx))
							return
						}
					}
				}
				p.pool.put(in)
			}
			r.g.release(nil) // the reader's own reference
			if !lingering {
				for _, b := range bufs {
					if b.recs.Len() > 0 {
						linger.Reset(p.spec.Batch.Linger)
						lingering = true
						break
					}
				}
			}
		case <-linger.C:
			lingering = false
			for i := range bufs {
				if !flush(i) {
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}
