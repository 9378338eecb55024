package kit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Connect keeps dialling a real TCP address that refuses connections
// until a listener comes back on it, and logs each failure without the
// URL's password.
func TestConnectReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	b := Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, Jitter: 0.5}
	attempts := 0
	err = Connect(t.Context(), b, log, "amqp://app:hunter2@"+addr+"/vhost", func(ctx context.Context) error {
		attempts++
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if attempts == 3 {
				// The server comes back after the third failure.
				ln, err2 := net.Listen("tcp", addr)
				if err2 != nil {
					t.Errorf("listening again on %s: %v", addr, err2)
					return Permanent(err2)
				}
				t.Cleanup(func() { ln.Close() })
			}
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 4 {
		t.Errorf("%d attempts, want 4", attempts)
	}
	out := logs.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("the logs show the password:\n%s", out)
	}
	for _, want := range []string{"attempt=1", "attempt=2", "attempt=3", "retry_in=", "connection refused", "attempts=4", "app:xxxxx@"} {
		if !strings.Contains(out, want) {
			t.Errorf("the logs lack %q:\n%s", want, out)
		}
	}
}

// When the context ends, Connect's error wraps the last dial error and
// the context's, and says how long it tried.
func TestConnectGivesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b := Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}
	attempts := 0
	err = Connect(ctx, b, nil, addr, func(ctx context.Context) error {
		attempts++
		if attempts == 3 {
			defer cancel()
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want it to wrap the refusal and the cancellation", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "connecting to "+addr+": gave up after 3 attempts in ") {
		t.Errorf("err %q does not say what and how long", msg)
	}
}

// A permanent dial error stops Connect at once.
func TestConnectPermanent(t *testing.T) {
	errAuth := errors.New("authentication failed for user app with password hunter2")
	attempts := 0
	err := Connect(t.Context(), Backoff{}, nil, "nats://app:hunter2@127.0.0.1:4222", func(ctx context.Context) error {
		attempts++
		return Permanent(errAuth)
	})
	if attempts != 1 || !errors.Is(err, errAuth) || !IsPermanent(err) {
		t.Fatalf("err = %v after %d attempts", err, attempts)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
}
