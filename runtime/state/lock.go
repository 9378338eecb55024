package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrLocked: another process (or another Store in this process) holds the
// store's directory. It is not corruption: OnCorrupt never acts on it.
var ErrLocked = errors.New("state store in use")

// LockedError says who holds a store's lock.
type LockedError struct {
	Dir    string // the store's directory
	PID    int    // the holder's process id (0: unknown)
	Holder string // what the holder said it is ("run", "state", ...; "" unknown)
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "pid " + strconv.Itoa(e.PID)
	}
	if e.Holder == "" || e.Holder == HolderRun {
		return fmt.Sprintf("pipeline already running, %s, holds the state store %s", who, e.Dir)
	}
	return fmt.Sprintf("the state store %s is in use by %s (wasmstream %s)", e.Dir, who, e.Holder)
}

// Unwrap makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Unwrap() error { return ErrLocked }

// HolderRun is the Options.Holder of a running pipeline.
const HolderRun = "run"

// lockFile, in Options.Dir, is locked for as long as a Store is open and
// holds the holder's pid and Options.Holder. Readers of it take the pid
// from the lock itself where the system reports it, so a stale file never
// names a process that no longer holds the store.
const lockFile = "LOCK"

// inProcess tracks the directories locked by this process: file locks do
// not conflict within one process.
var inProcess struct {
	sync.Mutex
	dirs map[string]bool
}

// storeLock is a held lock; release frees it.
type storeLock struct {
	path    string
	release func() error
}

// lockStore locks dir/LOCK. While another holder that is not a running
// pipeline has it (a state or savepoint command reading the store), it
// retries for up to wait.
func lockStore(dir, holder string, wait time.Duration) (*storeLock, error) {
	path, err := filepath.Abs(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("locking the state store: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		l, err := tryLock(path, holder)
		var le *LockedError
		if err == nil || !errors.As(err, &le) || le.Holder == HolderRun || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tryLock(path, holder string) (*storeLock, error) {
	inProcess.Lock()
	defer inProcess.Unlock()
	if inProcess.dirs[path] {
		return nil, &LockedError{Dir: filepath.Dir(path), PID: os.Getpid(), Holder: readHolder(path)}
	}
	release, err := lockPath(path, holder)
	if err != nil {
		return nil, err
	}
	if inProcess.dirs == nil {
		inProcess.dirs = map[string]bool{}
	}
	inProcess.dirs[path] = true
	return &storeLock{path: path, release: release}, nil
}

func (l *storeLock) unlock() error {
	if l == nil {
		return nil
	}
	inProcess.Lock()
	defer inProcess.Unlock()
	delete(inProcess.dirs, l.path)
	return l.release()
}

// readHolder reads what the lock file says about its holder.
func readHolder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// lockContent is what a holder writes into the lock file: "pid holder".
func lockContent(holder string) []byte {
	if holder == "" {
		holder = "-"
	}
	return []byte(strconv.Itoa(os.Getpid()) + " " + holder + "\n")
}

// pidInFile reads the pid the lock file names (0 if none).
func pidInFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}
