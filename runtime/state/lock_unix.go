//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package state

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// lockPath takes an exclusive POSIX record lock on path and writes the
// holder into it through the locked descriptor (closing any other
// descriptor of the file would drop a POSIX lock).
func lockPath(path, holder string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the state store: %w", err)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		f.Close()
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) {
			return nil, &LockedError{Dir: filepath.Dir(path), PID: holderPID(path), Holder: readHolder(path)}
		}
		return nil, fmt.Errorf("locking the state store %s: %w", path, err)
	}
	b := lockContent(holder)
	if err := f.Truncate(0); err == nil {
		if _, err := f.WriteAt(b, 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("writing the state store's lock file %s: %w", path, err)
		}
	}
	return f.Close, nil
}

// holderPID asks the system which process holds the lock on path, falling
// back to the pid written in the file.
func holderPID(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err == nil && lk.Type != syscall.F_UNLCK && lk.Pid > 0 {
		return int(lk.Pid)
	}
	return pidInFile(path)
}
