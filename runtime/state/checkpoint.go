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

// retain writes checkpoint meta under Dir/checkpoints and removes the
// oldest beyond Retain.
func (s *Store) retain(meta Meta) error {
	dir := filepath.Join(s.checkpointsDir(), fmt.Sprintf("%020d", meta.ID))
	if err := s.writeCheckpoint(dir, meta); err != nil {
		return err
	}
	names, err := checkpointNames(s.checkpointsDir())
	if err != nil {
		return err
	}
	for len(names) > s.opts.Retain {
		if err := os.RemoveAll(filepath.Join(s.checkpointsDir(), names[0])); err != nil {
			return err
		}
		names = names[1:]
	}
	return nil
}

// writeCheckpoint copies the store (hard links where it can) into dir and
// writes its manifest last.
func (s *Store) writeCheckpoint(dir string, meta Meta) error {
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := s.db.Checkpoint(tmp, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	m := manifest{Meta: meta}
	err := filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tmp, p)
		size, sum, err := checksum(p)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, manifestFile{Name: filepath.ToSlash(rel), Size: size, CRC32: sum})
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing checkpoint %d: %w", meta.ID, err)
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeSynced(filepath.Join(tmp, checkpointFile), b); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// validCheckpoint checks a checkpoint or savepoint directory against its
// manifest and returns its description.
func validCheckpoint(dir string) (Meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		return Meta{}, fmt.Errorf("%s is not a complete checkpoint (no %s): %w", dir, checkpointFile, err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("%s: %s is corrupt: %v", dir, checkpointFile, err)
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
func (s *Store) newestCheckpoint() (string, error) {
	names, err := checkpointNames(s.checkpointsDir())
	if err != nil {
		return "", err
	}
	for i := len(names) - 1; i >= 0; i-- {
		dir := filepath.Join(s.checkpointsDir(), names[i])
		if _, err := validCheckpoint(dir); err != nil {
			s.opts.Logger.Warn("state: skipping an invalid checkpoint", "err", err)
			continue
		}
		return dir, nil
	}
	return "", nil
}

// copyDir copies a directory tree of regular files.
func copyDir(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
