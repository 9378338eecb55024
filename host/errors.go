package host

import (
	"errors"
	"fmt"
)

// Causes a *GuestError wraps; test with errors.Is.
var (
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access, stack
	// overflow, division by zero...).
	ErrTrap = errors.New("guest trapped")
	// ErrDeadline: a call ran past its deadline and was stopped.
	ErrDeadline = errors.New("guest call exceeded its deadline")
	// ErrMemoryLimit: the guest tried to grow its memory past its limit.
	ErrMemoryLimit = errors.New("guest exceeded its memory limit")
	// ErrBadOutput: the guest returned a location outside its memory or
	// bytes that are not a valid frame.
	ErrBadOutput = errors.New("guest returned invalid output")
	// ErrOperator: the guest reported an error through the ABI.
	ErrOperator = errors.New("operator reported an error")
	// ErrExit: the guest exited (WASI proc_exit), e.g. a Go runtime panic.
	ErrExit = errors.New("guest exited")
	// ErrUnsupportedABI: the module declares an ABI version the host does
	// not run.
	ErrUnsupportedABI = errors.New("unsupported ABI version")
)

// GuestError is a failed call into a guest.
type GuestError struct {
	Pipeline string
	Operator string
	Instance int
	Module   string // path or name, with its digest
	Function string // the export that was called
	Kind     error  // one of the Err* causes
	Detail   string // the guest's message or the runtime's description
}

func (e *GuestError) Error() string {
	return fmt.Sprintf("pipeline %s, operator %s (instance %d, module %s): %s: %v: %s",
		e.Pipeline, e.Operator, e.Instance, e.Module, e.Function, e.Kind, e.Detail)
}

// Unwrap returns the cause, for errors.Is.
func (e *GuestError) Unwrap() error { return e.Kind }

// Timeout reports whether the call was stopped at its deadline. The
// runtime's failure policy treats such a failure as deadline-type (it does
// not bisect a batch call after call into the deadline).
func (e *GuestError) Timeout() bool { return errors.Is(e.Kind, ErrDeadline) }

// Broken reports whether the instance that failed must be discarded: true
// for everything but an error the operator reported itself.
func (e *GuestError) Broken() bool { return !errors.Is(e.Kind, ErrOperator) }

// ModuleError is a module that cannot be loaded or instantiated.
type ModuleError struct {
	Module string
	Err    error
}

func (e *ModuleError) Error() string { return fmt.Sprintf("module %s: %v", e.Module, e.Err) }

// Unwrap returns the cause.
func (e *ModuleError) Unwrap() error { return e.Err }
