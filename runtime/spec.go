package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wasmstream/wasmstream/runtime/internal/confyaml"
)

// ConfigError lists every problem found in a pipeline file. It is returned
// by Load and Parse.
type ConfigError = confyaml.Error

// ConfigProblem is one entry of a ConfigError.
type ConfigProblem = confyaml.Problem

// BatchSettings control how records are grouped before an operator call.
type BatchSettings struct {
	Size     int           `yaml:"size" default:"1000" doc:"Most records in one operator call. Larger batches amortise the per-call cost of a Wasm operator."`
	MaxBytes ByteSize      `yaml:"max_bytes" default:"4MiB" doc:"Most bytes (keys, values and headers) in one operator call; a batch is sent when either limit is reached."`
	Linger   time.Duration `yaml:"linger" default:"20ms" doc:"How long a partly filled batch waits for more records before it is sent anyway."`
}

// StateSettings configure keyed state and checkpoints. They apply when an
// operator keeps state (for Wasm operators: the module imports a state
// function).
type StateSettings struct {
	CheckpointInterval time.Duration `yaml:"checkpoint_interval" default:"10s" doc:"How often state and the source position are checkpointed together. After a crash the pipeline resumes from the last checkpoint and replays the source from there, so state is exact; sinks are at-least-once."`
	Retain             int           `yaml:"retain" default:"3" doc:"Checkpoints kept under <data_dir>/state/checkpoints, newest first; each is verified against its checksums before use."`
	Cache              ByteSize      `yaml:"cache" default:"64MiB" doc:"Memory for cached state values read from the store."`
	WriteCache         ByteSize      `yaml:"write_cache" default:"64MiB" doc:"Memory for state written since the last checkpoint; reaching it triggers an early checkpoint."`
	MaxValue           ByteSize      `yaml:"max_value" default:"1MiB" doc:"Largest state value (or list). A larger write fails that call with a too-large status, not the pipeline."`
	OnCorrupt          string        `yaml:"on_corrupt" default:"fail" oneof:"fail|checkpoint|empty" doc:"When the state store cannot be read: fail refuses to start and names the path; checkpoint restores the newest valid retained checkpoint; empty starts without state."`
	Query              string        `yaml:"query" default:"127.0.0.1:0" doc:"Address of the HTTP server answering state queries and savepoint requests while the pipeline runs (port 0: any free port); its address is written to <data_dir>/query.addr. \"off\" disables it."`
	SavepointDir       string        `yaml:"savepoint_dir" path:"any" doc:"Another directory under which savepoint requests to the query server may write (a relative path is relative to the pipeline file's directory). Without it, savepoints go only under <data_dir>."`
	CallWrites         ByteSize      `yaml:"call_writes" default:"64MiB" doc:"Most state one operator call may write (its transaction, before it commits); a write over it fails that call's state operation with a too-large status."`
}

// FailurePolicy says what happens to a batch an operator fails on, and to a
// batch a sink cannot write.
type FailurePolicy struct {
	Retries        int           `yaml:"retries" default:"2" doc:"How many times a failed operator batch is retried (each time on a fresh Wasm instance) before the action applies."`
	Backoff        time.Duration `yaml:"backoff" default:"100ms" doc:"Wait before the first retry; it doubles on each retry up to max_backoff."`
	MaxBackoff     time.Duration `yaml:"max_backoff" default:"10s" doc:"Longest wait between retries, for operators and sinks."`
	Action         string        `yaml:"action" default:"stop" oneof:"stop|dead_letter" doc:"After the retries: stop the pipeline (nothing is acknowledged past the failure, so a restart reprocesses it), or dead_letter: isolate the failing records by bisecting the batch (within isolate_calls and isolate_timeout) and send only those to the dead_letter sink, with the error in their headers; a batch that fails as a whole gets batch_action."`
	DeadLetter     yaml.Node     `yaml:"dead_letter" doc:"The sink that receives records given up on, as 'sink-name: {settings}'. Required when action is dead_letter."`
	SinkRetries    int           `yaml:"sink_retries" default:"0" doc:"How many times a failed sink write is retried before the action applies; 0 retries until the pipeline is stopped."`
	BatchAction    string        `yaml:"batch_action" default:"stop" oneof:"stop|dead_letter" doc:"With action dead_letter, for a batch that fails as a whole rather than by some of its records: both halves of its first split and its first record alone fail with the same error (a dependency is down), or isolating its failing records ran out of isolate_calls or isolate_timeout. stop stops the pipeline (exit 3; nothing past the batch is acknowledged); dead_letter sends the records not isolated to the dead_letter sink as one batch, with the error."`
	IsolateCalls   int           `yaml:"isolate_calls" default:"256" doc:"With action dead_letter: most operator calls spent isolating the failing records of one batch (one bad record in 1,000 takes about 20); then batch_action applies to the records not isolated."`
	IsolateTimeout time.Duration `yaml:"isolate_timeout" default:"1m" doc:"With action dead_letter: most time spent isolating the failing records of one batch; no call starts that would end past it at the pace of the slowest call so far (an operator that runs into its deadline). Then batch_action applies to the records not isolated."`
}

// pipelineFile is the top level of a pipeline file.
type pipelineFile struct {
	Pipeline   string               `yaml:"pipeline" required:"true" doc:"The pipeline's name: letters, digits, '-', '_' and '.'."`
	DataDir    string               `yaml:"data_dir" path:"any" doc:"Where the pipeline keeps state that survives restarts (source progress, checkpoints); a relative path is relative to the pipeline file's directory. Default: .wasmstream/<pipeline> in the working directory."`
	Batch      BatchSettings        `yaml:"batch"`
	QueueDepth int                  `yaml:"queue_depth" default:"4" doc:"Batches that may wait between two stages. With the batch size it bounds memory; a full queue slows the stage before it (backpressure)."`
	QueueBytes ByteSize             `yaml:"queue_max_bytes" default:"64MiB" doc:"Bytes of records (keys, values and headers) that may wait between two stages, summed over the queued batches: it bounds memory when an operator's output batches are large. A batch larger than this still passes alone, when its queue is empty."`
	KeyGroups  int                  `yaml:"key_groups" default:"128" doc:"Number of key groups records are hashed into; the upper bound of any operator's parallelism. Keep it fixed for a pipeline's lifetime: keyed state is stored by key group."`
	Source     yaml.Node            `yaml:"source" required:"true" doc:"The source, as 'source-name: {settings}'."`
	Operators  []yaml.Node          `yaml:"operators" doc:"The operators, applied in order. Each item is 'operator-name: {settings}' with an optional 'name: ...' beside it."`
	Sink       yaml.Node            `yaml:"sink" required:"true" doc:"The sink for records on the default output of the last operator."`
	Outputs    map[string]yaml.Node `yaml:"outputs" doc:"Sinks for named outputs: records an operator routes to output NAME go to outputs.NAME."`
	OnError    FailurePolicy        `yaml:"on_error"`
	State      StateSettings        `yaml:"state"`
	Shutdown   time.Duration        `yaml:"shutdown_timeout" default:"30s" doc:"On SIGINT/SIGTERM, how long to wait for in-flight records to drain before giving up on them (they are not acknowledged, so a restart reprocesses them)."`
}

// ComponentSpec is one configured component of a pipeline.
type ComponentSpec struct {
	// Path is where it appears in the file, e.g. "operators[1].wasm".
	Path string
	// Name is the component's registered name, e.g. "wasm" or "file".
	Name string
	// Label is the user-given name of an operator, or a generated one.
	Label string
	// Config is a pointer to the decoded config struct.
	Config any

	comp  *Component
	async *asyncSpec           // an operator's async block, or nil
	node  *yaml.Node           // the settings, or the component's key when it has none
	paths []confyaml.PathField // its path-tagged settings, resolved
	bad   bool                 // its settings have problems
}

// Spec is a parsed and validated pipeline file.
type Spec struct {
	File       string
	Name       string
	DataDir    string
	Batch      BatchSettings
	QueueDepth int
	// QueueMaxBytes bounds the bytes of records waiting in one queue.
	QueueMaxBytes ByteSize
	KeyGroups     int
	Source        *ComponentSpec
	Operators     []*ComponentSpec
	Sink          *ComponentSpec
	Outputs       map[string]*ComponentSpec
	OnError       FailurePolicy
	State         StateSettings
	DeadLetter    *ComponentSpec
	Shutdown      time.Duration

	// rejected are the components whose settings have problems: Check
	// still checks the files they name.
	rejected []*ComponentSpec
}

// Load reads and parses the pipeline file at path. Relative paths in the
// file (settings tagged path:"..." in a config struct, such as a module or
// a source file) are resolved against the file's directory, as
// docker-compose does, so the pipeline runs the same from any working
// directory; the default data_dir is under the working directory.
func Load(path string, reg *Registry) (*Spec, error) {
	s, probs, err := load(path, reg)
	if err != nil {
		return nil, err
	}
	if err := probs.Err(); err != nil {
		err.(*ConfigError).File = path
		return nil, err
	}
	return s, nil
}

// load reads and parses the pipeline file at path, returning the spec (as
// far as it could be decoded) with its problems; err is set only when the
// file cannot be read.
func load(path string, reg *Registry) (*Spec, *confyaml.Problems, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading pipeline file: %w", err)
	}
	s, probs := parse(b, reg, filepath.Dir(path))
	if s != nil {
		s.File = path
	}
	return s, probs, nil
}

// MaxInstances is the most operator instances one pipeline may run, its
// operators' parallelism summed. Each instance holds its own memory once it
// runs (4 MiB for the uppercase Go guest before it grows, measured): 4,096
// instances ran a 24 GB machine out of memory, 1,024 take about 4 GB.
const MaxInstances = 1024

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Parse parses a pipeline file's bytes. On problems it returns a
// *ConfigError listing all of them. Relative paths in it stay relative to
// the working directory.
func Parse(b []byte, reg *Registry) (*Spec, error) {
	s, probs := parse(b, reg, "")
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// parse decodes a pipeline file's bytes as far as it can, resolving
// relative paths against dir ("" leaves them as they are). The spec is nil
// only when the bytes are not a YAML document; a component with problems
// is left out of it.
func parse(b []byte, reg *Registry, dir string) (*Spec, *confyaml.Problems) {
	probs := &confyaml.Problems{}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		probs.List = append(probs.List, ConfigProblem{Path: "(file)", Msg: "not valid YAML: " + err.Error()})
		return nil, probs
	}
	if len(doc.Content) == 0 {
		probs.List = append(probs.List, ConfigProblem{Path: "(file)", Msg: "empty pipeline file"})
		return nil, probs
	}
	root := doc.Content[0]
	var f pipelineFile
	confyaml.Decode(root, &f, "", probs)
	resolvePaths(confyaml.Paths(&f, root, ""), dir)

	s := &Spec{Name: f.Pipeline, DataDir: f.DataDir, Batch: f.Batch, QueueDepth: f.QueueDepth, QueueMaxBytes: f.QueueBytes,
		KeyGroups: f.KeyGroups, OnError: f.OnError, State: f.State, Shutdown: f.Shutdown, Outputs: map[string]*ComponentSpec{}}
	if f.Pipeline != "" && !nameRE.MatchString(f.Pipeline) {
		probs.Add("pipeline", find(root, "pipeline"), "%q is not a valid name (letters, digits, '.', '_', '-'; at most 128)", f.Pipeline)
	}
	if s.DataDir == "" && f.Pipeline != "" {
		s.DataDir = filepath.Join(".wasmstream", f.Pipeline)
	}
	if f.Batch.Size < 1 {
		probs.Add("batch.size", find(root, "batch.size"), "must be at least 1")
	}
	if f.Batch.MaxBytes < 1 {
		probs.Add("batch.max_bytes", find(root, "batch.max_bytes"), "must be at least 1")
	}
	if f.QueueDepth < 1 {
		probs.Add("queue_depth", find(root, "queue_depth"), "must be at least 1")
	}
	if f.QueueBytes < 1 {
		probs.Add("queue_max_bytes", find(root, "queue_max_bytes"), "must be at least 1")
	}
	if f.KeyGroups < 1 || f.KeyGroups > 1<<15 {
		probs.Add("key_groups", find(root, "key_groups"), "must be between 1 and 32768")
	}
	if f.State.CheckpointInterval < 10*time.Millisecond {
		probs.Add("state.checkpoint_interval", find(root, "state.checkpoint_interval"), "must be at least 10ms")
	}
	if f.State.Retain < 1 {
		probs.Add("state.retain", find(root, "state.retain"), "must be at least 1")
	}
	if f.State.MaxValue < 1 || f.State.MaxValue > 64<<20 {
		probs.Add("state.max_value", find(root, "state.max_value"), "must be between 1 byte and 64MiB")
	}
	if f.OnError.Retries < 0 {
		probs.Add("on_error.retries", find(root, "on_error.retries"), "must not be negative")
	}
	if f.OnError.IsolateCalls < 1 {
		probs.Add("on_error.isolate_calls", find(root, "on_error.isolate_calls"), "must be at least 1")
	}
	if f.OnError.IsolateTimeout <= 0 {
		probs.Add("on_error.isolate_timeout", find(root, "on_error.isolate_timeout"), "must be positive")
	}
	if f.OnError.SinkRetries < 0 {
		probs.Add("on_error.sink_retries", find(root, "on_error.sink_retries"), "must not be negative")
	}
	if f.Source.Kind != 0 {
		s.Source = s.good(decodeComponent(&f.Source, "source", KindSource, reg, false, dir, probs))
	}
	if f.Sink.Kind != 0 {
		s.Sink = s.good(decodeComponent(&f.Sink, "sink", KindSink, reg, false, dir, probs))
	}
	labels := map[string]string{}
	instances := 0
	for i := range f.Operators {
		path := fmt.Sprintf("operators[%d]", i)
		c := decodeComponent(&f.Operators[i], path, KindOperator, reg, true, dir, probs)
		if c == nil {
			continue
		}
		if c.Label == "" {
			c.Label = fmt.Sprintf("%s-%d", c.Name, i)
		}
		if prev, dup := labels[c.Label]; dup {
			probs.Add(path+".name", find(&f.Operators[i], "name"), "%q is already the name of %s", c.Label, prev)
		}
		labels[c.Label] = path
		if s.good(c) == nil {
			continue
		}
		c.async = decodeAsync(c, &f.Operators[i], reg, dir, probs)
		if oc, ok := c.Config.(operatorConfig); ok {
			if p := oc.operatorSettings().Parallelism; p < 1 || p > f.KeyGroups {
				probs.Add(c.Path+".parallelism", find(&f.Operators[i], c.Name+".parallelism"), "must be between 1 and key_groups (%d)", f.KeyGroups)
			} else {
				instances += p
			}
		}
		s.Operators = append(s.Operators, c)
	}
	if instances > MaxInstances {
		probs.Add("operators", find(root, "operators"), "the operators' parallelism adds up to %d instances, more than the %d a pipeline may run (each instance holds its own memory)", instances, MaxInstances)
	}
	for name, n := range f.Outputs {
		n := n
		path := "outputs." + name
		if !nameRE.MatchString(name) {
			probs.Add(path, &n, "%q is not a valid output name", name)
		}
		if c := s.good(decodeComponent(&n, path, KindSink, reg, false, dir, probs)); c != nil {
			s.Outputs[name] = c
		}
	}
	if f.OnError.DeadLetter.Kind != 0 {
		s.DeadLetter = s.good(decodeComponent(&f.OnError.DeadLetter, "on_error.dead_letter", KindSink, reg, false, dir, probs))
	}
	if f.OnError.Action == "dead_letter" && f.OnError.DeadLetter.Kind == 0 {
		probs.Add("on_error.dead_letter", find(root, "on_error.action"), "required when on_error.action is dead_letter")
	}
	return s, probs
}

// good returns c unless its settings have problems; a rejected c is kept
// in s for Check.
func (s *Spec) good(c *ComponentSpec) *ComponentSpec {
	if c == nil || c.bad {
		if c != nil {
			s.rejected = append(s.rejected, c)
		}
		return nil
	}
	return c
}

// resolvePaths makes the relative paths among ps relative to dir.
func resolvePaths(ps []confyaml.PathField, dir string) []confyaml.PathField {
	if dir == "" || dir == "." {
		return ps
	}
	for _, p := range ps {
		if *p.Value != "" && !filepath.IsAbs(*p.Value) {
			*p.Value = filepath.Join(dir, *p.Value)
		}
	}
	return ps
}

// decodeComponent decodes a "name: {settings}" node (with an optional
// "name:" label beside it for operators).
func decodeComponent(n *yaml.Node, path string, kind Kind, reg *Registry, labelled bool, dir string, probs *confyaml.Problems) *ComponentSpec {
	if n.Kind != yaml.MappingNode {
		probs.Add(path, n, "want '%s-name: {settings}', found %s", kind, nodeKind(n))
		return nil
	}
	var label string
	var key, val *yaml.Node
	count := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if labelled && k.Value == "name" {
			label = v.Value
			if !nameRE.MatchString(label) {
				probs.Add(path+".name", v, "%q is not a valid operator name", label)
			}
			continue
		}
		count++
		key, val = k, v
	}
	known := reg.Names(kind)
	switch {
	case count == 0:
		probs.Add(path, n, "no %s given (known: %v)", kind, known)
		return nil
	case count > 1:
		probs.Add(path, n, "give exactly one %s, found %d keys", kind, count)
		return nil
	}
	comp, ok := reg.Lookup(kind, key.Value)
	if !ok {
		probs.Add(path+"."+key.Value, key, "unknown %s%s", kind, confyaml.Suggest(key.Value, known))
		return nil
	}
	cpath := path + "." + key.Value
	cfg := reflect.New(comp.Config).Interface()
	if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
		val = nil // "stdout:" with no settings
	}
	before := len(probs.List)
	confyaml.Decode(val, cfg, cpath, probs)
	if len(probs.List) > before {
		// Kept for its name (duplicate operator names are still found)
		// and the files it names, left out of the spec.
		return &ComponentSpec{Path: cpath, Name: key.Value, Label: label, bad: true, paths: resolvePaths(confyaml.Paths(cfg, val, cpath), dir)}
	}
	loc := val
	if loc == nil {
		loc = key
	}
	paths := resolvePaths(confyaml.Paths(cfg, val, cpath), dir)
	return &ComponentSpec{Path: cpath, Name: key.Value, Label: label, Config: cfg, comp: comp, node: loc, paths: paths}
}

func find(n *yaml.Node, dotted string) *yaml.Node { return confyaml.Find(n, dotted) }

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.SequenceNode:
		return "a list"
	}
	return "nothing"
}
