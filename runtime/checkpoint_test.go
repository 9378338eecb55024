package runtime_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// idleSource returns n records, one per Read, then blocks until its
// context ends, like a watched directory with no new file. Its position is
// the number of records read.
type idleSource struct {
	n, next int
}

func (s *idleSource) Open(ctx context.Context, env runtime.Env) error {
	if len(env.Position) == 8 {
		s.next = int(binary.BigEndian.Uint64(env.Position))
	}
	return nil
}
func (s *idleSource) Close(ctx context.Context) error { return nil }
func (s *idleSource) Position() ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(s.next)), nil
}
func (s *idleSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.next < s.n {
		s.next++
		return []runtime.Record{{Key: []byte(fmt.Sprint(s.next % 3)), Value: []byte("x")}}, func(error) {}, nil
	}
	<-ctx.Done()
	return nil, nil, ctx.Err()
}

// countFactory counts records per key in keyed state.
type countFactory struct{}

func (countFactory) Stateful() bool                  { return true }
func (countFactory) Close(ctx context.Context) error { return nil }
func (countFactory) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	return &countOp{tx: env.State.NewTxn(env.Operator)}, nil
}

type countOp struct{ tx *state.Txn }

func (o *countOp) Close(ctx context.Context) error { return nil }
func (o *countOp) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	o.tx.Begin()
	for _, r := range in {
		if _, err := o.tx.Add(state.ScopeKey, r.Key, []byte("n"), 1); err != nil {
			o.tx.Reset()
			return nil, err
		}
	}
	o.tx.Commit()
	return append(out, in...), nil
}

// TestCheckpointsWhileTheSourceIdles: a source blocked waiting for data
// does not hold up checkpoints or savepoints; the pipeline interrupts its
// Read, checkpoints, and reads on.
func TestCheckpointsWhileTheSourceIdles(t *testing.T) {
	reg := testRegistry(nil)
	runtime.AddOperator(reg, "count", "keyed counter", func(*struct {
		runtime.OperatorSettings `yaml:",inline"`
	}) (runtime.OperatorFactory, error) {
		return countFactory{}, nil
	})
	dir := t.TempDir()
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: idle
data_dir: %q
batch: {size: 10, linger: 1ms}
source: {test: {}}
operators: [{name: count, count: {parallelism: 2}}]
sink: {test: {}}
state: {checkpoint_interval: 50ms, query: "off"}
`, dir)), reg)
	if err != nil {
		t.Fatal(err)
	}
	src := &idleSource{n: 30}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(&memSink{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// A checkpoint after the 30 records, though the source then idles.
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Checkpoints == 0 || p.Stats().Acked < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint while the source idled: %+v", p.Stats())
		}
		time.Sleep(10 * time.Millisecond) // polling Stats: there is no event to wait on
	}
	st := p.Store(ctx)
	deadline = time.Now().Add(10 * time.Second)
	for {
		v, _, ok, err := st.Lookup("count", state.ScopeKey, []byte("0"), []byte("n"), false)
		if err != nil {
			t.Fatal(err)
		}
		if ok && len(v) == 8 && binary.LittleEndian.Uint64(v) == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoint does not hold all 30 records")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A savepoint is answered while the source idles.
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	meta, err := p.Savepoint(sctx, filepath.Join(t.TempDir(), "sp"))
	if err != nil {
		t.Fatalf("savepoint while idle: %v", err)
	}
	if meta.ID == 0 {
		t.Fatalf("savepoint meta %+v", meta)
	}
}

// failingPositionSource is an endless positioned source whose Position
// fails, so the failing checkpoint is the reader's, between two reads.
type failingPositionSource struct{ next int }

func (s *failingPositionSource) Open(ctx context.Context, env runtime.Env) error { return nil }
func (s *failingPositionSource) Close(ctx context.Context) error                 { return nil }
func (s *failingPositionSource) Position() ([]byte, error) {
	return nil, errors.New("position file unreadable")
}
func (s *failingPositionSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	s.next++
	return []runtime.Record{{Key: []byte("k"), Value: []byte("x")}}, func(error) {}, nil
}

// TestCheckpointFailureIsAStateError guards issue #8 item 6: a checkpoint
// that failed (here the source's Position) came back as a source failure,
// exit 4. It wraps ErrCheckpoint, which the command maps to exit 7.
func TestCheckpointFailureIsAStateError(t *testing.T) {
	reg := testRegistry(nil)
	runtime.AddOperator(reg, "count", "keyed counter", func(*struct {
		runtime.OperatorSettings `yaml:",inline"`
	}) (runtime.OperatorFactory, error) {
		return countFactory{}, nil
	})
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: failing
data_dir: %q
batch: {size: 1, linger: 1ms}
source: {test: {}}
operators: [{name: count, count: {}}]
sink: {test: {}}
state: {checkpoint_interval: 10ms, query: "off"}
`, t.TempDir())), reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtime.Build(spec, runtime.WithSource(&failingPositionSource{}), runtime.WithSink(&memSink{}))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(t.Context())
	var se *runtime.StageError
	if !errors.Is(err, runtime.ErrCheckpoint) || !strings.Contains(err.Error(), "position file unreadable") || !errors.As(err, &se) || se.Kind != runtime.KindState {
		t.Fatalf("run: %v, want a state StageError wrapping ErrCheckpoint with the cause", err)
	}
}

// TestOwnedKeysMatchRouting guards issue #8 item 4: with OwnedKeys, each
// instance may write exactly the keys the router sends it, so no two
// instances write one key's state.
func TestOwnedKeysMatchRouting(t *testing.T) {
	st, _, err := state.Open(state.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const groups, parallelism = 128, 3
	txns := make([]*state.Txn, parallelism)
	for i := range txns {
		txns[i] = st.NewTxn("op", runtime.OwnedKeys(groups, parallelism, i))
		txns[i].Begin()
	}
	keys := [][]byte{nil, []byte("")}
	for i := range 300 {
		keys = append(keys, fmt.Appendf(nil, "key-%d", i))
	}
	for _, k := range keys {
		owner := runtime.InstanceFor(runtime.KeyGroup(k, groups), groups, parallelism)
		for i, tx := range txns {
			err := tx.Put(state.ScopeKey, k, []byte("v"), []byte("x"), 0)
			if (i == owner) != (err == nil) || (err != nil && !errors.Is(err, state.ErrNotOwned)) {
				t.Fatalf("instance %d writing %q (owner %d): %v", i, k, owner, err)
			}
		}
	}
	one := st.NewTxn("op", runtime.OwnedKeys(groups, 1, 0))
	one.Begin()
	if err := one.Put(state.ScopeKey, []byte("any"), []byte("v"), []byte("x"), 0); err != nil {
		t.Fatalf("a single instance: %v", err)
	}
}
