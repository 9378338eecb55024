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
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/wasmstream/wasmstream/internal/durable"
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
	// ErrCounterKind: an int add (state_add) on a float64 counter, or a
	// float add (state_add_f64) on an int counter.
	ErrCounterKind = errors.New("state counter is of the other kind")
	// ErrNotFinite: a float add whose delta, or result, is NaN or infinite.
	ErrNotFinite = errors.New("state float counter would not be finite")
	// ErrTxnTooLarge: one call's transaction would hold more than
	// Options.MaxTxnBytes (the host answers status -3 for the write).
	ErrTxnTooLarge = errors.New("state written by one call too large")
	// ErrNotOwned: a keyed write for a record key outside the key groups
	// of the instance that wrote it (see OwnedKeys).
	ErrNotOwned = errors.New("state key outside this instance's key groups")
	// ErrFailed: the store saw an error it cannot continue past (a failed
	// read in a commit, a Pebble background error, a failed retained
	// checkpoint); the next checkpoint fails with it.
	ErrFailed = errors.New("state store failed")
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
	// MaxTxnBytes bounds what one call's transaction may hold (default
	// 64 MiB): over it a write fails with ErrTxnTooLarge.
	MaxTxnBytes int64
	// SweepEntries bounds how many stored entries a checkpoint examines
	// for expired TTLs, which it deletes (default 20,000; each checkpoint
	// continues where the previous one stopped).
	SweepEntries int
	// Holder says what holds the store's lock while it is open, as other
	// processes see it: HolderRun for a running pipeline (default), or the
	// command reading it ("state", "savepoint").
	Holder string
	// LockWait is how long Open waits for a lock held by a holder that is
	// not a running pipeline (a state command) before failing with
	// ErrLocked (default 0: fail at once).
	LockWait time.Duration
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
	if o.MaxTxnBytes <= 0 {
		o.MaxTxnBytes = 64 << 20
	}
	if o.SweepEntries <= 0 {
		o.SweepEntries = 20_000
	}
	if o.Holder == "" {
		o.Holder = HolderRun
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
	ttl    atomic.Bool  // an entry with a TTL was written (see Meta.NoTTL)
	clean  atomic.Int64 // bytes in read caches

	// readMu lets Close wait for queries in progress (Lookup, List) and
	// makes later ones fail with ErrClosed instead of touching a closed
	// store.
	readMu sync.RWMutex
	closed bool

	ckptMu sync.Mutex // one checkpoint at a time
	// lastCommitted is the id of the checkpoint the live store holds
	// (meta.ID may be numbered on past it, see openLive).
	lastCommitted uint64
	since         uint64 // see liveRecord.Since
	meta          Meta   // the last checkpoint's
	copyWG        sync.WaitGroup
	// verifyWG: the check of the live tables after Open (verifyTables).
	verifyWG sync.WaitGroup
	// pinned: the recorded tables hard-linked into pinnedDir before
	// Pebble opened the store (pinTables), which verifyTables checks.
	pinned  []manifestFile
	copyErr error  // of the last retained copy; under ckptMu after copyWG.Wait
	sweep   []byte // where the next TTL sweep starts (nil: the start)
	lock    *storeLock
	now     func() time.Time

	failMu sync.Mutex
	failed error // sticky: see ErrFailed
	marked bool  // corruptFile written

	filesMu  sync.Mutex
	sums     map[string]manifestFile // checksums of immutable files seen, by name
	retained []Meta                  // verified retained checkpoints, newest first

	// Seams for tests: failRead, when set, fails reads from Pebble;
	// summed counts the bytes of tables checkpoints checksummed; beforeCopy runs
	// before a checkpoint or savepoint copy is finished.
	failRead   func() error
	summed     atomic.Int64
	beforeCopy func()
}

// Meta describes a checkpoint.
type Meta struct {
	ID       uint64    `json:"id"`
	Time     time.Time `json:"time"`
	Pipeline string    `json:"pipeline,omitempty"`
	Keys     int64     `json:"keys"` // entries written by this checkpoint
	// NoTTL: no entry with a TTL was ever written to the store, so
	// checkpoints need not sweep for expired ones.
	NoTTL bool `json:"no_ttl,omitempty"`
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
	float  bool // a float64 counter (Txn.AddFloat): val is 8 bytes of IEEE 754, little-endian
}

// floatFlag marks a float64 counter in a stored value's expiry header.
// Expiries are milliseconds since the epoch, never negative, so the sign
// bit is free; stores written before float counters never set it.
const floatFlag = uint64(1) << 63

func (e entry) size(k string) int64 { return int64(len(k) + len(e.val) + 48) }

func (e entry) live(now int64) bool { return !e.absent && (e.expiry == 0 || e.expiry > now) }

// Reserved keys of the Pebble store (state keys start with 's' or 'o').
var (
	metaKey     = []byte("m/checkpoint")
	positionKey = []byte("m/position")
)

// Open opens or creates the store in opts.Dir. It returns the position the
// source should resume from: nil when the store has no checkpoint yet.
//
// The directory is locked while the store is open: a second Open fails
// with a *LockedError (ErrLocked) naming the holder's pid, and OnCorrupt
// never acts on it. A live store that Pebble cannot open, or that does not
// hold the last checkpoint taken (recorded beside it and in the retained
// checkpoints' manifests), is corrupt (ErrCorrupt) and handled per
// OnCorrupt.
func Open(opts Options) (st *Store, pos []byte, err error) {
	opts.defaults()
	s := &Store{opts: opts, live: filepath.Join(opts.Dir, "live"), now: time.Now, sums: map[string]manifestFile{}}
	for i := range s.shards {
		s.shards[i].dirty = map[string]entry{}
		s.shards[i].clean = map[string]entry{}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating state directory: %w", err)
	}
	if s.lock, err = lockStore(opts.Dir, opts.Holder, opts.LockWait); err != nil {
		return nil, nil, fmt.Errorf("opening the state store: %w", err)
	}
	defer func() {
		if err != nil {
			s.lock.unlock()
		}
	}()
	// Left by a savepoint whose copy a crash interrupted.
	if err := os.RemoveAll(filepath.Join(opts.Dir, savepointStage)); err != nil {
		return nil, nil, fmt.Errorf("removing unfinished savepoints: %w", err)
	}
	rec, _, err := s.readLive()
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return nil, nil, err
	}
	s.since = rec.Since
	if opts.FromSavepoint != "" {
		m, err := validCheckpoint(opts.FromSavepoint)
		if err != nil {
			return nil, nil, fmt.Errorf("starting from savepoint: %w", err)
		}
		if err := s.newLineage(); err != nil {
			return nil, nil, err
		}
		if err := s.replaceLive(opts.FromSavepoint, m.ID); err != nil {
			return nil, nil, err
		}
	} else if _, err := os.Stat(s.live); errors.Is(err, os.ErrNotExist) {
		// No live store: restore the newest checkpoint, if any (a deleted
		// live directory), else start empty.
		if dir, m, err := s.newestCheckpoint(); err == nil && dir != "" {
			opts.Logger.Warn("state: no live store; restoring the newest checkpoint", "checkpoint", dir)
			if err := s.replaceLive(dir, m.ID); err != nil {
				return nil, nil, err
			}
		}
	}
	pos, err = s.openLive()
	if err != nil {
		return nil, nil, err
	}
	s.loadRetained()
	s.verifyWG.Add(1)
	go func() {
		defer s.verifyWG.Done()
		s.verifyTables()
	}()
	return s, pos, nil
}

// tablesFile, beside the live store, lists the checksums of its tables
// as Close left them (see recordTables).
const tablesFile = "live.tables.json"

// flush writes the store's memory table to a table, for recordTables.
func (s *Store) flush() (err error) {
	defer s.guard("flushing", &err)
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("flushing the state store: %w", err)
	}
	return nil
}

func (s *Store) pebbleOptions() *pebble.Options {
	o := &pebble.Options{ErrorIfNotPristine: false}
	o.Logger = quietLogger{}
	// Background work (flushes, compactions) fails outside any call: the
	// next checkpoint fails with it rather than the error being lost.
	o.EventListener = &pebble.EventListener{
		BackgroundError: func(err error) {
			s.fail(fmt.Errorf("%w: Pebble background error: %w", ErrFailed, err))
		},
		// Found by a read or in the background (a compaction): recorded,
		// never a panic of the process (Pebble's default is Fatalf).
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			msg, _, _ := strings.Cut(fmt.Sprint(info.Details), "\n")
			s.fail(fmt.Errorf("%w: %s: %s: %s", ErrCorrupt, s.live, filepath.Base(info.Path), msg))
		},
	}
	return o
}

// fail records an error the store cannot continue past; the next
// Checkpoint (and Close) returns the first one.
//
// Corruption found while running is also recorded beside the live store
// (corruptFile): the next Open treats the store as corrupt and applies
// OnCorrupt, rather than opening it again and failing on the same read.
func (s *Store) fail(err error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failed == nil {
		s.failed = err
	}
	if errors.Is(err, ErrCorrupt) && !s.marked {
		s.marked = true
		if werr := durable.WriteFile(filepath.Join(s.opts.Dir, corruptFile), []byte(err.Error()+"\n"), 0o644); werr != nil {
			s.opts.Logger.Error("state: recording that the store is corrupt", "err", werr)
		}
	}
}

// failure returns the recorded error, if any.
func (s *Store) failure() error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failed
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
	var (
		db   *pebble.DB
		pos  []byte
		meta Meta
		err  error
	)
	if b, rerr := os.ReadFile(filepath.Join(s.opts.Dir, corruptFile)); rerr == nil {
		err = fmt.Errorf("%w: %s: found corrupt while it was in use: %s", ErrCorrupt, s.live, bytes.TrimSpace(b))
	} else if err = s.checkManifest(); err == nil {
		db, pos, meta, err = s.openDB()
	}
	if err == nil {
		if err = s.checkLive(meta); err == nil {
			// Pebble may have found corruption while opening (its
			// compactions start at once).
			if ferr := s.failure(); errors.Is(ferr, ErrCorrupt) {
				err = ferr
			}
		}
		if err != nil {
			s.closeDB(db)
		}
	}
	if err != nil {
		corrupt := fmt.Errorf("%w: %s: %v", ErrCorrupt, s.live, err)
		if errors.Is(err, ErrCorrupt) {
			corrupt = err
		}
		switch s.opts.OnCorrupt {
		case "checkpoint":
			dir, m, cerr := s.newestCheckpoint()
			if cerr != nil || dir == "" {
				return nil, fmt.Errorf("%w; and no valid checkpoint to restore", corrupt)
			}
			s.opts.Logger.Error("state: live store corrupt; restoring the newest valid checkpoint", "err", err, "checkpoint", dir)
			if err := s.moveAside(); err != nil {
				return nil, err
			}
			if err := s.replaceLive(dir, m.ID); err != nil {
				return nil, err
			}
		case "empty":
			s.opts.Logger.Error("state: live store corrupt; starting empty as configured", "err", err)
			if err := s.moveAside(); err != nil {
				return nil, err
			}
			if err := s.newLineage(); err != nil {
				return nil, err
			}
			if err := s.recordLive(0); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w (set state.on_corrupt to \"checkpoint\" to restore the newest valid checkpoint, or \"empty\" to start without state)", corrupt)
		}
		s.failMu.Lock()
		s.failed, s.marked = nil, false
		s.failMu.Unlock()
		if err := os.Remove(filepath.Join(s.opts.Dir, corruptFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("clearing the record of the corrupt store: %w", err)
		}
		if db, pos, meta, err = s.openDB(); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, s.live, err)
		}
	}
	s.db, s.meta, s.lastCommitted = db, meta, meta.ID
	// A new store has no TTL; one written before NoTTL existed may.
	s.ttl.Store(meta.ID > 0 && !meta.NoTTL)
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

// liveFile, beside the live store, records what it holds (liveRecord):
// a live store holding an older checkpoint, or a shorter MANIFEST, lost
// data.
const liveFile = "live.checkpoint"

// liveRecord is liveFile's content.
type liveRecord struct {
	// Checkpoint is the id of the last checkpoint committed to the store.
	Checkpoint uint64 `json:"checkpoint"`
	// Manifest and ManifestSize are Pebble's MANIFEST (its log of the
	// files it uses, which only grows until Pebble starts a new one) as it
	// was then.
	Manifest     string `json:"manifest,omitempty"`
	ManifestSize int64  `json:"manifest_size,omitempty"`
	// Since: retained checkpoints up to this id belong to the store this
	// one replaced (a savepoint was restored, or it started empty), so
	// its files are not compared with theirs.
	Since uint64 `json:"since,omitempty"`
}

// readLive reads liveFile (ok false when there is none).
func (s *Store) readLive() (rec liveRecord, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(s.opts.Dir, liveFile))
	if errors.Is(err, os.ErrNotExist) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("reading %s: %w", liveFile, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("%w: %s: %s is unreadable: %q", ErrCorrupt, s.live, liveFile, b)
	}
	return rec, true, nil
}

// recordLive writes liveFile for checkpoint id, now committed.
func (s *Store) recordLive(id uint64) error {
	rec := liveRecord{Checkpoint: id, Since: s.since}
	rec.Manifest, rec.ManifestSize = currentManifest(s.live)
	b, _ := json.Marshal(rec)
	if err := durable.WriteFile(filepath.Join(s.opts.Dir, liveFile), b, 0o644); err != nil {
		return fmt.Errorf("recording checkpoint %d beside the store: %w", id, err)
	}
	return nil
}

// newLineage marks the live store as not derived from the retained
// checkpoints now in the directory: it forgets the tables recorded at the
// last Close and compares only with checkpoints retained from now on.
func (s *Store) newLineage() error {
	names, _ := checkpointNames(s.checkpointsDir())
	if len(names) > 0 {
		fmt.Sscan(names[len(names)-1], &s.since)
	}
	if err := os.Remove(filepath.Join(s.opts.Dir, tablesFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", tablesFile, err)
	}
	return nil
}

// currentManifest returns the name and size of the newest MANIFEST in dir
// ("" if none).
func currentManifest(dir string) (string, int64) {
	ms, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	if len(ms) == 0 {
		return "", 0
	}
	sort.Strings(ms) // fixed-width numbers
	fi, err := os.Stat(ms[len(ms)-1])
	if err != nil {
		return "", 0
	}
	return filepath.Base(ms[len(ms)-1]), fi.Size()
}

func (s *Store) openDB() (db *pebble.DB, pos []byte, meta Meta, err error) {
	defer s.guard("opening", &err)
	if err := s.pinTables(); err != nil {
		return nil, nil, meta, err
	}
	opened, err := pebble.Open(s.live, s.pebbleOptions())
	if err != nil {
		return nil, nil, meta, err
	}
	db = opened
	defer func() {
		if err != nil {
			s.closeDB(opened)
		}
	}()
	v, c, err := db.Get(metaKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return db, nil, meta, nil
	}
	if err != nil {
		return nil, nil, meta, err
	}
	err = json.Unmarshal(v, &meta)
	c.Close()
	if err != nil {
		return nil, nil, meta, fmt.Errorf("checkpoint record: %v", err)
	}
	p, c, err := db.Get(positionKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return db, []byte{}, meta, nil
	}
	if err != nil {
		return nil, nil, meta, err
	}
	pos = bytes.Clone(p)
	c.Close()
	return db, pos, meta, nil
}

// closeDB closes a Pebble store, which may panic when it found corruption.
func (s *Store) closeDB(db *pebble.DB) (err error) {
	defer s.guard("closing", &err)
	return db.Close()
}

func (s *Store) moveAside() error {
	aside := fmt.Sprintf("%s.corrupt-%d", s.live, time.Now().UnixNano())
	if err := durable.Rename(s.live, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("moving the corrupt store aside: %w", err)
	}
	s.opts.Logger.Warn("state: corrupt store kept for inspection", "path", aside)
	return nil
}

// replaceLive replaces the live store with a copy of a checkpoint, which
// holds checkpoint id.
func (s *Store) replaceLive(from string, id uint64) error {
	tmp := s.live + ".restore"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("restoring %s: %w", from, err)
	}
	if err := copyDir(from, tmp); err != nil {
		return fmt.Errorf("restoring %s: %w", from, err)
	}
	if err := os.Remove(filepath.Join(tmp, checkpointFile)); err != nil {
		return fmt.Errorf("restoring %s: %w", from, err)
	}
	if err := os.RemoveAll(s.live); err != nil {
		return fmt.Errorf("restoring %s: removing the live store: %w", from, err)
	}
	if err := durable.Rename(tmp, s.live); err != nil {
		return fmt.Errorf("restoring %s: %w", from, err)
	}
	// The tables recorded at the last Close were the replaced store's.
	if err := os.Remove(filepath.Join(s.opts.Dir, tablesFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restoring %s: %w", from, err)
	}
	return s.recordLive(id)
}

// LastCheckpoint describes the checkpoint the store holds (ID 0: none).
func (s *Store) LastCheckpoint() Meta {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	return s.meta
}

// Close waits for retained checkpoints and savepoints being written,
// closes the store and releases its lock. What the write cache holds since
// the last checkpoint is dropped: the caller checkpoints first when the
// pipeline drained cleanly. It returns a failure of the last retained
// checkpoint or of Pebble, since a restart may depend on them.
func (s *Store) Close() error {
	s.copyWG.Wait()
	s.verifyWG.Wait()
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.failure() == nil {
		err = s.flush()
	}
	err = errors.Join(err, s.closeDB(s.db))
	if err == nil && s.failure() == nil {
		err = s.recordTables()
	}
	if err == nil && s.meta.ID > 0 {
		// What Close appended to the MANIFEST, for the next Open.
		err = s.recordLive(s.lastCommitted)
	}
	if uerr := s.lock.unlock(); uerr != nil {
		err = errors.Join(err, fmt.Errorf("unlocking the state store: %w", uerr))
	}
	if s.copyErr != nil {
		err = errors.Join(fmt.Errorf("%w: %w", ErrFailed, s.copyErr), err)
	}
	if ferr := s.failure(); ferr != nil && errors.Is(ferr, ErrCorrupt) {
		err = errors.Join(ferr, err)
	}
	return err
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
func (s *Store) load(k []byte) (e entry, err error) {
	defer s.guard("reading", &err)
	if s.failRead != nil {
		if err := s.failRead(); err != nil {
			return entry{}, fmt.Errorf("reading state: %w", err)
		}
	}
	v, c, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return entry{absent: true}, nil
	}
	if err != nil {
		return entry{}, fmt.Errorf("reading state: %w", s.corruption(err))
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
	if e.expiry != 0 && !s.ttl.Load() {
		s.ttl.Store(true)
	}
}

// addDelta adds delta to the counter at k as it is in the store now (see
// Txn.deltas); stored is k's value in Pebble, read before (Pebble changes
// only at checkpoints, which no commit overlaps).
func (s *Store) addDelta(k string, delta, expiry int64, stored entry) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.dirty[k]
	if !ok {
		e, ok = sh.clean[k]
	}
	if !ok {
		e = stored
	}
	var n int64
	if e.live(s.now().UnixMilli()) && len(e.val) == 8 && !e.float {
		n = int64(binary.LittleEndian.Uint64(e.val))
		expiry = e.expiry
	}
	s.setDirty(sh, k, entry{val: binary.LittleEndian.AppendUint64(make([]byte, 0, 8), uint64(n+delta)), expiry: expiry})
}

// addFloatDelta is addDelta for a float64 counter: a value there that is
// not one is replaced, as addDelta replaces a value that is not an int
// counter (the call that added saw a float counter or none).
func (s *Store) addFloatDelta(k string, delta float64, expiry int64, stored entry) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.dirty[k]
	if !ok {
		e, ok = sh.clean[k]
	}
	if !ok {
		e = stored
	}
	var n float64
	if e.live(s.now().UnixMilli()) && e.float {
		n = math.Float64frombits(binary.LittleEndian.Uint64(e.val))
		expiry = e.expiry
	}
	s.setDirty(sh, k, entry{val: binary.LittleEndian.AppendUint64(make([]byte, 0, 8), math.Float64bits(n+delta)), expiry: expiry, float: true})
}

func encodeValue(dst []byte, e entry) []byte {
	h := uint64(e.expiry)
	if e.float {
		h |= floatFlag
	}
	dst = binary.BigEndian.AppendUint64(dst, h)
	return append(dst, e.val...)
}

func decodeValue(v []byte) (entry, error) {
	if len(v) < 8 {
		return entry{}, fmt.Errorf("%w: a value of %d bytes has no expiry header", ErrCorrupt, len(v))
	}
	h := binary.BigEndian.Uint64(v)
	e := entry{expiry: int64(h &^ floatFlag), val: bytes.Clone(v[8:]), float: h&floatFlag != 0}
	if e.float && len(e.val) != 8 {
		return entry{}, fmt.Errorf("%w: a float counter of %d bytes", ErrCorrupt, len(e.val))
	}
	return e, nil
}

// Checkpoint commits the write cache and the source position atomically,
// deletes expired entries (a bounded sweep, see Options.SweepEntries),
// then writes a retained copy in the background (the next Checkpoint
// waits for it). It is called with the pipeline quiescent: no Txn commits
// while it runs. It fails, committing nothing, when the store recorded a
// failure since the last one (ErrFailed, ErrCorrupt), including a failed
// retained copy of the previous checkpoint.
func (s *Store) Checkpoint(pipeline string, position []byte) (meta Meta, err error) {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.copyWG.Wait()
	// The check of the tables Open found must end first: a checkpoint of
	// a damaged table would record its damaged bytes as good, and a later
	// on_corrupt: checkpoint would restore them.
	s.verifyWG.Wait()
	if err := s.copyErr; err != nil {
		return Meta{}, fmt.Errorf("%w: the retained copy of checkpoint %d: %w", ErrFailed, s.meta.ID, err)
	}
	if err := s.failure(); err != nil {
		return Meta{}, err
	}
	defer s.guard("checkpointing", &err)
	meta = Meta{ID: s.meta.ID + 1, Time: s.now().UTC(), Pipeline: pipeline}
	b := s.db.NewBatch()
	defer b.Close()
	now := s.now().UnixMilli()
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
				return Meta{}, fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
			}
			meta.Keys++
		}
		sh.mu.RUnlock()
	}
	var next []byte
	if s.ttl.Load() {
		if next, err = s.sweepExpired(b, now); err != nil {
			return Meta{}, fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
		}
	}
	meta.NoTTL = !s.ttl.Load()
	mb, _ := json.Marshal(meta)
	if err := b.Set(metaKey, mb, nil); err != nil {
		return Meta{}, fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	if position == nil {
		position = []byte{}
	}
	if err := b.Set(positionKey, position, nil); err != nil {
		return Meta{}, fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return Meta{}, fmt.Errorf("committing checkpoint %d: %w", meta.ID, err)
	}
	s.sweep = next
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
	s.lastCommitted = meta.ID
	// Off the pipeline's pause, like the retained copy: the next
	// checkpoint waits for both. A crash before the record leaves an older
	// id beside the store, which Open accepts (only a store behind its
	// record lost data).
	s.copyWG.Add(1)
	go func() {
		defer s.copyWG.Done()
		if err := s.recordLive(meta.ID); err != nil {
			s.copyErr = err
			return
		}
		s.copyErr = s.retain(meta)
	}()
	return meta, nil
}

// sweepExpired adds to b deletions of up to Options.SweepEntries stored
// entries, from s.sweep on, whose TTL passed and that the write cache does
// not hold. It returns where the next sweep starts.
func (s *Store) sweepExpired(b *pebble.Batch, now int64) ([]byte, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: s.sweep})
	if err != nil {
		return nil, fmt.Errorf("sweeping expired state: %w", err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if n >= s.opts.SweepEntries {
			return bytes.Clone(k), nil
		}
		n++
		if k[0] != prefixKeyed && k[0] != prefixOperator {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("sweeping expired state: %w", s.corruption(err))
		}
		if len(v) < 8 {
			continue
		}
		exp := int64(binary.BigEndian.Uint64(v) &^ floatFlag)
		if exp == 0 || exp > now {
			continue
		}
		sh := s.shard(string(k))
		sh.mu.Lock()
		_, dirty := sh.dirty[string(k)]
		if !dirty {
			if old, ok := sh.clean[string(k)]; ok {
				delete(sh.clean, string(k))
				sh.cb -= old.size(string(k))
				s.clean.Add(-old.size(string(k)))
			}
		}
		sh.mu.Unlock()
		if !dirty {
			if err := b.Delete(k, nil); err != nil {
				return nil, fmt.Errorf("sweeping expired state: %w", err)
			}
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("sweeping expired state: %w", s.corruption(err))
	}
	return nil, nil
}

// savepointStage, in Options.Dir, holds Pebble's checkpoints for
// savepoints being copied.
const savepointStage = "savepoint.tmp"

// Savepoint copies the store as of the last checkpoint to dir, which must
// not exist. It takes Pebble's checkpoint (hard links) at once and returns;
// the copy to dir, its checksums and syncs run in the background, and wait
// returns when the savepoint is complete and durable, or why it is not.
func (s *Store) Savepoint(dir string) (meta Meta, wait func() error, err error) {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	if _, err := os.Stat(dir); err == nil {
		return Meta{}, nil, fmt.Errorf("savepoint directory %s already exists", dir)
	}
	if err := s.failure(); err != nil {
		return Meta{}, nil, err
	}
	meta = s.meta
	stage := filepath.Join(s.opts.Dir, savepointStage, fmt.Sprintf("%d-%d", meta.ID, time.Now().UnixNano()))
	if err := s.pebbleCheckpoint(stage, meta); err != nil {
		return Meta{}, nil, fmt.Errorf("taking savepoint %s: %w", dir, err)
	}
	done := make(chan error, 1)
	s.copyWG.Add(1)
	go func() {
		defer s.copyWG.Done()
		err := s.finishCheckpoint(stage, dir, meta)
		if rerr := os.RemoveAll(stage); err == nil && rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			s.opts.Logger.Warn("state: removing a savepoint's staging directory", "dir", stage, "err", rerr)
		}
		if err != nil {
			err = fmt.Errorf("writing savepoint %s: %w", dir, err)
		}
		done <- err
	}()
	return meta, sync.OnceValue(func() error { return <-done }), nil
}

// Position returns the source position of the last checkpoint (nil when
// there is none).
func (s *Store) Position() (pos []byte, err error) {
	defer s.guard("reading the position", &err)
	v, c, err := s.db.Get(positionKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint's position: %w", s.corruption(err))
	}
	defer c.Close()
	return bytes.Clone(v), nil
}

var _ io.Closer = (*Store)(nil)
