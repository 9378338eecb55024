//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package state

import (
	"fmt"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// lockPath locks path with Pebble's portable file lock; the holder's pid is
// then read from a file beside it.
func lockPath(path, holder string) (func() error, error) {
	c, err := vfs.Default.Lock(path)
	if err != nil {
		return nil, &LockedError{Dir: filepath.Dir(path), PID: pidInFile(path + ".pid"), Holder: readHolder(path + ".pid")}
	}
	if err := writeSynced(path+".pid", lockContent(holder)); err != nil {
		c.Close()
		return nil, fmt.Errorf("writing the state store's lock file: %w", err)
	}
	return c.Close, nil
}
