package runtime

import (
	"context"
	"fmt"
	"reflect"
	"sort"

	"github.com/wasmstream/wasmstream/runtime/internal/confyaml"
)

// Kind is what a component does in a pipeline.
type Kind int

// Component kinds.
const (
	KindSource Kind = iota + 1
	KindSink
	KindOperator
	// KindState is not a component: StageErrors of the state store and
	// its checkpoints carry it.
	KindState
)

func (k Kind) String() string {
	switch k {
	case KindSource:
		return "source"
	case KindSink:
		return "sink"
	case KindOperator:
		return "operator"
	case KindState:
		return "state"
	case KindAsync:
		return "async target"
	}
	return "component"
}

// OperatorFactory builds the instances of one operator in a pipeline: New is
// called once per instance (Parallelism times), from any goroutine, and
// Close once after every instance has been closed.
type OperatorFactory interface {
	New(ctx context.Context, env OperatorEnv) (Operator, error)
	Close(ctx context.Context) error
}

// OperatorSettings are the settings every operator accepts. Embed it in an
// operator's config struct with `yaml:",inline"`.
type OperatorSettings struct {
	Parallelism int            `yaml:"parallelism" default:"1" doc:"How many instances run this operator. Records are routed to an instance by a hash of their key, so records with one key always meet the same instance, in order; unkeyed records are spread round robin, except into an operator that keeps state, where they share the nil key's state and all go to one instance."`
	Async       *AsyncSettings `yaml:"async" doc:"Async I/O: the targets the operator may send requests to (HTTP, Redis, SQL) and how requests run. See docs/async.md."`
	KeyBy       *KeyBy         `yaml:"key_by" doc:"What the engine keys each record by before routing it to an instance; without it a record keeps its key. {json: PATH}: a field of the JSON value, keys joined by dots, array indexes in decimal (user.name, items.0.id); a string keys by its text, escapes decoded, any other value by its JSON text as written. {header: NAME}: that header's value. A record that is not valid JSON, lacks the field or header, or has null there is unkeyed (counted as unkeyed in the operator's stats, with a warning at the first). An operator that keeps keyed state at parallelism above 1 must key records here, not change r.Key itself: a state write for a key another instance owns is refused."`
}

func (s *OperatorSettings) operatorSettings() *OperatorSettings { return s }

type operatorConfig interface{ operatorSettings() *OperatorSettings }

// Component describes one registered source, sink or operator: its name in
// pipeline files, its documentation and its config struct.
type Component struct {
	Kind    Kind
	Name    string
	Summary string
	// Config is the type of the component's config struct, whose field
	// tags document and validate it (see Registry).
	Config reflect.Type

	build func(cfg any) (any, error)
}

// Fields documents the component's config keys.
func (c *Component) Fields() []confyaml.FieldDoc { return confyaml.Describe(c.Config) }

// Registry maps component names to implementations. Each connector package
// adds itself with a Register function; nothing registers itself in init.
// A Registry is not safe for concurrent modification; read concurrently
// once filled.
//
// A config struct is a plain Go struct whose fields carry tags:
// yaml:"key", default:"value", required:"true", oneof:"a|b" and doc:"text".
// If *C implements Validate() error it is called after decoding; return
// FieldError values (joined with errors.Join) to point at fields.
type Registry struct {
	comps map[Kind]map[string]*Component
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{comps: map[Kind]map[string]*Component{}}
}

func (r *Registry) add(c *Component) {
	if c.Config.Kind() != reflect.Struct {
		panic(fmt.Sprintf("wasmstream: %s %q: config must be a struct, got %s", c.Kind, c.Name, c.Config))
	}
	m := r.comps[c.Kind]
	if m == nil {
		m = map[string]*Component{}
		r.comps[c.Kind] = m
	}
	if _, dup := m[c.Name]; dup {
		panic(fmt.Sprintf("wasmstream: %s %q registered twice", c.Kind, c.Name))
	}
	m[c.Name] = c
}

// AddSource registers a source. build receives the decoded, validated
// config and must not do I/O (Open does).
func AddSource[C any](r *Registry, name, summary string, build func(*C) (Source, error)) {
	r.add(&Component{Kind: KindSource, Name: name, Summary: summary, Config: reflect.TypeFor[C](),
		build: func(cfg any) (any, error) { return build(cfg.(*C)) }})
}

// AddSink registers a sink. build must not do I/O (Open does).
func AddSink[C any](r *Registry, name, summary string, build func(*C) (Sink, error)) {
	r.add(&Component{Kind: KindSink, Name: name, Summary: summary, Config: reflect.TypeFor[C](),
		build: func(cfg any) (any, error) { return build(cfg.(*C)) }})
}

// AddOperator registers an operator. C should embed OperatorSettings inline
// to accept a parallelism.
func AddOperator[C any](r *Registry, name, summary string, build func(*C) (OperatorFactory, error)) {
	r.add(&Component{Kind: KindOperator, Name: name, Summary: summary, Config: reflect.TypeFor[C](),
		build: func(cfg any) (any, error) { return build(cfg.(*C)) }})
}

// Lookup returns the component of kind k named name.
func (r *Registry) Lookup(k Kind, name string) (*Component, bool) {
	c, ok := r.comps[k][name]
	return c, ok
}

// Names lists the registered names of kind k, sorted.
func (r *Registry) Names(k Kind) []string {
	names := make([]string, 0, len(r.comps[k]))
	for n := range r.comps[k] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Components lists the components of kind k, sorted by name.
func (r *Registry) Components(k Kind) []*Component {
	var out []*Component
	for _, n := range r.Names(k) {
		out = append(out, r.comps[k][n])
	}
	return out
}
