package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLockIsNotCorruption guards issue #8 item 5: a store held by another
// Store was reported as corrupt, and on_corrupt: empty moved the live
// store aside under its writer. A held lock is ErrLocked naming the pid,
// whatever on_corrupt says, and the live store stays where it is.
func TestLockIsNotCorruption(t *testing.T) {
	for _, onCorrupt := range []string{"fail", "checkpoint", "empty"} {
		t.Run(onCorrupt, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir)
			defer s.Close()
			commitCounter(t, s, "n", 5)
			_, _, err := Open(Options{Dir: dir, OnCorrupt: onCorrupt})
			if !errors.Is(err, ErrLocked) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("second open: %v, want ErrLocked and not ErrCorrupt", err)
			}
			if want := fmt.Sprintf("pipeline already running, pid %d", os.Getpid()); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if aside, _ := filepath.Glob(filepath.Join(dir, "live.corrupt-*")); len(aside) > 0 {
				t.Fatalf("the live store was moved aside: %v", aside)
			}
			commitCounter(t, s, "n", 1)
			s.Close()
			s2, _ := open(t, dir)
			defer s2.Close()
			if v, _, ok, err := s2.Lookup("op", ScopeOperator, nil, []byte("n"), false); err != nil || !ok || le(v) != 6 {
				t.Fatalf("after the refused open: %d %v %v, want 6", le(v), ok, err)
			}
		})
	}
}

// TestLockWaitsForAReader: a holder that is not a running pipeline (a
// state command) is waited for up to LockWait; a running pipeline is not.
func TestLockWaitsForAReader(t *testing.T) {
	dir := t.TempDir()
	reader, _ := open(t, dir, func(o *Options) { o.Holder = "state" })
	released := make(chan struct{})
	go func() {
		defer close(released)
		<-time.After(100 * time.Millisecond)
		reader.Close()
	}()
	s, _, err := Open(Options{Dir: dir, LockWait: time.Minute})
	if err != nil {
		t.Fatalf("waiting for a reader's lock: %v", err)
	}
	<-released
	defer s.Close()
	start := time.Now()
	if _, _, err := Open(Options{Dir: dir, Holder: "state", LockWait: time.Minute}); !errors.Is(err, ErrLocked) {
		t.Fatalf("opening a running pipeline's store: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("waited %v for a running pipeline's lock", d)
	}
}

// commitCounter adds d to operator counter name and checkpoints.
func commitCounter(t *testing.T, s *Store, name string, d int64) {
	t.Helper()
	tx := s.NewTxn("op")
	tx.Begin()
	if _, err := tx.Add(ScopeOperator, nil, []byte(name), d); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint("p", []byte("pos")); err != nil {
		t.Fatal(err)
	}
	s.copyWG.Wait()
}

// TestCounterReadErrorIsNotAbsent guards issue #8 item 6: a failed read of
// the stored counter under an operator addition was taken as "absent", so
// the counter restarted from 0 and was checkpointed. The commit fails,
// applies nothing, and the next checkpoint fails.
func TestCounterReadErrorIsNotAbsent(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, func(o *Options) { o.CacheBytes = 1 }) // nothing stays cached
	commitCounter(t, s, "n", 5)
	tx := s.NewTxn("op")
	tx.Begin()
	if n, err := tx.Add(ScopeOperator, nil, []byte("n"), 1); err != nil || n != 6 {
		t.Fatalf("add: %d %v", n, err)
	}
	s.failRead = func() error { return errors.New("injected I/O error") }
	if err := tx.Commit(); err == nil || !strings.Contains(err.Error(), "injected I/O error") {
		t.Fatalf("commit over a failing read: %v", err)
	}
	s.failRead = nil
	if _, err := s.Checkpoint("p", []byte("later")); !errors.Is(err, ErrFailed) {
		t.Fatalf("checkpoint after a failed commit: %v, want ErrFailed", err)
	}
	s.Close()
	s, pos := open(t, dir)
	defer s.Close()
	if v, _, ok, err := s.Lookup("op", ScopeOperator, nil, []byte("n"), false); err != nil || !ok || le(v) != 5 || string(pos) != "pos" {
		t.Fatalf("after reopening: %d %v %v at %q, want 5 at pos", le(v), ok, err, pos)
	}
}

// TestBackgroundErrorFailsCheckpoint guards issue #8 item 6: Pebble's
// background errors (a failed flush or compaction, a full disk) were
// dropped. The next checkpoint fails with the error.
func TestBackgroundErrorFailsCheckpoint(t *testing.T) {
	s, _ := open(t, t.TempDir())
	defer s.Close()
	commitCounter(t, s, "n", 1)
	s.pebbleOptions().EventListener.BackgroundError(errors.New("no space left on device"))
	_, err := s.Checkpoint("p", nil)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("checkpoint after a background error: %v", err)
	}
}

// TestFailedRetainedCopyIsAnError guards issue #8 item 6: a retained
// checkpoint that could not be written was only a warning, so
// on_corrupt: checkpoint could find nothing to restore. The next
// checkpoint and Close fail.
func TestFailedRetainedCopyIsAnError(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	// A file where the checkpoints directory goes: every copy fails.
	if err := os.WriteFile(filepath.Join(dir, "checkpoints"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	commitCounter(t, s, "n", 1)
	if _, err := s.Checkpoint("p", nil); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "retained copy of checkpoint 1") {
		t.Fatalf("checkpoint after a failed retained copy: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("close after a failed retained copy: %v", err)
	}
}

// TestCheckpointChecksumsOnlyNewFiles guards issue #8 item 7: every
// retained checkpoint checksummed every file of the store. Tables are
// immutable: one seen before (same name and size) is not read again.
func TestCheckpointChecksumsOnlyNewFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	defer s.Close()
	tx := s.NewTxn("op")
	tx.Begin()
	for i := range 50_000 {
		tx.Put(ScopeKey, fmt.Appendf(nil, "key-%06d", i), []byte("v"), bytes.Repeat([]byte{byte(i)}, 32), 0)
	}
	tx.Commit()
	if _, err := s.Checkpoint("p", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	// Compacted now, so that no compaction rewrites the tables later.
	if err := s.db.Compact(t.Context(), []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint("p", nil); err != nil { // the first with the table
		t.Fatal(err)
	}
	s.copyWG.Wait()
	var tables int64
	ssts, _ := filepath.Glob(filepath.Join(s.live, "*.sst"))
	for _, f := range ssts {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		tables += fi.Size()
	}
	if tables < 512<<10 {
		t.Fatalf("the store's tables hold %d bytes: too few to tell", tables)
	}
	s.summed.Store(0)
	commitCounter(t, s, "n", 1) // a small change
	if n := s.summed.Load(); n != 0 {
		t.Fatalf("a checkpoint after a small change checksummed %d bytes of tables; they were all checksummed before (%d bytes)", n, tables)
	}
	// The manifest still lists every table, and verifies.
	names, _ := checkpointNames(s.checkpointsDir())
	if _, err := validCheckpoint(filepath.Join(s.checkpointsDir(), names[len(names)-1])); err != nil {
		t.Fatal(err)
	}
	m, _ := readManifest(filepath.Join(s.checkpointsDir(), names[len(names)-1]))
	listed := 0
	for _, f := range m.Files {
		if immutable(f.Name) {
			listed++
		}
	}
	if listed != len(ssts) {
		t.Fatalf("the manifest lists %d tables, the store has %d", listed, len(ssts))
	}
}

// TestRetainedReadsNoFile guards issue #8 item 7: the status request
// verified every retained checkpoint again. Retained reports what was
// verified when each was written, without reading them.
func TestRetainedReadsNoFile(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	defer s.Close()
	commitCounter(t, s, "n", 1)
	commitCounter(t, s, "n", 1)
	if err := os.RemoveAll(s.checkpointsDir()); err != nil { // nothing left to read
		t.Fatal(err)
	}
	got := s.Retained()
	if len(got) != 2 || got[0].ID != 2 || got[1].ID != 1 {
		t.Fatalf("retained %+v", got)
	}
}

// TestSavepointCopiesOffTheCaller guards issue #8 item 7: a savepoint was
// copied and checksummed in the pipeline's reader. Savepoint returns once
// Pebble's checkpoint is taken; wait returns when the copy is complete.
func TestSavepointCopiesOffTheCaller(t *testing.T) {
	s, _ := open(t, t.TempDir())
	defer s.Close()
	commitCounter(t, s, "n", 3)
	gate := make(chan struct{})
	s.beforeCopy = func() { <-gate }
	sp := filepath.Join(t.TempDir(), "sp")
	type result struct {
		wait func() error
		err  error
	}
	returned := make(chan result, 1)
	go func() {
		_, wait, err := s.Savepoint(sp)
		returned <- result{wait, err}
	}()
	var r result
	select {
	case r = <-returned:
	case <-time.After(30 * time.Second):
		close(gate)
		t.Fatal("Savepoint waited for its copy")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if _, err := os.Stat(filepath.Join(sp, checkpointFile)); err == nil {
		t.Fatal("the savepoint was complete before its copy ran")
	}
	close(gate)
	if err := r.wait(); err != nil {
		t.Fatal(err)
	}
	if m, err := validCheckpoint(sp); err != nil || m.ID != 1 {
		t.Fatalf("savepoint %+v: %v", m, err)
	}
}

// damagedStore writes 5 checkpoints of 2,000 counters each, every one
// flushed to its own table, and closes the store.
func damagedStore(t *testing.T, dir string) {
	t.Helper()
	s, _ := open(t, dir)
	tx := s.NewTxn("op")
	for c := 1; c <= 5; c++ {
		tx.Begin()
		for i := range 2000 {
			if _, err := tx.Add(ScopeKey, fmt.Appendf(nil, "w%04d", i), []byte("n"), 1); err != nil {
				t.Fatal(err)
			}
		}
		tx.Commit()
		if _, err := s.Checkpoint("p", fmt.Appendf(nil, "%d", c)); err != nil {
			t.Fatal(err)
		}
		if err := s.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedStoreIsDetected guards issue #8 item 8: a truncated live
// MANIFEST opened as an older store and was used (counts silently wrong);
// a flipped byte in a table panicked the listing and Close. Both are
// ErrCorrupt, never a panic; on_corrupt: checkpoint restores the newest
// valid retained checkpoint where one is intact.
func TestDamagedStoreIsDetected(t *testing.T) {
	truncateManifest := func(t *testing.T, live string) {
		ms, _ := filepath.Glob(filepath.Join(live, "MANIFEST-*"))
		if len(ms) == 0 {
			t.Fatal("no MANIFEST")
		}
		for _, m := range ms {
			fi, _ := os.Stat(m)
			if err := os.Truncate(m, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}
	}
	flipTable := func(t *testing.T, live string) {
		ssts, _ := filepath.Glob(filepath.Join(live, "*.sst"))
		if len(ssts) == 0 {
			t.Fatal("no table")
		}
		for _, f := range ssts {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/3] ^= 0xff
			if err := os.WriteFile(f, b, 0o644); err != nil { // in place: the checkpoints' links see it too
				t.Fatal(err)
			}
		}
	}
	// The live store as it was at an older checkpoint: it opens, holds
	// every file it names, and lacks the last checkpoints' updates (what
	// a MANIFEST truncated at a record boundary gives).
	rollBack := func(t *testing.T, live string) {
		names, _ := checkpointNames(filepath.Join(filepath.Dir(live), "checkpoints"))
		old := filepath.Join(filepath.Dir(live), "checkpoints", names[0])
		if err := os.RemoveAll(live); err != nil {
			t.Fatal(err)
		}
		if err := copyDir(old, live); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		damage   func(*testing.T, string)
		restores bool // a retained checkpoint is intact
		oldest   int  // the oldest checkpoint a restore may pick
	}{
		{"truncated MANIFEST", truncateManifest, true, 5},
		{"rolled back", rollBack, true, 5},
		// The retained checkpoints share the live store's tables (hard
		// links): the flip damages those that hold it, and the restore
		// takes the newest that verifies.
		{"flipped table byte", flipTable, true, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			damagedStore(t, dir)
			c.damage(t, filepath.Join(dir, "live"))
			// Opened (or refused) and read: never a panic, never a silent
			// wrong answer.
			s, pos, err := Open(Options{Dir: dir})
			if err == nil {
				_, _, lerr := s.List("op", ScopeKey, nil, nil, 10_000, false)
				var gerr error
				for i := range 2000 {
					if v, _, ok, err := s.Lookup("op", ScopeKey, fmt.Appendf(nil, "w%04d", i), []byte("n"), false); err != nil {
						gerr = err
						break
					} else if !ok || le(v) != 5 {
						t.Fatalf("opened at %q and w%04d reads %d (%v), want 5", pos, i, le(v), ok)
					}
				}
				cerr := s.Close()
				if !errors.Is(lerr, ErrCorrupt) && !errors.Is(gerr, ErrCorrupt) {
					t.Fatalf("a damaged store opened and read without an error (list %v, get %v, close %v)", lerr, gerr, cerr)
				}
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("opening: %v, want ErrCorrupt", err)
			}
			// Refused from now on, until on_corrupt says what to do.
			if _, _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("opening again: %v, want ErrCorrupt", err)
			}
			s, pos, err = Open(Options{Dir: dir, OnCorrupt: "checkpoint"})
			if !c.restores {
				if err == nil {
					s.Close()
				}
				return
			}
			if err != nil {
				t.Fatalf("restoring: %v", err)
			}
			defer s.Close()
			// The newest checkpoint whose files all verify: its counts
			// match its position exactly.
			want, err := strconv.Atoi(string(pos))
			if err != nil || want < c.oldest {
				t.Fatalf("restored position %q, want %d or later", pos, c.oldest)
			}
			for i := range 2000 {
				if v, _, ok, err := s.Lookup("op", ScopeKey, fmt.Appendf(nil, "w%04d", i), []byte("n"), false); err != nil || !ok || le(v) != int64(want) {
					t.Fatalf("restored w%04d: %d %v %v", i, le(v), ok, err)
				}
			}
		})
	}
}

// TestTTLSweepRemovesExpiredEntries guards issue #8 item 8: expired
// entries were hidden from reads but stayed in the store for ever. A
// checkpoint's sweep deletes them from Pebble.
func TestTTLSweepRemovesExpiredEntries(t *testing.T) {
	s, _ := open(t, t.TempDir(), func(o *Options) { o.SweepEntries = 50 })
	defer s.Close()
	now := time.Now()
	s.now = func() time.Time { return now }
	tx := s.NewTxn("op")
	tx.Begin()
	for i := range 120 {
		ttl := time.Duration(0)
		if i%2 == 0 {
			ttl = time.Minute
		}
		tx.Put(ScopeKey, fmt.Appendf(nil, "k%03d", i), []byte("v"), []byte("x"), ttl)
	}
	tx.Commit()
	if _, err := s.Checkpoint("p", nil); err != nil {
		t.Fatal(err)
	}
	if n := rawKeys(t, s); n != 120 {
		t.Fatalf("%d entries stored, want 120", n)
	}
	now = now.Add(2 * time.Minute)
	for range 4 { // 50 entries a sweep: the 123 stored take three
		if _, err := s.Checkpoint("p", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := rawKeys(t, s); n != 60 {
		t.Fatalf("%d entries stored after the sweeps, want the 60 without a TTL", n)
	}
}

// rawKeys counts the state entries in Pebble.
func rawKeys(t *testing.T, s *Store) int {
	t.Helper()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if k := it.Key(); k[0] == prefixKeyed || k[0] == prefixOperator {
			n++
		}
	}
	return n
}

// TestTxnRefusesKeysOutsideItsGroups guards issue #8 item 4: an instance
// could write keyed state for any key, so two instances raced on one
// counter. A Txn restricted to its key groups refuses other keys' writes.
func TestTxnRefusesKeysOutsideItsGroups(t *testing.T) {
	s, _ := open(t, t.TempDir())
	defer s.Close()
	tx := s.NewTxn("op", OwnedKeys(func(k []byte) bool { return bytes.HasPrefix(k, []byte("mine")) }))
	tx.Begin()
	writes := []struct {
		name string
		do   func(key []byte) error
	}{
		{"put", func(k []byte) error { return tx.Put(ScopeKey, k, []byte("v"), []byte("1"), 0) }},
		{"add", func(k []byte) error { _, err := tx.Add(ScopeKey, k, []byte("c"), 1); return err }},
		{"append", func(k []byte) error { return tx.Append(ScopeKey, k, []byte("l"), []byte("e")) }},
		{"delete", func(k []byte) error { return tx.Delete(ScopeKey, k, []byte("v")) }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			if err := w.do([]byte("mine-1")); err != nil {
				t.Fatalf("own key: %v", err)
			}
			err := w.do([]byte("theirs"))
			if !errors.Is(err, ErrNotOwned) || !strings.Contains(err.Error(), "theirs") {
				t.Fatalf("another instance's key: %v", err)
			}
		})
	}
	if _, err := tx.Add(ScopeOperator, nil, []byte("total"), 1); err != nil {
		t.Fatalf("operator state is not keyed: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := s.Lookup("op", ScopeKey, []byte("theirs"), []byte("c"), true); ok {
		t.Fatal("a refused write was applied")
	}
}

// TestTxnTooLarge guards issue #8 item 3: one call's transaction had no
// total, so a call could buffer unbounded state. Over MaxTxnBytes a write
// fails with ErrTxnTooLarge and the Txn holds no more than the bound.
func TestTxnTooLarge(t *testing.T) {
	s, _ := open(t, t.TempDir(), func(o *Options) { o.MaxTxnBytes = 1 << 20 })
	defer s.Close()
	tx := s.NewTxn("op")
	tx.Begin()
	val := make([]byte, 64<<10)
	var err error
	n := 0
	for ; n < 100; n++ {
		if err = tx.Put(ScopeKey, fmt.Appendf(nil, "k%d", n), []byte("v"), val, 0); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrTxnTooLarge) || n < 14 || n > 16 {
		t.Fatalf("after %d puts of 64 KiB: %v", n, err)
	}
	if tx.size > 1<<20 {
		t.Fatalf("the Txn holds %d bytes", tx.size)
	}
	for i := 0; ; i++ { // deletions of new keys count too
		if err := tx.Delete(ScopeKey, fmt.Appendf(nil, "d%d", i), []byte("v")); err != nil {
			if !errors.Is(err, ErrTxnTooLarge) || i > 1<<20/50 {
				t.Fatalf("delete %d: %v", i, err)
			}
			break
		}
	}
	// Overwriting with something smaller is allowed, and the next call
	// starts from zero.
	if err := tx.Put(ScopeKey, []byte("k0"), []byte("v"), []byte("small"), 0); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	tx.Begin()
	if err := tx.Put(ScopeKey, []byte("next"), []byte("v"), val, 0); err != nil {
		t.Fatalf("the next call: %v", err)
	}
}

// TestFlippedTableFoundWithoutReads guards issue #8 item 8: a damaged
// table that no read touches was used silently. The tables the newest
// retained checkpoint shares with the live store are verified after Open;
// Close reports the corruption and the next Open refuses the store.
func TestFlippedTableFoundWithoutReads(t *testing.T) {
	dir := t.TempDir()
	damagedStore(t, dir)
	m, _, err := (&Store{opts: Options{Dir: dir}}).newestManifest()
	if err != nil {
		t.Fatal(err)
	}
	// The tables Open checks: the newest checkpoint's, and those the last
	// Close recorded (a background compaction may have replaced the
	// checkpoint's tables in the live store before Close).
	files := m.Files
	if b, err := os.ReadFile(filepath.Join(dir, tablesFile)); err == nil {
		var closed []manifestFile
		if err := json.Unmarshal(b, &closed); err != nil {
			t.Fatal(err)
		}
		files = append(files, closed...)
	}
	flipped := false
	for _, f := range files {
		p := filepath.Join(dir, "live", f.Name)
		if _, err := os.Stat(p); err != nil || !immutable(f.Name) {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x01
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		flipped = true
		break
	}
	if !flipped {
		t.Fatal("no table of the live store that Open checks")
	}
	s, _, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("close: %v, want ErrCorrupt", err)
	}
	if _, _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reopening: %v, want ErrCorrupt", err)
	}
}

// TestSavepointRestoreIsNotCorruption: a store restored from a savepoint
// reuses table numbers that the replaced store recorded, at its last Close
// and in its retained checkpoints, for other contents. They are another
// store's, not damage: the check after Open passes, and so do the next
// checkpoint and Close.
func TestSavepointRestoreIsNotCorruption(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, func(o *Options) { o.Retain = 2 })
	commit := func(pos string) {
		t.Helper()
		tx := s.NewTxn("op")
		tx.Begin()
		tx.Add(ScopeOperator, nil, []byte("n"), 1)
		tx.Commit()
		if _, err := s.Checkpoint("p", []byte(pos)); err != nil {
			t.Fatal(err)
		}
	}
	commit("1")
	sp := filepath.Join(t.TempDir(), "sp")
	if err := savepoint(s, sp); err != nil {
		t.Fatal(err)
	}
	commit("2")
	commit("3")
	if err := s.Close(); err != nil { // flushes its log into a table
		t.Fatal(err)
	}
	var err error
	if s, _, err = Open(Options{Dir: dir, Retain: 2, FromSavepoint: sp}); err != nil {
		t.Fatal(err)
	}
	// The savepoint's log, replayed, into a table with the same number.
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	s.verifyWG.Wait()
	s.verifyTables() // again, now that the table exists
	if err := s.failure(); err != nil {
		t.Fatalf("after restoring the savepoint: %v", err)
	}
	commit("1b")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, pos := open(t, dir)
	defer s.Close()
	if string(pos) != "1b" {
		t.Fatalf("position %q", pos)
	}
}
