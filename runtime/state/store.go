// Package state is wasmstream's keyed state: an embedded, durable store in
// the pipeline's data directory, with an in-memory write cache, consistent
// checkpoints of state and source positions, retained checkpoints and
// savepoints, and reads for queries from outside.
//
// # Design
//
// State lives in Pebble, an LSM key-value store in pure Go (the role RocksDB
// plays in Flink): state larger than memory works, reads of cold keys cost
// one lookup, and a checkpoint of the store is a set of hard links rather
// than a copy. Between checkpoints, writes go only to an in-memory write
// cache; a checkpoint commits the cache and the source's position in one
// atomic, synced Pebble batch. The store on disk therefore always holds
// exactly the last checkpoint: after a crash, reopening it and replaying
// the source from the position it holds gives the state a clean run gives.
//
// Reads go to the write cache, then a bounded cache of clean values, then
// Pebble. Each call into an operator writes through a Txn, applied only if
// the call succeeds, so a failed batch leaves no trace in state.
//
// Keys are encoded so that one operator's state, and each record key's
// names, are contiguous and ordered: listing keys by prefix is a range
// scan. State is not partitioned by operator instance: every instance of
// an operator in the process shares the store, so changing an operator's
// parallelism between runs moves no state (instances find their keys by
// the same key groups the router uses).
package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Scopes of state, as in abi/SPEC.md.
const (
	ScopeKey      = 0 // the current record's key
	ScopeOperator = 1 // the operator as a whole
)

// Errors.
var (
	// ErrTooLarge: a value over Options.MaxValue.
	ErrTooLarge = errors.New("state value too large")
	// ErrCorrupt: the data directory cannot be read as a state store.
	ErrCorrupt = errors.New("state store corrupt")
	// ErrNotCounter: state_add on a value that is not an 8-byte counter.
	ErrNotCounter = errors.New("state value is not a counter")
)

// Options configure a Store.
type Options struct {
	// Dir is the store's directory (the pipeline's data directory/state).
	Dir string
	// CacheBytes bounds the clean-value read cache (default 64 MiB).
	CacheBytes int64
	// DirtyBytes is how much the write cache may hold before the store asks
	// for an early checkpoint (default 64 MiB; see NeedsCheckpoint).
	DirtyBytes int64
	// MaxValue bounds one value (default 1 MiB).
	MaxValue int
	// Retain is how many checkpoints are kept under Dir/checkpoints
	// (default 3).
	Retain int
	// OnCorrupt says what to do when the live store cannot be opened:
	// "fail" (default) refuses to start, naming the path; "checkpoint"
	// restores the newest valid retained checkpoint; "empty" starts empty.
	OnCorrupt string
	// FromSavepoint, when set, replaces the store with a copy of this
	// savepoint (or checkpoint) directory before opening it.
	FromSavepoint string
	// Logger receives warnings about skipped checkpoints.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.CacheBytes <= 0 {
		o.CacheBytes = 64 << 20
	}
	if o.DirtyBytes <= 0 {
		o.DirtyBytes = 64 << 20
	}
	if o.MaxValue <= 0 {
		o.MaxValue = 1 << 20
	}
	if o.Retain <= 0 {
		o.Retain = 3
	}
	if o.OnCorrupt == "" {
		o.OnCorrupt = "fail"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is a pipeline's state. Safe for concurrent use.
type Store struct {
	opts   Options
	db     *pebble.DB
	live   string
	shards [nShards]shard
	dirty  atomic.Int64 // bytes in write caches
	clean  atomic.Int64 // bytes in read caches

	// readMu lets Close wait for queries in progress (Lookup, List) and
	// makes later ones fail with ErrClosed instead of touching a closed
	// store.
	readMu sync.RWMutex
	closed bool

	ckptMu  sync.Mutex // one checkpoint at a time
	meta    Meta       // the last checkpoint's
	copyWG  sync.WaitGroup
	copyErr error
}

// Meta describes a checkpoint.
type Meta struct {
	ID       uint64    `json:"id"`
	Time     time.Time `json:"time"`
	Pipeline string    `json:"pipeline,omitempty"`
	Keys     int64     `json:"keys"` // entries written by this checkpoint
}

const nShards = 64

type shard struct {
	mu    sync.RWMutex
	dirty map[string]entry // written since the last checkpoint
	clean map[string]entry // read cache: what Pebble holds
	cb    int64            // bytes in clean
}

// entry is a value with its expiry (Unix ms, 0 for none); absent marks a
// deletion in the write cache or a known miss in the read cache.
type entry struct {
	val    []byte
	expiry int64
	absent bool
}

func (e entry) size(k string) int64 { return int64(len(k) + len(e.val) + 48) }

func (e entry) live(now int64) bool { return !e.absent && (e.expiry == 0 || e.expiry > now) }

// Reserved keys of the Pebble store (state keys start with 's' or 'o').
var (
	metaKey     = []byte("m/checkpoint")
	positionKey = []byte("m/position")
)

// Open opens or creates the store in opts.Dir. It returns the position the
// source should resume from: nil when the store has no checkpoint yet.
func Open(opts Options) (*Store, []byte, error) {
	opts.defaults()
	s := &Store{opts: opts, live: filepath.Join(opts.Dir, "live")}
	for i := range s.shards {
		s.shards[i].dirty = map[string]entry{}
		s.shards[i].clean = map[string]entry{}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating state directory: %w", err)
	}
	if opts.FromSavepoint != "" {
		if _, err := validCheckpoint(opts.FromSavepoint); err != nil {
			return nil, nil, fmt.Errorf("starting from savepoint: %w", err)
		}
		if err := s.replaceLive(opts.FromSavepoint); err != nil {
			return nil, nil, err
		}
	} else if _, err := os.Stat(s.live); errors.Is(err, os.ErrNotExist) {
		// No live store: restore the newest checkpoint, if any (a deleted
		// live directory), else start empty.
		if dir, err := s.newestCheckpoint(); err == nil && dir != "" {
			opts.Logger.Warn("state: no live store; restoring the newest checkpoint", "checkpoint", dir)
			if err := s.replaceLive(dir); err != nil {
				return nil, nil, err
			}
		}
	}
	pos, err := s.openLive()
	if err != nil {
		return nil, nil, err
	}
	return s, pos, nil
}

func pebbleOptions() *pebble.Options {
	o := &pebble.Options{ErrorIfNotPristine: false}
	o.Logger = quietLogger{}
	return o
}

// quietLogger drops Pebble's informational messages.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("state store: "+format, args...))
}

// openLive opens the live store, handling corruption per OnCorrupt.
func (s *Store) openLive() ([]byte, error) {
	db, pos, meta, err := openDB(s.live)
	if err != nil {
		corrupt := fmt.Errorf("%w: %s: %v", ErrCorrupt, s.live, err)
		switch s.opts.OnCorrupt {
		case "checkpoint":
			dir, cerr := s.newestCheckpoint()
			if cerr != nil || dir == "" {
				return nil, fmt.Errorf("%w; and no valid checkpoint to restore", corrupt)
			}
			s.opts.Logger.Error("state: live store corrupt; restoring the newest valid checkpoint", "err", err, "checkpoint", dir)
			if err := s.moveAside(); err != nil {
				return nil, err
			}
			if err := s.replaceLive(dir); err != nil {
				return nil, err
			}
		case "empty":
			s.opts.Logger.Error("state: live store corrupt; starting empty as configured", "err", err)
			if err := s.moveAside(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w (set state.on_corrupt to \"checkpoint\" to restore the newest valid checkpoint, or \"empty\" to start without state)", corrupt)
		}
		if db, pos, meta, err = openDB(s.live); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, s.live, err)
		}
	}
	s.db, s.meta = db, meta
	// Started from a savepoint (or an older checkpoint), the store's
	// checkpoint id may be below those retained in this directory: number
	// on after them, so retention keeps the newest.
	if names, err := checkpointNames(s.checkpointsDir()); err == nil && len(names) > 0 {
		var newest uint64
		if _, err := fmt.Sscan(names[len(names)-1], &newest); err == nil && newest > s.meta.ID {
			s.meta.ID = newest
		}
	}
	return pos, nil
}

func openDB(dir string) (*pebble.DB, []byte, Meta, error) {
	var meta Meta
	db, err := pebble.Open(dir, pebbleOptions())
	if err != nil {
		return nil, nil, meta, err
	}
	var pos []byte
	if v, c, err := db.Get(metaKey); err == nil {
		err = json.Unmarshal(v, &meta)
		c.Close()
		if err != nil {
			db.Close()
			return nil, nil, meta, fmt.Errorf("checkpoint record: %v", err)
		}
		if p, c, err := db.Get(positionKey); err == nil {
			pos = bytes.Clone(p)
			c.Close()
		} else if !errors.Is(err, pebble.ErrNotFound) {
			db.Close()
			return nil, nil, meta, err
		} else {
			pos = []byte{}
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		db.Close()
		return nil, nil, meta, err
	}
	return db, pos, meta, nil
}

func (s *Store) moveAside() error {
	aside := fmt.Sprintf("%s.corrupt-%d", s.live, time.Now().UnixNano())
	if err := os.Rename(s.live, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("moving the corrupt store aside: %w", err)
	}
	s.opts.Logger.Warn("state: corrupt store kept for inspection", "path", aside)
	return nil
}

// replaceLive replaces the live store with a copy of a checkpoint.
func (s *Store) replaceLive(from string) error {
	tmp := s.live + ".restore"
	os.RemoveAll(tmp)
	if err := copyDir(from, tmp); err != nil {
		return fmt.Errorf("restoring %s: %w", from, err)
	}
	os.Remove(filepath.Join(tmp, checkpointFile))
	if err := os.RemoveAll(s.live); err != nil {
		return err
	}
	return os.Rename(tmp, s.live)
}

// LastCheckpoint describes the checkpoint the store holds (ID 0: none).
func (s *Store) LastCheckpoint() Meta {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	return s.meta
}

// Close waits for a retained checkpoint being written and closes the store.
// What the write cache holds since the last checkpoint is dropped: the
// caller checkpoints first when the pipeline drained cleanly.
func (s *Store) Close() error {
	s.copyWG.Wait()
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// ErrClosed is returned by reads of a closed store.
var ErrClosed = errors.New("state store closed")

// reading guards a query against Close: call done when finished.
func (s *Store) reading() (done func(), err error) {
	s.readMu.RLock()
	if s.closed {
		s.readMu.RUnlock()
		return nil, ErrClosed
	}
	return s.readMu.RUnlock, nil
}

// NeedsCheckpoint reports whether the write cache has grown past
// Options.DirtyBytes.
func (s *Store) NeedsCheckpoint() bool { return s.dirty.Load() >= s.opts.DirtyBytes }

// MaxValue is the largest value a put accepts.
func (s *Store) MaxValue() int { return s.opts.MaxValue }

func (s *Store) shard(k string) *shard {
	return &s.shards[maphash.String(shardSeed, k)%nShards]
}

// shardSeed seeds the shard hash; shards need only spread keys within one
// process.
var shardSeed = maphash.MakeSeed()

// get reads a key's entry: write cache, read cache, then Pebble.
func (s *Store) get(k []byte) (entry, error) {
	sh := s.shard(string(k))
	sh.mu.RLock()
	e, ok := sh.dirty[string(k)]
	if !ok {
		e, ok = sh.clean[string(k)]
	}
	sh.mu.RUnlock()
	if ok {
		return e, nil
	}
	e, err := s.load(k)
	if err != nil {
		return entry{}, err
	}
	sh.mu.Lock()
	if _, ok := sh.dirty[string(k)]; !ok {
		ks := string(k)
		if _, had := sh.clean[ks]; !had {
			sh.clean[ks] = e
			sh.cb += e.size(ks)
			s.clean.Add(e.size(ks))
			s.evict(sh)
		}
	}
	sh.mu.Unlock()
	return e, nil
}

// load reads a key from Pebble.
func (s *Store) load(k []byte) (entry, error) {
	v, c, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return entry{absent: true}, nil
	}
	if err != nil {
		return entry{}, fmt.Errorf("reading state: %w", err)
	}
	defer c.Close()
	return decodeValue(v)
}

// evict drops clean entries of a shard over its share of the cache.
func (s *Store) evict(sh *shard) {
	limit := s.opts.CacheBytes / nShards
	for k, e := range sh.clean { // map order is random: random eviction
		if sh.cb <= limit {
			return
		}
		delete(sh.clean, k)
		sh.cb -= e.size(k)
		s.clean.Add(-e.size(k))
	}
}

// apply moves a committed Txn's writes into the write cache.
func (s *Store) apply(w map[string]entry) {
	for k, e := range w {
		sh := s.shard(k)
		sh.mu.Lock()
		s.setDirty(sh, k, e)
		sh.mu.Unlock()
	}
}

// setDirty puts e in the write cache of shard sh (locked), in place of
// any cached entry of k.
func (s *Store) setDirty(sh *shard, k string, e entry) {
	if old, ok := sh.dirty[k]; ok {
		s.dirty.Add(-old.size(k))
	}
	if old, ok := sh.clean[k]; ok {
		delete(sh.clean, k)
		sh.cb -= old.size(k)
		s.clean.Add(-old.size(k))
	}
	sh.dirty[k] = e
	s.dirty.Add(e.size(k))
}

// addDelta adds delta to the counter at k as it is in the store now (see
// Txn.deltas).
func (s *Store) addDelta(k string, delta, expiry int64) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.dirty[k]
	if !ok {
		e, ok = sh.clean[k]
	}
	if !ok {
		var err error
		if e, err = s.load([]byte(k)); err != nil {
			e = entry{absent: true}
		}
	}
	var n int64
	if e.live(time.Now().UnixMilli()) && len(e.val) == 8 {
		n = int64(binary.LittleEndian.Uint64(e.val))
		expiry = e.expiry
	}
	s.setDirty(sh, k, entry{val: binary.LittleEndian.AppendUint64(make([]byte, 0, 8), uint64(n+delta)), expiry: expiry})
}

func encodeValue(dst []byte, e entry) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.expiry))
	return append(dst, e.val...)
}

func decodeValue(v []byte) (entry, error) {
	if len(v) < 8 {
		return entry{}, fmt.Errorf("%w: a value of %d bytes has no expiry header", ErrCorrupt, len(v))
	}
	return entry{expiry: int64(binary.BigEndian.Uint64(v)), val: bytes.Clone(v[8:])}, nil
}

// Checkpoint commits the write cache and the source position atomically,
// then writes a retained copy in the background (the next Checkpoint waits
// for it). It is called with the pipeline quiescent: no Txn commits while
// it runs.
func (s *Store) Checkpoint(pipeline string, position []byte) (Meta, error) {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.copyWG.Wait()
	if err := s.copyErr; err != nil {
		s.opts.Logger.Warn("state: the previous retained checkpoint failed", "err", err)
		s.copyErr = nil
	}
	meta := Meta{ID: s.meta.ID + 1, Time: time.Now().UTC(), Pipeline: pipeline}
	b := s.db.NewBatch()
	defer b.Close()
	now := time.Now().UnixMilli()
	var buf []byte
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for k, e := range sh.dirty {
			var err error
			if e.absent || (e.expiry != 0 && e.expiry <= now) {
				err = b.Delete([]byte(k), nil)
			} else {
				buf = encodeValue(buf[:0], e)
				err = b.Set([]byte(k), buf, nil)
			}
			if err != nil {
				sh.mu.RUnlock()
				return Meta{}, err
			}
			meta.Keys++
		}
		sh.mu.RUnlock()
	}
	mb, _ := json.Marshal(meta)
	if err := b.Set(metaKey, mb, nil); err != nil {
		return Meta{}, err
	}
	if position == nil {
		position = []byte{}
	}
	if err := b.Set(positionKey, position, nil); err != nil {
		return Meta{}, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return Meta{}, fmt.Errorf("committing checkpoint %d: %w", meta.ID, err)
	}
	// The write cache is now in Pebble: it becomes clean cache.
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.dirty {
			sh.clean[k] = e
			sh.cb += e.size(k)
			s.clean.Add(e.size(k))
		}
		clear(sh.dirty)
		s.evict(sh)
		sh.mu.Unlock()
	}
	s.dirty.Store(0)
	s.meta = meta
	s.copyWG.Add(1)
	go func() {
		defer s.copyWG.Done()
		s.copyErr = s.retain(meta)
	}()
	return meta, nil
}

// Savepoint waits for the retained copy of the last checkpoint and copies
// the store as of that checkpoint to dir, which must not exist.
func (s *Store) Savepoint(dir string) (Meta, error) {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.copyWG.Wait()
	if _, err := os.Stat(dir); err == nil {
		return Meta{}, fmt.Errorf("savepoint directory %s already exists", dir)
	}
	if err := s.writeCheckpoint(dir, s.meta); err != nil {
		return Meta{}, err
	}
	return s.meta, nil
}

// Position returns the source position of the last checkpoint (nil when
// there is none).
func (s *Store) Position() ([]byte, error) {
	v, c, err := s.db.Get(positionKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return bytes.Clone(v), nil
}

var _ io.Closer = (*Store)(nil)
