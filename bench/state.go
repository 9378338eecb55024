package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// State read throughput: examples/wasm/statebench's operator, for each
// record, reads counters of the record's key through the state_get import.
// It runs through the real host (host.Engine, an Instance whose state.Txn
// belongs to a runtime/state store in a directory of its own) with the
// cache warm: a first pass puts every counter, a checkpoint moves them from
// the write cache to the read cache, as a running pipeline's checkpoints
// do, and a second pass reads each once before anything is timed.

// StateOptions shape the state read workload.
type StateOptions struct {
	Keys     int // distinct record keys (default 10,000)
	Reads    int // state_get calls per record (default 10)
	Counters int // counters per key, read in turn (default 10, at most 16)
	Batch    int // records per process call (default 1000)
}

func (o *StateOptions) defaults() {
	if o.Keys <= 0 {
		o.Keys = 10000
	}
	if o.Reads <= 0 {
		o.Reads = 10
	}
	if o.Counters <= 0 {
		o.Counters = 10
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
}

// StateEnv holds the engine and the statebench module of every guest
// language whose toolchain is installed.
type StateEnv struct {
	Engine  *host.Engine
	Modules map[string]*host.Module // language → compiled statebench module
	Langs   []string                // the languages of Modules, in guestbuild order
	Skipped []error                 // guests whose toolchain is missing
}

// NewStateEnv builds examples/wasm/statebench/<language> for the languages
// asked for (all when langs is empty) into dir and compiles them. root is
// the repository root. A guest whose toolchain is missing is listed in
// Skipped; any other build failure is an error.
func NewStateEnv(ctx context.Context, root, dir string, langs ...string) (*StateEnv, error) {
	e, err := host.NewEngine(ctx, host.WithCacheDir(filepath.Join(dir, "wazero")))
	if err != nil {
		return nil, err
	}
	env := &StateEnv{Engine: e, Modules: map[string]*host.Module{}}
	for _, g := range guestbuild.Guests(filepath.Join(root, "examples", "wasm", "statebench")) {
		if len(langs) > 0 && !slices.Contains(langs, g.Lang) {
			continue
		}
		path := filepath.Join(dir, "statebench-"+g.Lang+".wasm")
		err := guestbuild.Build(g.Dir, path)
		if errors.Is(err, guestbuild.ErrNoToolchain) {
			env.Skipped = append(env.Skipped, err)
			continue
		}
		if err == nil {
			env.Modules[g.Lang], err = e.Load(ctx, path)
		}
		if err != nil {
			e.Close(ctx)
			return nil, err
		}
		env.Langs = append(env.Langs, g.Lang)
	}
	return env, nil
}

// Close releases the engine; every StateReader must be closed first.
func (e *StateEnv) Close(ctx context.Context) error { return e.Engine.Close(ctx) }

// stateCounters receives the guest's metric_add calls.
type stateCounters struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *stateCounters) Add(name string, delta int64) {
	c.mu.Lock()
	c.m[name] += delta
	c.mu.Unlock()
}

func (c *stateCounters) get(name string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

// StateReader is one instance of a statebench module over a store of its
// own, warmed up: every counter written, checkpointed and read once.
type StateReader struct {
	opts     StateOptions
	store    *state.Store
	inst     *host.Instance
	counters *stateCounters
	frames   [][]byte // the keys, Batch records per frame
	next     int      // the frame Batch processes next
}

// OpenStateReader instantiates a language's statebench module over a new
// store in dir and warms the store's cache.
func (e *StateEnv) OpenStateReader(ctx context.Context, lang, dir string, o StateOptions) (*StateReader, error) {
	o.defaults()
	m, ok := e.Modules[lang]
	if !ok {
		return nil, fmt.Errorf("bench: no %s statebench guest", lang)
	}
	s, _, err := state.Open(state.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	r := &StateReader{opts: o, store: s, counters: &stateCounters{m: map[string]int64{}}}
	r.inst, err = m.Instantiate(ctx, host.InstanceConfig{
		Pipeline: "statebench", Operator: "statebench",
		MemoryLimit: 64 << 20, Deadline: 10 * time.Second,
		Init: &abi.InitConfig{Pipeline: "statebench", Operator: "statebench",
			Params: map[string]any{"reads": int64(o.Reads), "counters": int64(o.Counters)}},
		Metrics: r.counters,
		State:   s.NewTxn("statebench"),
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	r.frames = stateFrames(o)
	// The first pass puts every counter: Counters misses per key.
	if err := r.pass(int64(o.Keys * o.Counters)); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("first pass: %w", err)
	}
	if _, err := s.Checkpoint("statebench", nil); err != nil {
		r.Close(ctx)
		return nil, err
	}
	// The second reads each entry into the read cache.
	if err := r.pass(0); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("warm-up pass: %w", err)
	}
	return r, nil
}

// stateFrames encodes Keys records, keyed k00000, k00001, …, into frames
// of Batch records.
func stateFrames(o StateOptions) [][]byte {
	var frames [][]byte
	for start := 0; start < o.Keys; start += o.Batch {
		recs := make([]abi.Record, min(o.Batch, o.Keys-start))
		for i := range recs {
			recs[i] = abi.Record{Key: fmt.Appendf(nil, "k%05d", start+i), Timestamp: 1}
		}
		frames = append(frames, abi.AppendFrame(nil, recs))
	}
	return frames
}

// ReadsPerPass is the number of state reads one pass over the keys makes.
func (r *StateReader) ReadsPerPass() int64 { return int64(r.opts.Keys * r.opts.Reads) }

// pass processes every frame once and checks what the guest counted.
func (r *StateReader) pass(wantMisses int64) error {
	reads, misses, sum := r.counters.get("reads"), r.counters.get("misses"), r.counters.get("sum")
	for range r.frames {
		if err := r.Batch(); err != nil {
			return err
		}
	}
	dr, dm, ds := r.counters.get("reads")-reads, r.counters.get("misses")-misses, r.counters.get("sum")-sum
	if dr != r.ReadsPerPass() || dm != wantMisses || ds != dr-dm {
		return fmt.Errorf("bench: the guest counted %d reads, %d misses and a sum of %d; want %d reads, %d misses and a sum of %d",
			dr, dm, ds, r.ReadsPerPass(), wantMisses, r.ReadsPerPass()-wantMisses)
	}
	return nil
}

// Pass processes every key once (ReadsPerPass reads) and checks that every
// read found its counter.
func (r *StateReader) Pass() error { return r.pass(0) }

// Batch processes the next frame of Batch records: Batch×Reads reads.
func (r *StateReader) Batch() error {
	f := r.frames[r.next]
	r.next = (r.next + 1) % len(r.frames)
	out, err := r.inst.ProcessFrame(f)
	if err != nil {
		return err
	}
	var fr abi.FrameReader
	if err := fr.Reset(out); err != nil || fr.Remaining() != 0 {
		return fmt.Errorf("bench: the statebench guest's output is not an empty frame (%v)", err)
	}
	return nil
}

// ReadsPerBatch is the number of state reads one Batch call makes (the last
// frame may be shorter when Keys is not a multiple of Batch).
func (r *StateReader) ReadsPerBatch() int64 { return int64(r.opts.Batch * r.opts.Reads) }

// Measure times passes over the keys and returns state reads per second.
func (r *StateReader) Measure(passes int) (float64, error) {
	start := time.Now()
	for range passes {
		if err := r.Pass(); err != nil {
			return 0, err
		}
	}
	return float64(int64(passes)*r.ReadsPerPass()) / time.Since(start).Seconds(), nil
}

// Close releases the instance and the store.
func (r *StateReader) Close(ctx context.Context) error {
	err := r.inst.Close(ctx)
	if cerr := r.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// TxnReader makes the same reads as the statebench guest directly on a
// state.Txn from Go, with no Wasm in between: the floor the store sets,
// against which a guest's figure shows what the host call costs.
type TxnReader struct {
	opts  StateOptions
	store *state.Store
	txn   *state.Txn
	keys  [][]byte
	names [][]byte
	next  int // the first key Batch reads
}

// OpenTxnReader opens a store in dir with the statebench guest's counters
// in its read cache.
func OpenTxnReader(dir string, o StateOptions) (*TxnReader, error) {
	o.defaults()
	s, _, err := state.Open(state.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	r := &TxnReader{opts: o, store: s, txn: s.NewTxn("statebench")}
	for i := range o.Counters {
		r.names = append(r.names, fmt.Appendf(nil, "c%d", i))
	}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	r.txn.Begin()
	for i := range o.Keys {
		r.keys = append(r.keys, fmt.Appendf(nil, "k%05d", i))
		for _, n := range r.names {
			if err := r.txn.Put(state.ScopeKey, r.keys[i], n, one, 0); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	r.txn.Commit()
	if _, err := s.Checkpoint("statebench", nil); err != nil {
		s.Close()
		return nil, err
	}
	if err := r.Pass(); err != nil {
		s.Close()
		return nil, err
	}
	return r, nil
}

// ReadsPerPass is the number of reads one pass makes.
func (r *TxnReader) ReadsPerPass() int64 { return int64(r.opts.Keys * r.opts.Reads) }

// Pass reads every key's counters as the guest does, and checks them.
func (r *TxnReader) Pass() error {
	var sum int64
	for range (len(r.keys) + r.opts.Batch - 1) / r.opts.Batch {
		n, err := r.Batch()
		if err != nil {
			return err
		}
		sum += n
	}
	if sum != r.ReadsPerPass() {
		return fmt.Errorf("bench: read a sum of %d, want %d", sum, r.ReadsPerPass())
	}
	return nil
}

// Batch reads the counters of the next Batch keys between a Begin and a
// Commit, as the host does around a process call, and returns their sum.
func (r *TxnReader) Batch() (int64, error) {
	keys := r.keys[r.next:min(r.next+r.opts.Batch, len(r.keys))]
	if r.next += len(keys); r.next == len(r.keys) {
		r.next = 0
	}
	var sum int64
	r.txn.Begin()
	defer r.txn.Commit()
	for _, k := range keys {
		for j := range r.opts.Reads {
			name := r.names[j%len(r.names)]
			v, ok, err := r.txn.Get(state.ScopeKey, k, name)
			if err != nil {
				return 0, err
			}
			if !ok || len(v) != 8 {
				return 0, fmt.Errorf("bench: counter %s of %s missing", name, k)
			}
			sum += int64(binary.LittleEndian.Uint64(v))
		}
	}
	return sum, nil
}

// ReadsPerBatch is the number of reads one Batch call makes.
func (r *TxnReader) ReadsPerBatch() int64 { return int64(r.opts.Batch * r.opts.Reads) }

// Measure times passes and returns reads per second.
func (r *TxnReader) Measure(passes int) (float64, error) {
	start := time.Now()
	for range passes {
		if err := r.Pass(); err != nil {
			return 0, err
		}
	}
	return float64(int64(passes)*r.ReadsPerPass()) / time.Since(start).Seconds(), nil
}

// Close closes the store.
func (r *TxnReader) Close() error { return r.store.Close() }
