package runtime_test

import (
	"context"
	"sync"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// tallyFactory builds stateful operators that add 1 per record to a keyed
// counter and remember, per key, the largest total the store returned and
// which instances saw the key.
// addTally registers a "tally" operator, a keyed counter, in reg and
// returns its factory, which records the counts and the instances that
// saw each key.
func addTally(reg *runtime.Registry) *tallyFactory {
	f := &tallyFactory{total: map[string]int64{}, instances: map[string]map[int]bool{}}
	runtime.AddOperator(reg, "tally", "keyed counter", func(*struct {
		runtime.OperatorSettings `yaml:",inline"`
	}) (runtime.OperatorFactory, error) {
		return f, nil
	})
	return f
}

type tallyFactory struct {
	mu        sync.Mutex
	total     map[string]int64
	instances map[string]map[int]bool
}

func (f *tallyFactory) Stateful() bool                  { return true }
func (f *tallyFactory) Close(ctx context.Context) error { return nil }
func (f *tallyFactory) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	return &tallyOp{f: f, tx: env.State.NewTxn(env.Operator), instance: env.Instance}, nil
}

type tallyOp struct {
	f        *tallyFactory
	tx       *state.Txn
	instance int
}

func (o *tallyOp) Close(ctx context.Context) error { return nil }
func (o *tallyOp) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	o.tx.Begin()
	totals := map[string]int64{}
	for _, r := range in {
		v, err := o.tx.Add(state.ScopeKey, r.Key, []byte("n"), 1)
		if err != nil {
			o.tx.Reset()
			return nil, err
		}
		totals[string(r.Key)] = v
	}
	o.tx.Commit()
	o.f.mu.Lock()
	for k, v := range totals {
		o.f.total[k] = max(o.f.total[k], v)
		if o.f.instances[k] == nil {
			o.f.instances[k] = map[int]bool{}
		}
		o.f.instances[k][o.instance] = true
	}
	o.f.mu.Unlock()
	return append(out, in...), nil
}

// TestUnkeyedRecordsMeetOneStatefulInstance guards issue #8 item 4:
// unkeyed records were spread round robin over the instances of a stateful
// operator, which then raced on the nil key's state: with parallelism 2 a
// counter lost 550 of 20,000 increments. They now all go to the instance
// owning the empty key's key group, and the count is exact.
func TestUnkeyedRecordsMeetOneStatefulInstance(t *testing.T) {
	checkNoLeaks(t)
	const n = 20000
	reg := testRegistry(nil)
	f := addTally(reg)
	spec := parse(t, reg, `
pipeline: unkeyed
batch: {size: 100, linger: 1ms}
source: {test: {}}
operators: [{tally: {parallelism: 2}}]
sink: {test: {}}
state: {query: "off"}
`)
	recs := make([]runtime.Record, n)
	for i := range recs {
		recs[i] = runtime.Record{Value: []byte("x")}
	}
	p, err := runtime.Build(spec, runtime.WithSource(&memSource{recs: recs, chunk: 500}), runtime.WithSink(&memSink{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := f.total[""]; got != n {
		t.Errorf("the unkeyed counter is %d, want %d", got, n)
	}
	want := runtime.InstanceFor(runtime.KeyGroup(nil, spec.KeyGroups), spec.KeyGroups, 2)
	if len(f.instances[""]) != 1 || !f.instances[""][want] {
		t.Errorf("unkeyed records met instances %v, want only %d (the empty key's)", f.instances[""], want)
	}
}
