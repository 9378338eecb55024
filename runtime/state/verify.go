package state

// Detecting a damaged store: what Close records of the live tables, the
// checks before and after Pebble opens the store, and the hard links that
// keep the recorded tables readable while they are verified.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/wasmstream/wasmstream/internal/durable"
)

// recordTables records, after the store is closed (no compaction runs),
// the checksums of its tables in tablesFile, for the next Open to verify;
// only tables not seen before are read.
func (s *Store) recordTables() error {
	ents, err := os.ReadDir(s.live)
	if err != nil {
		return fmt.Errorf("recording the state store's tables: %w", err)
	}
	s.filesMu.Lock()
	known := s.sums
	s.filesMu.Unlock()
	var files []manifestFile
	for _, e := range ents {
		if !immutable(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("recording the state store's tables: %w", err)
		}
		if f, ok := known[e.Name()]; ok && f.Size == fi.Size() {
			files = append(files, f)
			continue
		}
		size, sum, err := checksum(filepath.Join(s.live, e.Name()))
		if err != nil {
			return fmt.Errorf("recording the state store's tables: %w", err)
		}
		files = append(files, manifestFile{Name: e.Name(), Size: size, CRC32: sum})
	}
	b, _ := json.Marshal(files)
	if err := durable.WriteFile(filepath.Join(s.opts.Dir, tablesFile), b, 0o644); err != nil {
		return fmt.Errorf("recording the state store's tables: %w", err)
	}
	return nil
}

// verifyTables checks, in the background after Open, the live store's
// tables against the checksums recorded for them: by the newest retained
// checkpoint (tables are immutable and shared with it) and by the last
// Close (tablesFile). A mismatch is corruption: the next checkpoint, and
// Close, fail with it, and the next Open applies OnCorrupt. Close waits
// for it.
//
// It reads the hard links pinTables made, not the live directory: a
// compaction Pebble starts at once may read a damaged table without noticing
// (a flipped byte where no block checksum covers it) and delete it, and the
// damage would then go unseen.
func (s *Store) verifyTables() {
	pinned := filepath.Join(s.opts.Dir, pinnedDir)
	defer os.RemoveAll(pinned)
	for _, f := range s.pinned {
		if s.failure() != nil {
			return
		}
		p := filepath.Join(pinned, pinnedName(f.Name))
		size, sum, err := checksum(p)
		if err != nil {
			s.fail(fmt.Errorf("%w: verifying %s: %w", ErrFailed, filepath.Join(s.live, filepath.FromSlash(f.Name)), err))
			return
		}
		if size != f.Size || sum != f.CRC32 {
			s.fail(fmt.Errorf("%w: %s: %s does not match its recorded checksum (%d bytes, want %d)", ErrCorrupt, s.live, f.Name, size, f.Size))
			return
		}
	}
}

// corruptFile, beside the live store, records corruption found in it while
// it was open.
const corruptFile = "live.corrupt"

// guard turns a panic in Pebble (which it raises on some corruption) into
// a corruption error in *err, and records it.
func (s *Store) guard(what string, err *error) {
	if r := recover(); r != nil {
		msg, _, _ := strings.Cut(fmt.Sprint(r), "\n") // Pebble's reports carry stack traces
		e := fmt.Errorf("%w: %s: %s: %s", ErrCorrupt, s.live, what, msg)
		s.fail(e)
		*err = e
	}
}

// corruption records a read error Pebble reports as corruption.
func (s *Store) corruption(err error) error {
	if !errors.Is(err, ErrCorrupt) && (errors.Is(err, pebble.ErrCorruption) || pebble.IsCorruptionError(err)) {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		err = fmt.Errorf("%w: %s: %s", ErrCorrupt, s.live, msg)
		s.fail(err)
	}
	return err
}

// checkManifest, before Pebble opens the store, compares its MANIFEST
// with the one recorded beside it: shorter is a truncated MANIFEST, with
// which Pebble would open an older store.
func (s *Store) checkManifest() error {
	rec, ok, err := s.readLive()
	if err != nil || !ok || rec.Manifest == "" || strings.ContainsAny(rec.Manifest, `/\`) {
		return err
	}
	fi, err := os.Stat(filepath.Join(s.live, rec.Manifest))
	if err != nil {
		return nil // Pebble started a newer one
	}
	if fi.Size() < rec.ManifestSize {
		return fmt.Errorf("%w: %s: %s has %d bytes, but held %d at checkpoint %d: the store lost data", ErrCorrupt, s.live, rec.Manifest, fi.Size(), rec.ManifestSize, rec.Checkpoint)
	}
	return nil
}

// checkLive verifies, cheaply, that the live store holds the last
// checkpoint taken: its id is not below the one recorded beside it (or,
// without that record, the newest retained checkpoint's), and the
// immutable files it shares with the newest retained checkpoint have the
// sizes its manifest recorded.
func (s *Store) checkLive(meta Meta) error {
	want, from := uint64(0), ""
	rec, ok, err := s.readLive()
	if err != nil {
		return err
	}
	if ok {
		want, from = rec.Checkpoint, filepath.Join(s.opts.Dir, liveFile)
	}
	m, dir, err := s.newestManifest()
	if err != nil {
		return nil // no readable manifest: nothing to compare with
	}
	if from == "" && m.Meta.ID > want {
		want, from = m.Meta.ID, filepath.Join(dir, checkpointFile)
	}
	if meta.ID < want {
		return fmt.Errorf("%w: %s holds checkpoint %d, but checkpoint %d was taken (%s): the store lost data", ErrCorrupt, s.live, meta.ID, want, from)
	}
	for _, f := range m.Files {
		if !immutable(f.Name) {
			continue
		}
		fi, err := os.Stat(filepath.Join(s.live, filepath.FromSlash(f.Name)))
		if err != nil {
			continue // compacted away since
		}
		if fi.Size() != f.Size {
			return fmt.Errorf("%w: %s: %s has %d bytes, but checkpoint %d recorded %d", ErrCorrupt, s.live, f.Name, fi.Size(), m.Meta.ID, f.Size)
		}
	}
	return nil
}

// pinnedDir holds hard links to the live tables while verifyTables checks
// them after Open.
const pinnedDir = "verifying"

// pinnedName is the name of a table's hard link in pinnedDir.
func pinnedName(name string) string { return strings.ReplaceAll(name, "/", "_") }

// pinTables hard-links every table the records name (the newest retained
// checkpoint's manifest, and the list the last Close wrote) that the live
// store still holds into pinnedDir, before Pebble opens it and may compact
// them away. Links cost no copy; verifyTables removes them when done.
func (s *Store) pinTables() error {
	pinned := filepath.Join(s.opts.Dir, pinnedDir)
	if err := os.RemoveAll(pinned); err != nil {
		return fmt.Errorf("removing %s: %w", pinned, err)
	}
	var files []manifestFile
	if m, _, err := s.newestManifest(); err == nil {
		files = m.Files
	}
	if b, err := os.ReadFile(filepath.Join(s.opts.Dir, tablesFile)); err == nil {
		var closed []manifestFile
		if json.Unmarshal(b, &closed) == nil {
			files = append(files, closed...)
		}
	}
	s.pinned = s.pinned[:0]
	seen := map[string]bool{}
	for _, f := range files {
		if !immutable(f.Name) || seen[f.Name] {
			continue
		}
		seen[f.Name] = true
		if len(s.pinned) == 0 {
			if err := os.MkdirAll(pinned, 0o755); err != nil {
				return fmt.Errorf("creating %s: %w", pinned, err)
			}
		}
		err := os.Link(filepath.Join(s.live, filepath.FromSlash(f.Name)), filepath.Join(pinned, pinnedName(f.Name)))
		if errors.Is(err, os.ErrNotExist) {
			continue // compacted away before this open
		}
		if err != nil {
			return fmt.Errorf("linking %s for verification: %w", f.Name, err)
		}
		s.pinned = append(s.pinned, f)
	}
	return nil
}
