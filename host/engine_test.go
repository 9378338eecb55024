//go:build unix

package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadRefusesNonRegularFiles guards issue #8 (bad configuration): a
// module path naming a FIFO hung validate and run, and /dev/zero ran the
// process out of memory. Load refuses anything but a regular file (or a
// link to one) before reading it, and a file larger than MaxModuleSize,
// with an error naming the path; it never waits on a FIFO's writer.
func TestLoadRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "module.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	large := filepath.Join(dir, "large.wasm")
	f, err := os.Create(large)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxModuleSize + 1); err != nil { // sparse: nothing written
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "zero.wasm")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t)
	for _, c := range []struct{ name, path, want string }{
		{"fifo", fifo, "is a named pipe (FIFO), not a regular file"},
		{"device", "/dev/zero", "is a device, not a regular file"},
		{"link to a device", link, "is a device, not a regular file"},
		{"directory", dir, "is a directory, not a regular file"},
		{"too large", large, "more than the 268435456 the host loads"},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := e.Load(t.Context(), c.path); done <- err }()
			select {
			case err := <-done:
				var me *ModuleError
				if !errors.As(err, &me) || me.Module != c.path || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
					t.Fatalf("Load(%s) = %v, want a *ModuleError naming the path: %s", c.path, err, c.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("Load(%s) has not returned after 5s", c.path)
			}
		})
	}
	t.Run("link to a module", func(t *testing.T) {
		mod := filepath.Join(dir, "loop.wasm")
		if err := os.WriteFile(mod, wat(t, "loop"), 0o600); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "link.wasm")
		if err := os.Symlink(mod, link); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Load(t.Context(), link); err != nil {
			t.Fatalf("Load through a link: %v", err)
		}
	})
}
