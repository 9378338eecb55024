package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T, dir string, mod ...func(*Options)) (*Store, []byte) {
	t.Helper()
	o := Options{Dir: dir}
	for _, m := range mod {
		m(&o)
	}
	s, pos, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, pos
}

func TestCheckpointAndRecover(t *testing.T) {
	dir := t.TempDir()
	s, pos := open(t, dir)
	if pos != nil {
		t.Fatalf("fresh store has position %q", pos)
	}
	tx := s.NewTxn("count")
	tx.Begin()
	for i := 0; i < 1000; i++ {
		if _, err := tx.Add(ScopeKey, []byte(fmt.Sprintf("k%03d", i%10)), []byte("n"), 1); err != nil {
			t.Fatal(err)
		}
	}
	tx.Put(ScopeOperator, nil, []byte("seen"), []byte("yes"), 0)
	tx.Commit()
	if _, err := s.Checkpoint("p", []byte("pos-1")); err != nil {
		t.Fatal(err)
	}
	// Written after the checkpoint: lost by a crash (no second checkpoint).
	tx.Begin()
	tx.Add(ScopeKey, []byte("k000"), []byte("n"), 1000)
	tx.Commit()
	if v, _, ok, _ := s.Lookup("count", ScopeKey, []byte("k000"), []byte("n"), true); !ok || le(v) != 1100 {
		t.Fatalf("live read: %v %v", v, ok)
	}
	if v, _, ok, _ := s.Lookup("count", ScopeKey, []byte("k000"), []byte("n"), false); !ok || le(v) != 100 {
		t.Fatalf("checkpoint read: %v %v", v, ok)
	}
	s.Close()

	s, pos = open(t, dir)
	defer s.Close()
	if string(pos) != "pos-1" {
		t.Fatalf("position %q", pos)
	}
	tx = s.NewTxn("count")
	tx.Begin()
	for i := 0; i < 10; i++ {
		v, ok, err := tx.Get(ScopeKey, []byte(fmt.Sprintf("k%03d", i)), []byte("n"))
		if err != nil || !ok || le(v) != 100 {
			t.Fatalf("k%03d: %v %v %v", i, v, ok, err)
		}
	}
	if v, ok, _ := tx.Get(ScopeOperator, nil, []byte("seen")); !ok || string(v) != "yes" {
		t.Fatalf("operator state: %q %v", v, ok)
	}
	if cps, err := s.Checkpoints(); err != nil || len(cps) != 1 || cps[0].ID != 1 {
		t.Fatalf("retained checkpoints %v %v", cps, err)
	}
}

func le(v []byte) int64 {
	if len(v) != 8 {
		return -1
	}
	var n int64
	for i := 7; i >= 0; i-- {
		n = n<<8 | int64(v[i])
	}
	return n
}

func TestTxnResetDropsWrites(t *testing.T) {
	s, _ := open(t, t.TempDir())
	defer s.Close()
	tx := s.NewTxn("op")
	tx.Begin()
	tx.Put(ScopeKey, []byte("a"), []byte("x"), []byte("1"), 0)
	if v, ok, _ := tx.Get(ScopeKey, []byte("a"), []byte("x")); !ok || string(v) != "1" {
		t.Fatal("a call does not see its own write")
	}
	tx.Reset()
	if _, ok, _ := tx.Get(ScopeKey, []byte("a"), []byte("x")); ok {
		t.Fatal("a reset write is visible")
	}
}

func TestTTLAndLimitsAndLists(t *testing.T) {
	s, _ := open(t, t.TempDir(), func(o *Options) { o.MaxValue = 64 })
	defer s.Close()
	tx := s.NewTxn("op")
	tx.Begin()
	tx.Put(ScopeKey, []byte("k"), []byte("short"), []byte("v"), time.Millisecond)
	tx.Put(ScopeKey, []byte("k"), []byte("long"), []byte("v"), time.Hour)
	if err := tx.Put(ScopeKey, []byte("k"), []byte("big"), make([]byte, 65), 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("put over the limit: %v", err)
	}
	for _, e := range []string{"a", "bb", "ccc"} {
		if err := tx.Append(ScopeKey, []byte("k"), []byte("list"), []byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	tx.Put(ScopeKey, []byte("k"), []byte("text"), []byte("abc"), 0)
	if _, err := tx.Add(ScopeKey, []byte("k"), []byte("text"), 1); !errors.Is(err, ErrNotCounter) {
		t.Fatalf("add to a non-counter: %v", err)
	}
	tx.Commit()
	tx.now += 10 // 10 ms later
	if _, ok, _ := tx.Get(ScopeKey, []byte("k"), []byte("short")); ok {
		t.Error("expired value still visible")
	}
	if _, ok, _ := tx.Get(ScopeKey, []byte("k"), []byte("long")); !ok {
		t.Error("unexpired value gone")
	}
	v, _, _ := tx.Get(ScopeKey, []byte("k"), []byte("list"))
	items, err := ListItems(v)
	if err != nil || len(items) != 3 || string(items[2]) != "ccc" {
		t.Fatalf("list %q %v", items, err)
	}
	for i := 0; i < 30; i++ {
		if err := tx.Append(ScopeKey, []byte("k"), []byte("list"), []byte("x")); err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("a list grew past MaxValue")
}

func TestListMergesCacheAndStore(t *testing.T) {
	s, _ := open(t, t.TempDir())
	defer s.Close()
	tx := s.NewTxn("wc")
	tx.Begin()
	for i := 0; i < 50; i++ {
		tx.Add(ScopeKey, []byte(fmt.Sprintf("user-%02d", i)), []byte("n"), int64(i))
	}
	tx.Add(ScopeKey, []byte("other"), []byte("n"), 1)
	tx.Add(ScopeKey, []byte("user\x00zero"), []byte("n"), 1) // a key with a 0 byte
	tx.Commit()
	s.Checkpoint("p", nil)
	tx.Begin()
	for i := 50; i < 75; i++ { // only in the write cache
		tx.Add(ScopeKey, []byte(fmt.Sprintf("user-%02d", i)), []byte("n"), int64(i))
	}
	tx.Delete(ScopeKey, []byte("user-07"), []byte("n"))
	tx.Commit()
	var got []string
	var cursor []byte
	for pages := 0; ; pages++ {
		page, next, err := s.List("wc", ScopeKey, []byte("user-"), cursor, 10, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			got = append(got, string(e.Key))
		}
		if next == nil {
			break
		}
		cursor = next
		if pages > 20 {
			t.Fatal("pagination does not end")
		}
	}
	if len(got) != 74 || got[0] != "user-00" || got[73] != "user-74" {
		t.Fatalf("listed %d keys: %v", len(got), got)
	}
	for _, k := range got {
		if k == "user-07" {
			t.Fatal("deleted key listed")
		}
	}
	chk, _, _ := s.List("wc", ScopeKey, []byte("user"), nil, 1000, false)
	if len(chk) != 51 { // the checkpoint: user-00..49 and user\x00zero
		t.Fatalf("checkpoint listing has %d entries", len(chk))
	}
	if !bytes.Equal(chk[0].Key, []byte("user\x00zero")) {
		t.Fatalf("first key %q", chk[0].Key)
	}
}

func TestCorruptionHandling(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, func(o *Options) { o.Retain = 2 })
	tx := s.NewTxn("op")
	for i := 1; i <= 3; i++ {
		tx.Begin()
		tx.Add(ScopeOperator, nil, []byte("n"), 1)
		tx.Commit()
		if _, err := s.Checkpoint("p", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	names, _ := checkpointNames(filepath.Join(dir, "checkpoints"))
	if len(names) != 2 {
		t.Fatalf("retained %v, want 2", names)
	}
	// Corrupt the newest retained checkpoint: it must be skipped.
	newest := filepath.Join(dir, "checkpoints", names[1])
	os.WriteFile(filepath.Join(newest, "MANIFEST-000001"), []byte("garbage"), 0o644)
	// Corrupt the live store.
	entries, _ := os.ReadDir(filepath.Join(dir, "live"))
	for _, e := range entries {
		if len(e.Name()) > 8 && e.Name()[:8] == "MANIFEST" {
			os.WriteFile(filepath.Join(dir, "live", e.Name()), []byte("garbage"), 0o644)
		}
	}
	if _, _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(filepath.Join(dir, "live"))) {
		t.Fatalf("opening a corrupt store: %v", err)
	}
	s, pos, err := Open(Options{Dir: dir, OnCorrupt: "checkpoint"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if string(pos) != "2" { // checkpoint 3 is corrupt: 2 is the newest valid
		t.Fatalf("restored position %q, want 2", pos)
	}
}

func TestSavepoint(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	tx := s.NewTxn("op")
	tx.Begin()
	tx.Put(ScopeKey, []byte("k"), []byte("v"), []byte("1"), 0)
	tx.Commit()
	s.Checkpoint("p", []byte("at-1"))
	sp := filepath.Join(t.TempDir(), "sp")
	if err := savepoint(s, sp); err != nil {
		t.Fatal(err)
	}
	tx.Begin()
	tx.Put(ScopeKey, []byte("k"), []byte("v"), []byte("2"), 0)
	tx.Commit()
	s.Checkpoint("p", []byte("at-2"))
	s.Close()
	s, pos := open(t, t.TempDir(), func(o *Options) { o.FromSavepoint = sp })
	defer s.Close()
	if v, _, ok, _ := s.Lookup("op", ScopeKey, []byte("k"), []byte("v"), false); !ok || string(v) != "1" || string(pos) != "at-1" {
		t.Fatalf("from savepoint: %q %v, position %q", v, ok, pos)
	}
}

// TestStateLargerThanCache keeps 100,000 keys with a 64 KiB read cache:
// values come back from the store, and the cache stays within its bound.
func TestStateLargerThanCache(t *testing.T) {
	s, _ := open(t, t.TempDir(), func(o *Options) { o.CacheBytes = 64 << 10 })
	defer s.Close()
	tx := s.NewTxn("op")
	tx.Begin()
	for i := 0; i < 100_000; i++ {
		tx.Put(ScopeKey, []byte(fmt.Sprint(i)), []byte("v"), []byte(fmt.Sprint(i*7)), 0)
	}
	tx.Commit()
	if _, err := s.Checkpoint("p", nil); err != nil {
		t.Fatal(err)
	}
	if c := s.Stats().CleanBytes; c > 64<<10+4<<10 {
		t.Fatalf("read cache holds %d bytes after the checkpoint", c)
	}
	tx.Begin()
	for i := 0; i < 100_000; i += 97 {
		v, ok, err := tx.Get(ScopeKey, []byte(fmt.Sprint(i)), []byte("v"))
		if err != nil || !ok || string(v) != fmt.Sprint(i*7) {
			t.Fatalf("key %d: %q %v %v", i, v, ok, err)
		}
	}
	if c := s.Stats().CleanBytes; c > 64<<10+4<<10 {
		t.Fatalf("read cache holds %d bytes", c)
	}
}

// TestOperatorCountersFromManyInstances: instances share operator state;
// their additions to one counter all count, whatever the interleaving.
func TestOperatorCountersFromManyInstances(t *testing.T) {
	s, _ := open(t, t.TempDir())
	defer s.Close()
	const instances, calls = 4, 500
	done := make(chan struct{})
	for i := 0; i < instances; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			tx := s.NewTxn("op")
			for c := 0; c < calls; c++ {
				tx.Begin()
				if _, err := tx.Add(ScopeOperator, nil, []byte("n"), 1); err != nil {
					t.Error(err)
				}
				tx.Add(ScopeOperator, nil, []byte("n"), 1)
				tx.Commit()
			}
		}()
	}
	for i := 0; i < instances; i++ {
		<-done
	}
	v, _, ok, err := s.Lookup("op", ScopeOperator, nil, []byte("n"), true)
	if err != nil || !ok || le(v) != 2*instances*calls {
		t.Fatalf("counter %d (%v %v), want %d", le(v), ok, err, 2*instances*calls)
	}
}

// TestCheckpointsAfterSavepointAreNewest: started from an old savepoint in
// a directory with later checkpoints, new checkpoints are numbered after
// them, so retention keeps the new run's.
func TestCheckpointsAfterSavepointAreNewest(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, func(o *Options) { o.Retain = 2 })
	tx := s.NewTxn("op")
	commit := func(pos string) {
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
	s.Close()
	s, pos := open(t, dir, func(o *Options) { o.Retain = 2; o.FromSavepoint = sp })
	if string(pos) != "1" {
		t.Fatalf("position %q", pos)
	}
	tx = s.NewTxn("op")
	commit("1b")
	s.Close()
	s, pos = open(t, dir, func(o *Options) { o.OnCorrupt = "checkpoint" })
	defer s.Close()
	cps, _ := s.Checkpoints()
	if string(pos) != "1b" || len(cps) == 0 || cps[0].ID != 4 {
		t.Fatalf("position %q, checkpoints %+v", pos, cps)
	}
}

// savepoint takes a savepoint and waits until it is complete.
func savepoint(s *Store, dir string) error {
	_, wait, err := s.Savepoint(dir)
	if err != nil {
		return err
	}
	return wait()
}
