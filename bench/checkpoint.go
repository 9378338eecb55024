package bench

import (
	"fmt"
	"io/fs"

	"path/filepath"
	"time"

	"github.com/wasmstream/wasmstream/runtime/state"
)

// CheckpointResult is what MeasureCheckpoint finds for n keys.
type CheckpointResult struct {
	Keys       int
	Write      time.Duration // n counter updates through a Txn (the write cache)
	Checkpoint time.Duration // committing them with a source position
	Retained   time.Duration // the background retained copy, measured to its end
	LiveBytes  int64         // the store on disk after the checkpoint
	CopyBytes  int64         // the retained checkpoint's files
	Recovery   time.Duration // reopening the store after Close, ready to serve
	Scan       time.Duration // reading every key back from the reopened store
}

// FillAndCrash fills a new store in dir with n keyed counters, checkpoints
// it and returns without closing it: a process that exits right after
// leaves the store as a crash would (its write-ahead log not flushed into
// tables). See MeasureCrashRecovery.
func FillAndCrash(dir string, n int) error {
	s, _, err := state.Open(state.Options{Dir: dir, DirtyBytes: 1 << 40})
	if err != nil {
		return err
	}
	tx := s.NewTxn("count")
	key := make([]byte, 0, 16)
	// In calls of 100,000 keys, as batches write them: one call's writes
	// are bounded (state.Txn).
	for i := 0; i < n; i++ {
		if i%100_000 == 0 {
			if i > 0 {
				if err := tx.Commit(); err != nil {
					return err
				}
			}
			tx.Begin()
		}
		key = fmt.Appendf(key[:0], "user-%07d", i)
		if _, err := tx.Add(state.ScopeKey, key, []byte("n"), int64(i)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = s.Checkpoint("bench", []byte("position"))
	return err
}

// MeasureCrashRecovery opens a store left by FillAndCrash in another
// process and returns how long it took to be ready, checking one key.
func MeasureCrashRecovery(dir string, n int) (time.Duration, error) {
	start := time.Now()
	s, pos, err := state.Open(state.Options{Dir: dir})
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	defer s.Close()
	v, _, ok, err := s.Lookup("count", state.ScopeKey, fmt.Appendf(nil, "user-%07d", n-1), []byte("n"), false)
	if err != nil || !ok || len(v) != 8 || string(pos) != "position" {
		return 0, fmt.Errorf("after recovery: value %x %v %v, position %q", v, ok, err, pos)
	}
	return d, nil
}

// MeasureCheckpoint fills a new store in dir with n small keyed counters
// (keys "user-0000000".., 8-byte values), checkpoints it, closes it,
// reopens it and reads every key back.
func MeasureCheckpoint(dir string, n int) (CheckpointResult, error) {
	r := CheckpointResult{Keys: n}
	s, _, err := state.Open(state.Options{Dir: dir, DirtyBytes: 1 << 40, CacheBytes: 64 << 20})
	if err != nil {
		return r, err
	}
	tx := s.NewTxn("count")
	tx.Begin()
	key := make([]byte, 0, 16)
	start := time.Now()
	for i := 0; i < n; i++ {
		key = fmt.Appendf(key[:0], "user-%07d", i)
		if _, err := tx.Add(state.ScopeKey, key, []byte("n"), int64(i)); err != nil {
			return r, err
		}
		if i%1000 == 999 {
			tx.Commit()
			tx.Begin()
		}
	}
	tx.Commit()
	r.Write = time.Since(start)

	start = time.Now()
	if _, err := s.Checkpoint("bench", []byte("position")); err != nil {
		return r, err
	}
	r.Checkpoint = time.Since(start)
	start = time.Now()
	if err := s.Close(); err != nil { // waits for the retained copy
		return r, err
	}
	r.Retained = time.Since(start)
	r.LiveBytes = dirSize(filepath.Join(dir, "live"))
	r.CopyBytes = dirSize(filepath.Join(dir, "checkpoints"))

	start = time.Now()
	s, pos, err := state.Open(state.Options{Dir: dir})
	if err != nil {
		return r, err
	}
	defer s.Close()
	if string(pos) != "position" {
		return r, fmt.Errorf("recovered position %q", pos)
	}
	r.Recovery = time.Since(start)
	start = time.Now()
	seen := 0
	var cursor []byte
	for {
		page, next, err := s.List("count", state.ScopeKey, nil, cursor, 10000, false)
		if err != nil {
			return r, err
		}
		seen += len(page)
		if next == nil {
			break
		}
		cursor = next
	}
	r.Scan = time.Since(start)
	if seen != n {
		return r, fmt.Errorf("recovered %d keys, want %d", seen, n)
	}
	return r, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
