package host

import (
	"errors"
	"fmt"
	"testing"
)

// TestGuestErrorTimeout guards issue #8 item 12: the runtime recognises a
// deadline-type failure by a Timeout method in the error chain, so that it
// bounds the bisection of a batch whose calls run into their deadline.
func TestGuestErrorTimeout(t *testing.T) {
	for _, c := range []struct {
		kind error
		want bool
	}{{ErrDeadline, true}, {ErrTrap, false}, {ErrOperator, false}, {ErrMemoryLimit, false}} {
		err := fmt.Errorf("processing: %w", &GuestError{Kind: c.kind})
		var te interface{ Timeout() bool }
		if ok := errors.As(err, &te); !ok || te.Timeout() != c.want {
			t.Errorf("%v: Timeout() = %v, want %v", c.kind, ok && te.Timeout(), c.want)
		}
	}
}
