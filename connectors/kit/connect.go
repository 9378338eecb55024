package kit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Connect calls dial until it returns nil, waiting b between attempts, and
// returns nil then. A connector calls it in Open and again when it lost
// its connection. It stops early when ctx ends, returning an error that
// says how many attempts it made for how long and wraps both ctx's error
// and dial's last error, or when dial's error is marked Permanent (a
// refused login), returning that error wrapped. A Throttled error waits at
// least its delay.
//
// Each failure is logged on log (nil: not logged) at Warn level with the
// attempt, the next wait and the error; a success after failures at Info.
// what names the endpoint in the logs and the error ("kafka broker
// 10.0.0.1:9092"); a password in a URL there is masked, and so is its
// every occurrence in the logged and returned errors, but what should not
// hold other secrets, and dial's errors should not either.
func Connect(ctx context.Context, b Backoff, log *slog.Logger, what string, dial func(ctx context.Context) error) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name, password := maskURL(what)
	scrub := func(err error) string {
		s := err.Error()
		if password != "" {
			s = strings.ReplaceAll(s, password, "xxxxx")
		}
		return s
	}
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("connecting to %s: no attempt made: %w", name, err)
	}
	for attempt := 1; ; attempt++ {
		err := dial(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info("connected", "to", name, "attempts", attempt, "after", time.Since(start).Round(time.Millisecond))
			}
			return nil
		}
		if IsPermanent(err) {
			err = fmt.Errorf("connecting to %s: attempt %d failed permanently: %w", name, attempt, err)
			if password != "" {
				err = &maskedError{err: err, password: password}
			}
			return err
		}
		delay := b.Delay(attempt)
		var te *ThrottledError
		if errors.As(err, &te) && te.After > delay {
			delay = te.After
		}
		if ctx.Err() == nil {
			log.Warn("connecting failed", "to", name, "attempt", attempt, "retry_in", delay.Round(time.Millisecond), "err", scrub(err))
			if sleep(ctx, delay) == nil {
				continue
			}
		}
		err = fmt.Errorf("connecting to %s: gave up after %s in %v: %w: last error: %w", name, attempts(attempt), time.Since(start).Round(time.Millisecond), ctx.Err(), err)
		if password != "" {
			err = &maskedError{err: err, password: password}
		}
		return err
	}
}

// maskedError is err with a password masked in its text.
type maskedError struct {
	err      error
	password string
}

func (e *maskedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.password, "xxxxx") }
func (e *maskedError) Unwrap() error { return e.err }

// maskURL returns what with the password of a URL in it masked, and the
// password.
func maskURL(what string) (masked, password string) {
	if !strings.Contains(what, "@") {
		return what, ""
	}
	u, err := url.Parse(what)
	if err != nil || u.User == nil {
		return what, ""
	}
	p, ok := u.User.Password()
	if !ok || p == "" {
		return what, ""
	}
	return u.Redacted(), p
}
