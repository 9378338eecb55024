package serve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/query"
)

// MaxPipelineFile bounds a deployed pipeline file.
const MaxPipelineFile = 1 << 20

// PipelineStatus is what the API says of a pipeline.
type PipelineStatus struct {
	Tenant    string          `json:"tenant"`
	Name      string          `json:"name"`
	State     string          `json:"state"` // running, stopped, failed
	Error     string          `json:"error,omitempty"`
	Started   time.Time       `json:"started"`
	Instances int             `json:"instances"`
	Stats     *PipelineFigure `json:"stats"`
	Swaps     []SwapRecord    `json:"swaps"`
	Graph     []GraphNode     `json:"graph"`
	// Restored: the server brought the pipeline back from its data
	// directory when it started (see Restore), rather than a deploy.
	Restored bool `json:"restored,omitempty"`
	// PreviousError is the error the pipeline had failed with before the
	// server restarted it.
	PreviousError string `json:"previous_error,omitempty"`
}

// GraphNode is one component of a pipeline, in order: the source, the
// operators, the sinks.
type GraphNode struct {
	Kind      string `json:"kind"` // source, operator, sink, output, dead_letter
	Name      string `json:"name"` // the connector, or the operator's name
	Module    string `json:"module,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Instances int    `json:"instances,omitempty"`
}

// PipelineFigure is a pipeline's counters.
type PipelineFigure struct {
	RecordsIn    int64            `json:"records_in"`
	RecordsOut   int64            `json:"records_out"`
	DeadLettered int64            `json:"dead_lettered"`
	Checkpoints  int64            `json:"checkpoints"`
	Operators    []OperatorFigure `json:"operators"`
}

// OperatorFigure is an operator's counters.
type OperatorFigure struct {
	Name       string `json:"name"`
	RecordsIn  int64  `json:"records_in"`
	RecordsOut int64  `json:"records_out"`
	Batches    int64  `json:"batches"`
	Failures   int64  `json:"failures"`
}

// Deploy validates a tenant's pipeline file against its quotas and
// capabilities and starts it. The file names modules by the names the
// tenant uploaded them under; the server gives it its data directory.
//
// The deployment is recorded in the data directory before the pipeline
// starts, so that a server restart brings it back (see Restore).
func (s *Server) Deploy(ctx context.Context, tenant, name string, file []byte) (PipelineStatus, error) {
	return s.deploy(ctx, tenant, name, file, deployOptions{})
}

// deployOptions are what a restore adds to a deploy.
type deployOptions struct {
	modules       []string // per operator, the module in force (after swaps)
	swaps         []SwapRecord
	restored      bool
	previousError string
}

func (s *Server) deploy(ctx context.Context, tenant, name string, file []byte, opts deployOptions) (PipelineStatus, error) {
	t, err := s.tenant(tenant)
	if err != nil {
		return PipelineStatus{}, err
	}
	if !namePattern.MatchString(name) {
		return PipelineStatus{}, &Error{Status: 400, Msg: fmt.Sprintf("pipeline name %q: use lower-case letters, digits and dashes", name)}
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return PipelineStatus{}, &Error{Status: 503, Msg: "the server is shutting down"}
	}
	if d := s.pipelines[key(tenant, name)]; d != nil && !d.ended() {
		s.mu.Unlock()
		return PipelineStatus{}, &Error{Status: 409, Msg: fmt.Sprintf("pipeline %s of tenant %s is running: stop it first, or swap its modules", name, tenant)}
	}
	s.mu.Unlock()
	dataDir := filepath.Join(s.tenantDir(tenant), "pipelines", name)
	out, modules, err := s.rewrite(t, name, dataDir, file, opts.modules)
	if err != nil {
		return PipelineStatus{}, err
	}
	spec, err := runtime.Parse(out, s.cfg.Registry)
	if err != nil {
		return PipelineStatus{}, &Error{Status: 422, Msg: err.Error()}
	}
	instances, err := s.check(t, spec)
	if err != nil {
		return PipelineStatus{}, err
	}
	graph := s.graph(t, spec, modules)
	asyncN := asyncInFlight(spec)
	if err := s.checkCounts(t, name, instances, asyncN); err != nil {
		return PipelineStatus{}, err
	}
	log := s.log.With("tenant", tenant)
	p, err := runtime.Build(spec, runtime.WithLogger(log), runtime.WithRateLimit(t.Quotas.RecordsPerSecond))
	if err != nil {
		return PipelineStatus{}, &Error{Status: 422, Msg: err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.countsLocked(t, name, instances, asyncN); err != nil { // a concurrent deploy took the room
		return PipelineStatus{}, err
	}
	if s.closing {
		return PipelineStatus{}, &Error{Status: 503, Msg: "the server is shutting down"}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &deployed{tenant: tenant, name: name, spec: string(file), p: p, instances: instances, asyncN: asyncN, started: time.Now().UTC(), cancel: cancel, done: make(chan struct{}),
		graph: graph, run: true, modules: modules, swaps: slices.Clone(opts.swaps), restored: opts.restored, previousError: opts.previousError}
	if err := s.persistLocked(d); err != nil {
		cancel()
		return PipelineStatus{}, fmt.Errorf("recording pipeline %s's deployment: %w", name, err)
	}
	d.query = query.New(p, query.WithLogger(log))
	if old := s.pipelines[key(tenant, name)]; old != nil && old.query != nil {
		old.query.Close() // the stopped pipeline this one replaces
	}
	s.pipelines[key(tenant, name)] = d
	if limit := t.Quotas.StateBytes; limit > 0 {
		go s.watchState(d, limit, log)
	}
	go func() {
		defer close(d.done)
		err := p.Run(runCtx)
		s.mu.Lock()
		if d.quotaErr != nil {
			err = d.quotaErr
		}
		d.err = err
		if !s.closing {
			// A server shutdown leaves the record as it is: the pipeline
			// runs again at the next start.
			if err == nil {
				d.run = false // it ended cleanly (or a user stopped it)
			}
			if perr := s.persistLocked(d); perr != nil {
				log.Error("writing the pipeline's deployment", "pipeline", name, "err", perr)
			}
		}
		s.mu.Unlock()
		if err != nil {
			log.Error("pipeline failed", "pipeline", name, "err", err)
		} else {
			log.Info("pipeline ended", "pipeline", name)
		}
	}()
	log.Info("pipeline deployed", "pipeline", name, "instances", instances)
	return s.statusLocked(d), nil
}

// stateCheck is how often the state quota is checked.
const stateCheck = 200 * time.Millisecond

// watchState stops d when its keyed state grows past limit bytes (memory
// and disk), with the quota as its error.
func (s *Server) watchState(d *deployed, limit int64, log interface{ Warn(string, ...any) }) {
	t := time.NewTicker(stateCheck)
	defer t.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-t.C:
		}
		st := d.p.Stats()
		if used := st.StateCacheBytes + st.StateDiskBytes; used > limit {
			err := fmt.Errorf("quota: pipeline %s's keyed state holds %d bytes, over tenant %s's quota of %d; stopped", d.name, used, d.tenant, limit)
			s.mu.Lock()
			d.quotaErr = err
			s.breaches[d.tenant]++
			s.mu.Unlock()
			log.Warn("quota breached; stopping the pipeline", "pipeline", d.name, "err", err)
			d.cancel()
			return
		}
	}
}

// checkCounts enforces the quotas on pipelines and operator instances
// before the pipeline is built (which compiles its modules).
func (s *Server) checkCounts(t *Tenant, name string, instances, asyncN int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.countsLocked(t, name, instances, asyncN)
}

// asyncInFlight is the most async requests spec's operators may have in
// flight at once: each instance's async.capacity.
func asyncInFlight(spec *runtime.Spec) int {
	n := 0
	for _, c := range spec.Operators {
		if oc, ok := c.Config.(*host.OperatorConfig); ok && oc.Async != nil {
			n += oc.Async.Capacity * max(1, oc.Parallelism)
		}
	}
	return n
}

// countsLocked: the tenant's pipelines kept (running or stopped, until
// deleted; the one being replaced does not count) and the instances of
// those running. s.mu is held.
func (s *Server) countsLocked(t *Tenant, name string, instances, asyncN int) error {
	kept, used, usedAsync := 0, 0, 0
	for k, d := range s.pipelines {
		if d.tenant != t.Name || k == key(t.Name, name) {
			continue
		}
		kept++
		if !d.ended() {
			used += d.instances
			usedAsync += d.asyncN
		}
	}
	if kept >= t.Quotas.Pipelines {
		s.breaches[t.Name]++
		return &Error{Status: 403, Msg: fmt.Sprintf("quota: tenant %s keeps %d pipelines, its quota (delete stopped ones to make room)", t.Name, kept)}
	}
	if used+instances > t.Quotas.Instances {
		s.breaches[t.Name]++
		return &Error{Status: 403, Msg: fmt.Sprintf("quota: pipeline %s needs %d operator instances; tenant %s runs %d of its %d", name, instances, t.Name, used, t.Quotas.Instances)}
	}
	if asyncN > 0 && usedAsync+asyncN > t.Quotas.AsyncInFlight {
		s.breaches[t.Name]++
		return &Error{Status: 403, Msg: fmt.Sprintf("quota: pipeline %s may have %d async requests in flight (async.capacity times parallelism); tenant %s's running pipelines may have %d of its %d", name, asyncN, t.Name, usedAsync, t.Quotas.AsyncInFlight)}
	}
	return nil
}

func (d *deployed) ended() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// rewrite checks the pipeline file's shape and returns it with the
// server's settings: its name, its data directory, the tenant's modules
// by path, and the tenant's limits where an operator sets none. modules,
// when it has an entry for an operator, names the module it runs in place
// of the one the file names (a swap's, at restore). It returns the module
// each operator runs, by name ("" for one without a wasm module).
func (s *Server) rewrite(t *Tenant, name, dataDir string, file []byte, modules []string) ([]byte, []string, error) {
	if len(file) > MaxPipelineFile {
		return nil, nil, &Error{Status: 413, Msg: fmt.Sprintf("pipeline file of %d bytes: the most is %d", len(file), MaxPipelineFile)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(file, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, &Error{Status: 422, Msg: "the pipeline file is not a YAML mapping"}
	}
	root := doc.Content[0]
	if v := lookup(root, "data_dir"); v != nil {
		return nil, nil, &Error{Status: 422, Msg: "data_dir: the server decides where a tenant's pipeline keeps its data; remove it"}
	}
	if v := lookup(lookup(root, "state"), "savepoint_dir"); v != nil {
		return nil, nil, &Error{Status: 422, Msg: "state.savepoint_dir: a tenant's savepoints go under its pipeline's data directory; remove it"}
	}
	set(root, "pipeline", name)
	set(root, "data_dir", dataDir)
	var inForce []string
	if ops := lookup(root, "operators"); ops != nil {
		if ops.Kind != yaml.SequenceNode {
			return nil, nil, &Error{Status: 422, Msg: "operators: must be a list"}
		}
		inForce = make([]string, len(ops.Content))
		for i, op := range ops.Content {
			w := lookup(op, "wasm")
			if w == nil {
				continue // Parse reports what it is
			}
			if w.Kind != yaml.MappingNode {
				return nil, nil, &Error{Status: 422, Msg: fmt.Sprintf("operators[%d].wasm: must be a mapping", i)}
			}
			m := lookup(w, "module")
			if m == nil || m.Kind != yaml.ScalarNode {
				return nil, nil, &Error{Status: 422, Msg: fmt.Sprintf("operators[%d].wasm.module: name one of tenant %s's modules", i, t.Name)}
			}
			if i < len(modules) && modules[i] != "" {
				m.Value = modules[i]
			}
			s.mu.Lock()
			mod, ok := t.Modules[m.Value]
			s.mu.Unlock()
			if !ok {
				return nil, nil, &Error{Status: 422, Msg: fmt.Sprintf("operators[%d].wasm.module: tenant %s has no module %q (upload it first; modules are named, never paths)", i, t.Name, m.Value)}
			}
			inForce[i] = m.Value
			m.Value = s.modulePath(t.Name, mod.Digest)
			m.Tag, m.Style = "!!str", 0
			if lookup(w, "memory_limit") == nil {
				set(w, "memory_limit", fmt.Sprintf("%dB", t.Quotas.MemoryPerInstance))
			}
			if lookup(w, "deadline") == nil {
				set(w, "deadline", time.Duration(t.Quotas.CPUPerBatch).String())
			}
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, nil, err
	}
	return out, inForce, nil
}

// check enforces the tenant's capabilities and per-operator quotas, and
// returns how many operator instances the pipeline runs.
func (s *Server) check(t *Tenant, spec *runtime.Spec) (int, error) {
	var comps []*runtime.ComponentSpec
	comps = append(comps, spec.Source, spec.Sink, spec.DeadLetter)
	names := make([]string, 0, len(spec.Outputs))
	for n := range spec.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		comps = append(comps, spec.Outputs[n])
	}
	for _, c := range comps {
		if c != nil && !slices.Contains(t.Connectors, c.Name) {
			return 0, &Error{Status: 403, Msg: fmt.Sprintf("%s: tenant %s may not use the %s connector (it may use: %s)", c.Path, t.Name, c.Name, strings.Join(t.Connectors, ", "))}
		}
		if err := checkFiles(t, c); err != nil {
			return 0, err
		}
		if err := checkEndpoints(t, c); err != nil {
			return 0, err
		}
	}
	instances := 0
	for _, c := range spec.Operators {
		oc, ok := c.Config.(*host.OperatorConfig)
		if !ok {
			return 0, &Error{Status: 403, Msg: fmt.Sprintf("%s: tenant pipelines run Wasm operators only", c.Path)}
		}
		if !oc.Preemption && !t.Trusted {
			return 0, &Error{Status: 403, Msg: fmt.Sprintf("%s.preemption: false is allowed only for tenants an admin marks trusted; tenant %s is not (its modules run preempted, so a deadline can stop them)", c.Path, t.Name)}
		}
		targets := c.AsyncTargets()
		names := make([]string, 0, len(targets))
		for n := range targets {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			tc := targets[n]
			if cap := "async." + tc.Name; !slices.Contains(t.Connectors, cap) {
				return 0, &Error{Status: 403, Msg: fmt.Sprintf("%s: tenant %s may not declare %s async targets (its capabilities: %s; an admin grants %q)", tc.Path, t.Name, tc.Name, strings.Join(t.Connectors, ", "), cap)}
			}
			if err := checkFiles(t, tc); err != nil {
				return 0, err
			}
			if err := checkEndpoints(t, tc); err != nil {
				return 0, err
			}
		}
		if int64(oc.MemoryLimit) > t.Quotas.MemoryPerInstance {
			return 0, &Error{Status: 403, Msg: fmt.Sprintf("%s.memory_limit: %v is over tenant %s's quota of %d bytes per instance", c.Path, oc.MemoryLimit, t.Name, t.Quotas.MemoryPerInstance)}
		}
		if oc.Deadline > time.Duration(t.Quotas.CPUPerBatch) {
			return 0, &Error{Status: 403, Msg: fmt.Sprintf("%s.deadline: %v is over tenant %s's quota of %v per batch", c.Path, oc.Deadline, t.Name, time.Duration(t.Quotas.CPUPerBatch))}
		}
		instances += max(1, oc.Parallelism)
	}
	if instances > t.Quotas.Instances {
		return 0, &Error{Status: 403, Msg: fmt.Sprintf("quota: the pipeline runs %d operator instances, more than tenant %s's %d", instances, t.Name, t.Quotas.Instances)}
	}
	return instances, nil
}

func lookup(m *yaml.Node, k string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == k {
			return m.Content[i+1]
		}
	}
	return nil
}

func set(m *yaml.Node, k, v string) {
	if n := lookup(m, k); n != nil {
		n.Kind, n.Tag, n.Value, n.Style, n.Content = yaml.ScalarNode, "!!str", v, 0, nil
		return
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
}

// graph describes spec's components, with each operator's module by the
// name the tenant uploaded it under (modules[i], the name rewrite
// resolved, for operator i).
func (s *Server) graph(t *Tenant, spec *runtime.Spec, modules []string) []GraphNode {
	byDigest := map[string]string{}
	s.mu.Lock()
	for name, m := range t.Modules {
		byDigest[s.modulePath(t.Name, m.Digest)] = name
	}
	s.mu.Unlock()
	g := []GraphNode{{Kind: "source", Name: spec.Source.Name}}
	for i, c := range spec.Operators {
		n := GraphNode{Kind: "operator", Name: c.Label, Instances: 1}
		if oc, ok := c.Config.(*host.OperatorConfig); ok {
			n.Module = byDigest[oc.Module]
			if i < len(modules) && modules[i] != "" {
				n.Module = modules[i]
			}
			n.Digest = strings.TrimSuffix(filepath.Base(oc.Module), ".wasm")
			n.Instances = max(1, oc.Parallelism)
		}
		g = append(g, n)
	}
	g = append(g, GraphNode{Kind: "sink", Name: spec.Sink.Name})
	names := make([]string, 0, len(spec.Outputs))
	for n := range spec.Outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g = append(g, GraphNode{Kind: "output", Name: n + ": " + spec.Outputs[n].Name})
	}
	if spec.DeadLetter != nil {
		g = append(g, GraphNode{Kind: "dead_letter", Name: spec.DeadLetter.Name})
	}
	return g
}

// Status returns a pipeline's status.
func (s *Server) Status(tenant, name string) (PipelineStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.pipelines[key(tenant, name)]
	if d == nil {
		return PipelineStatus{}, &Error{Status: 404, Msg: fmt.Sprintf("tenant %s has no pipeline %q", tenant, name)}
	}
	return s.statusLocked(d), nil
}

// List returns a tenant's pipelines.
func (s *Server) List(tenant string) []PipelineStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PipelineStatus
	for _, d := range s.pipelines {
		if d.tenant == tenant {
			out = append(out, s.statusLocked(d))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) statusLocked(d *deployed) PipelineStatus {
	st := PipelineStatus{Tenant: d.tenant, Name: d.name, State: "running", Started: d.started, Instances: d.instances, Swaps: slices.Clone(d.swaps), Graph: slices.Clone(d.graph),
		Restored: d.restored, PreviousError: d.previousError}
	if d.ended() {
		st.State = "stopped"
		if d.err != nil {
			st.State, st.Error = "failed", d.err.Error()
		}
	}
	stats := d.p.Stats()
	f := &PipelineFigure{RecordsIn: stats.RecordsIn, RecordsOut: stats.RecordsOut, DeadLettered: stats.DeadLettered, Checkpoints: stats.Checkpoints}
	for _, o := range stats.Operators {
		f.Operators = append(f.Operators, OperatorFigure{Name: o.Name, RecordsIn: o.RecordsIn, RecordsOut: o.RecordsOut, Batches: o.Batches, Failures: o.Failures})
	}
	st.Stats = f
	if st.Swaps == nil {
		st.Swaps = []SwapRecord{}
	}
	return st
}

// Stop stops a pipeline gracefully (in-flight records drain) and waits
// for it, for up to wait. A stopped pipeline stays stopped when the
// server restarts.
func (s *Server) Stop(tenant, name string, wait time.Duration) (PipelineStatus, error) {
	s.mu.Lock()
	d := s.pipelines[key(tenant, name)]
	if d != nil {
		d.run = false
	}
	s.mu.Unlock()
	if d == nil {
		return PipelineStatus{}, &Error{Status: 404, Msg: fmt.Sprintf("tenant %s has no pipeline %q", tenant, name)}
	}
	d.cancel()
	select {
	case <-d.done:
	case <-time.After(wait):
		s.persist(d)
		return PipelineStatus{}, &Error{Status: 504, Msg: fmt.Sprintf("pipeline %s did not stop within %v", name, wait)}
	}
	s.persist(d)
	return s.Status(tenant, name)
}

// Delete stops a pipeline and removes it with its data.
func (s *Server) Delete(tenant, name string, wait time.Duration) error {
	if _, err := s.Stop(tenant, name, wait); err != nil {
		return err
	}
	s.mu.Lock()
	d := s.pipelines[key(tenant, name)]
	delete(s.pipelines, key(tenant, name))
	s.mu.Unlock()
	if d != nil && d.query != nil {
		d.query.Close()
	}
	// The record first: a crash between the two leaves no deployment
	// that would start again with its state gone.
	if err := os.Remove(s.recordPath(tenant, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.RemoveAll(filepath.Join(s.tenantDir(tenant), "pipelines", name))
}

// Swap hot-swaps operator's module in a running pipeline for the tenant's
// module named module (see host.Swap).
func (s *Server) Swap(ctx context.Context, tenant, name, operator, module string, canary int) (SwapRecord, error) {
	t, err := s.tenant(tenant)
	if err != nil {
		return SwapRecord{}, err
	}
	s.mu.Lock()
	d := s.pipelines[key(tenant, name)]
	mod, ok := t.Modules[module]
	s.mu.Unlock()
	if d == nil || d.ended() {
		return SwapRecord{}, &Error{Status: 404, Msg: fmt.Sprintf("tenant %s has no running pipeline %q", tenant, name)}
	}
	if !ok {
		return SwapRecord{}, &Error{Status: 422, Msg: fmt.Sprintf("tenant %s has no module %q", tenant, module)}
	}
	res, err := host.Swap(ctx, d.p, s.cfg.Engine, operator, s.modulePath(tenant, mod.Digest), runtime.SwapOptions{Canary: canary})
	rec := SwapRecord{Operator: operator, Module: module, Digest: mod.Digest, At: time.Now().UTC(), PauseMs: float64(res.Pause.Microseconds()) / 1000}
	if err != nil {
		rec.Error = err.Error()
	}
	s.mu.Lock()
	if res.Operator != "" {
		d.swaps = append(d.swaps, rec)
	}
	if err == nil {
		op := 0
		for i := range d.graph {
			if d.graph[i].Kind != "operator" {
				continue
			}
			if d.graph[i].Name == operator {
				d.graph[i].Module, d.graph[i].Digest = module, mod.Digest
				if op < len(d.modules) {
					d.modules[op] = module // a restart runs the module swapped in
				}
			}
			op++
		}
	}
	var perr error
	if res.Operator != "" {
		perr = s.persistLocked(d)
	}
	s.mu.Unlock()
	if perr != nil {
		s.log.Error("writing the pipeline's deployment", "tenant", tenant, "pipeline", name, "err", perr)
	}
	if err != nil {
		status := 422
		if errors.Is(err, runtime.ErrRolledBack) {
			status = 409
		}
		return rec, &Error{Status: status, Msg: err.Error()}
	}
	s.log.Info("module swapped", "tenant", tenant, "pipeline", name, "operator", operator, "module", module, "pause", res.Pause)
	return rec, nil
}

// Close stops every pipeline, for up to wait each. It is a server
// shutdown, not a user's stop: the pipelines' records still say they are
// meant to run, and Restore starts them again on the next start.
func (s *Server) Close(wait time.Duration) {
	s.mu.Lock()
	s.closing = true
	ds := make([]*deployed, 0, len(s.pipelines))
	for _, d := range s.pipelines {
		ds = append(ds, d)
	}
	s.mu.Unlock()
	for _, d := range ds {
		d.cancel()
	}
	for _, d := range ds {
		select {
		case <-d.done:
		case <-time.After(wait):
		}
		if d.query != nil {
			d.query.Close()
		}
	}
}

// checkEndpoints refuses a component that would reach a server outside
// the tenant's hosts.
func checkEndpoints(t *Tenant, c *runtime.ComponentSpec) error {
	if c == nil {
		return nil
	}
	e, ok := c.Config.(runtime.Endpointer)
	if !ok {
		return nil
	}
	for _, ep := range e.Endpoints() {
		if !HostAllowed(t.Hosts, ep) {
			allowed := "none"
			if len(t.Hosts) > 0 {
				allowed = strings.Join(t.Hosts, ", ")
			}
			return &Error{Status: 403, Msg: fmt.Sprintf("%s: tenant %s may not reach %s (its hosts: %s)", c.Path, t.Name, ep, allowed)}
		}
	}
	return nil
}

// checkFiles refuses a component that names host files: a tenant's
// pipelines reach only what the server gives them (modules by name, their
// data directory). Files are checked before endpoints, whose parsing may
// read some (a PostgreSQL DSN's passfile).
func checkFiles(t *Tenant, c *runtime.ComponentSpec) error {
	if c == nil {
		return nil
	}
	if files := c.HostFiles(); len(files) > 0 {
		return &Error{Status: 403, Msg: fmt.Sprintf("tenant %s's pipelines may not name host files: %s", t.Name, strings.Join(files, "; "))}
	}
	return nil
}
