// Package durable holds the few file operations whose crash safety every
// part of wasmstream relies on: a rename is durable only once the directory
// that holds it is synced, and a file replaced in place is written beside its
// final name, synced, renamed and then its directory synced.
//
// The state store, checkpoints, source progress and the file sink all go
// through here, so the order of those steps is written once.
package durable

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory dir, making the creation, removal or renaming
// of its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s to sync it: %w", dir, err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, serr)
	}
	return cerr
}

// Rename renames oldpath to newpath and syncs newpath's parent directory (and
// oldpath's, when it is another directory), so the rename survives a crash.
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	newDir := filepath.Dir(newpath)
	if err := SyncDir(newDir); err != nil {
		return err
	}
	if oldDir := filepath.Dir(oldpath); oldDir != newDir {
		return SyncDir(oldDir)
	}
	return nil
}

// WriteFile replaces path with data atomically: it writes a temporary file in
// the same directory, syncs it, renames it over path and syncs the directory.
// A crash leaves either the old content or the new, never a mix; a leftover
// temporary file (name ".<base>.tmp-*") may remain and is safe to delete.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	ok = true
	return nil
}

// CopyFile copies the regular file from to a new file to (truncating one
// that exists) and syncs the copy. It does not sync to's directory: callers
// copying many files sync it once, with SyncDir.
func CopyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
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
}
