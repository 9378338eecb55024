package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/wasmstream/wasmstream/internal/durable"
)

// checkpointFile, written last into a retained checkpoint or savepoint,
// lists its files with their sizes and checksums: a directory without it,
// or whose files do not match it, is partial or corrupt and is skipped.
const checkpointFile = "CHECKPOINT.json"

type manifest struct {
	Meta  Meta           `json:"checkpoint"`
	Files []manifestFile `json:"files"`
}

type manifestFile struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	CRC32 uint32 `json:"crc32"`
}

func (s *Store) checkpointsDir() string { return filepath.Join(s.opts.Dir, "checkpoints") }

// immutable reports whether a store file never changes once written
// (Pebble's tables and blob files): its checksum is computed once and
// reused by later checkpoints for as long as its name and size match.
func immutable(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

// retain writes checkpoint meta under Dir/checkpoints and removes the
// oldest beyond Retain.
func (s *Store) retain(meta Meta) error {
	dir := filepath.Join(s.checkpointsDir(), fmt.Sprintf("%020d", meta.ID))
	tmp := dir + ".tmp"
	if err := s.pebbleCheckpoint(tmp, meta); err != nil {
		return err
	}
	if err := s.finishCheckpoint(tmp, dir, meta); err != nil {
		return err
	}
	names, err := checkpointNames(s.checkpointsDir())
	if err != nil {
		return fmt.Errorf("listing retained checkpoints: %w", err)
	}
	removed := false
	for len(names) > s.opts.Retain {
		if err := os.RemoveAll(filepath.Join(s.checkpointsDir(), names[0])); err != nil {
			return fmt.Errorf("removing an old retained checkpoint: %w", err)
		}
		names, removed = names[1:], true
	}
	if removed {
		if err := durable.SyncDir(s.checkpointsDir()); err != nil {
			return fmt.Errorf("removing old retained checkpoints: %w", err)
		}
	}
	s.filesMu.Lock()
	s.retained = append([]Meta{meta}, s.retained...)
	if len(s.retained) > s.opts.Retain {
		s.retained = s.retained[:s.opts.Retain]
	}
	s.filesMu.Unlock()
	return nil
}

// pebbleCheckpoint has Pebble write its checkpoint of the store into tmp
// (hard links to the store's tables, a copy of the rest): fast, and what
// must happen while no write is committed.
func (s *Store) pebbleCheckpoint(tmp string, meta Meta) (err error) {
	defer s.guard("checkpointing", &err)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	if err := s.db.Checkpoint(tmp, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	return nil
}

// finishCheckpoint turns Pebble's checkpoint in src into the complete
// checkpoint dir: copied there (hard links where it can) unless src is
// dir's own temporary, its manifest written last, the whole synced and
// renamed into place. Only files not seen before are checksummed.
func (s *Store) finishCheckpoint(src, dir string, meta Meta) error {
	if s.beforeCopy != nil {
		s.beforeCopy()
	}
	tmp := dir + ".tmp"
	if src != tmp {
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		if err := linkDir(src, tmp); err != nil {
			return fmt.Errorf("copying checkpoint %d: %w", meta.ID, err)
		}
	}
	s.filesMu.Lock()
	known := s.sums
	s.filesMu.Unlock()
	m := manifest{Meta: meta}
	seen := map[string]manifestFile{}
	err := filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tmp, p)
		name := filepath.ToSlash(rel)
		if immutable(name) {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if f, ok := known[name]; ok && f.Size == fi.Size() {
				m.Files = append(m.Files, f)
				seen[name] = f
				return nil
			}
		}
		size, sum, err := checksum(p)
		if err != nil {
			return err
		}
		if immutable(name) {
			s.summed.Add(size)
		}
		f := manifestFile{Name: name, Size: size, CRC32: sum}
		m.Files = append(m.Files, f)
		if immutable(name) {
			seen[name] = f
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeSynced(filepath.Join(tmp, checkpointFile), b); err != nil {
		return fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	if err := durable.SyncDir(tmp); err != nil {
		return fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	if err := durable.Rename(tmp, dir); err != nil {
		return fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	s.filesMu.Lock()
	s.sums = seen
	s.filesMu.Unlock()
	return nil
}

func checksum(path string) (int64, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := crc32.NewIEEE()
	n, err := io.Copy(h, f)
	return n, h.Sum32(), err
}

func writeSynced(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readManifest reads a checkpoint directory's manifest without checking
// its files.
func readManifest(dir string) (manifest, error) {
	var m manifest
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		return m, fmt.Errorf("%s is not a complete checkpoint (no %s): %w", dir, checkpointFile, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %s is corrupt: %v", dir, checkpointFile, err)
	}
	return m, nil
}

// newestManifest reads the manifest of the newest retained checkpoint of
// this store (after liveRecord.Since) that has a readable one.
func (s *Store) newestManifest() (manifest, string, error) {
	names, err := checkpointNames(s.checkpointsDir())
	if err != nil {
		return manifest{}, "", err
	}
	for i := len(names) - 1; i >= 0; i-- {
		var id uint64
		if _, err := fmt.Sscan(names[i], &id); err != nil || id <= s.since {
			continue // another store's (see liveRecord.Since)
		}
		dir := filepath.Join(s.checkpointsDir(), names[i])
		if m, err := readManifest(dir); err == nil {
			return m, dir, nil
		}
	}
	return manifest{}, "", fs.ErrNotExist
}

// loadRetained lists the retained checkpoints from their manifests (each
// was verified when it was written) and seeds the checksums of immutable
// files from the newest.
func (s *Store) loadRetained() {
	names, _ := checkpointNames(s.checkpointsDir())
	m, _, merr := s.newestManifest()
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	s.retained = nil
	for i := len(names) - 1; i >= 0; i-- {
		m, err := readManifest(filepath.Join(s.checkpointsDir(), names[i]))
		if err != nil {
			continue
		}
		s.retained = append(s.retained, m.Meta)
	}
	// Only this store's tables: another's (see liveRecord.Since) may have
	// the same names.
	if merr == nil {
		for _, f := range m.Files {
			if immutable(f.Name) {
				s.sums[f.Name] = f
			}
		}
	}
}

// Retained lists the retained checkpoints, newest first, as verified when
// they were written (or, for those found when the store was opened, as
// their manifests describe them). It reads no file: see Checkpoints to
// verify them again.
func (s *Store) Retained() []Meta {
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	return append([]Meta{}, s.retained...)
}

// validCheckpoint checks a checkpoint or savepoint directory against its
// manifest and returns its description.
func validCheckpoint(dir string) (Meta, error) {
	m, err := readManifest(dir)
	if err != nil {
		return Meta{}, err
	}
	for _, f := range m.Files {
		size, sum, err := checksum(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil {
			return Meta{}, fmt.Errorf("%s: %v", dir, err)
		}
		if size != f.Size || sum != f.CRC32 {
			return Meta{}, fmt.Errorf("%s: %s does not match its checksum (size %d, want %d)", dir, f.Name, size, f.Size)
		}
	}
	return m.Meta, nil
}

// checkpointNames lists retained checkpoint directories, oldest first.
func checkpointNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasSuffix(e.Name(), ".tmp") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Checkpoints lists the retained checkpoints that pass their manifest
// check, newest first; invalid ones are reported through the logger and
// skipped.
func (s *Store) Checkpoints() ([]Meta, error) {
	names, err := checkpointNames(s.checkpointsDir())
	if err != nil {
		return nil, err
	}
	var out []Meta
	for i := len(names) - 1; i >= 0; i-- {
		m, err := validCheckpoint(filepath.Join(s.checkpointsDir(), names[i]))
		if err != nil {
			s.opts.Logger.Warn("state: skipping an invalid checkpoint", "err", err)
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// newestCheckpoint returns the directory of the newest valid retained
// checkpoint, or "" when there is none.
func (s *Store) newestCheckpoint() (string, Meta, error) {
	names, err := checkpointNames(s.checkpointsDir())
	if err != nil {
		return "", Meta{}, err
	}
	for i := len(names) - 1; i >= 0; i-- {
		dir := filepath.Join(s.checkpointsDir(), names[i])
		m, err := validCheckpoint(dir)
		if err != nil {
			s.opts.Logger.Warn("state: skipping an invalid checkpoint", "err", err)
			continue
		}
		return dir, m, nil
	}
	return "", Meta{}, nil
}

// linkDir copies a directory tree of regular files as hard links, or
// copies where it cannot link (another filesystem).
func linkDir(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if os.Link(p, dst) == nil {
			return nil
		}
		return durable.CopyFile(p, dst)
	})
}

// copyDir copies a directory tree of regular files, each synced, and
// syncs the directories.
func copyDir(from, to string) error {
	var dirs []string
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			dirs = append(dirs, dst)
			return os.MkdirAll(dst, 0o755)
		}
		return durable.CopyFile(p, dst)
	})
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := durable.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}
