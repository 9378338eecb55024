package state

import "time"

// LockDir locks a state store's directory the way Open does, without
// opening the store, for a caller that changes the directory while no
// pipeline uses it (run --from-beginning removes it). While a holder other
// than a running pipeline has it, it retries for up to 5 seconds; a
// running pipeline fails it at once with a *LockedError. unlock releases
// the lock.
func LockDir(dir, holder string) (unlock func() error, err error) {
	l, err := lockStore(dir, holder, lockDirWait)
	if err != nil {
		return nil, err
	}
	return l.unlock, nil
}

const lockDirWait = 5 * time.Second
