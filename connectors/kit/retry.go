package kit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// ErrRetriesExhausted is wrapped by the error of Retry.Do when the
// attempts or the time allowed ran out.
var ErrRetriesExhausted = errors.New("retries exhausted")

// Retry is a retry policy: Do runs an operation until it succeeds, its
// error is permanent, its context ends or the budget (MaxAttempts,
// MaxElapsed) runs out, waiting Backoff between attempts, or longer when
// the error asks for it (Throttled). A zero MaxAttempts or MaxElapsed is
// no limit; the zero Retry retries until the context ends.
//
// A Retry is safe for concurrent use (by several Do calls) when its hooks
// are.
type Retry struct {
	Backoff     `yaml:",inline"`
	MaxAttempts int           `yaml:"max_attempts" default:"10" doc:"Most attempts of one operation, the first included; 0 is no limit."`
	MaxElapsed  time.Duration `yaml:"max_elapsed" default:"2m" doc:"Most time spent on one operation, waits included: no wait starts that would end past it. 0 is no limit."`

	// OnRetry, if set, is called before each wait with the attempt that
	// failed (from 1), its error and the wait. Use it to log or count
	// retries; do not log secrets the error may hold.
	OnRetry func(attempt int, err error, delay time.Duration) `yaml:"-"`
	// Sleep waits d or until ctx ends, returning ctx's error then; nil
	// uses a timer. Tests replace it (with Now) to run without waiting.
	Sleep func(ctx context.Context, d time.Duration) error `yaml:"-"`
	// Now is the clock MaxElapsed is measured on; nil is time.Now.
	Now func() time.Time `yaml:"-"`
}

// Do runs op until it returns nil, then returns nil. Otherwise it returns
// an error that says how many attempts were made and why it stopped, and
// wraps the last error of op (errors.Is and errors.As reach it), and also
// ctx's error when ctx ended, or ErrRetriesExhausted. It does not retry an
// error marked Permanent. For an error marked Throttled it waits at least
// the delay the error carries, still within MaxElapsed and ctx: a wait
// that would pass either is not started.
func (r Retry) Do(ctx context.Context, op func(ctx context.Context) error) error {
	now, sleepFn := r.Now, r.Sleep
	if now == nil {
		now = time.Now
	}
	if sleepFn == nil {
		sleepFn = sleep
	}
	start := now()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("no attempt made: %w", err)
	}
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		giveUp := func(why error) error {
			return fmt.Errorf("giving up after %s in %v (%w): %w", attempts(attempt), now().Sub(start).Round(time.Millisecond), why, err)
		}
		if IsPermanent(err) {
			return giveUp(errPermanent)
		}
		if cerr := ctx.Err(); cerr != nil {
			return giveUp(cerr)
		}
		if r.MaxAttempts > 0 && attempt >= r.MaxAttempts {
			return giveUp(fmt.Errorf("%w: max_attempts is %d", ErrRetriesExhausted, r.MaxAttempts))
		}
		delay := r.Delay(attempt)
		var te *ThrottledError
		if errors.As(err, &te) && te.After > delay {
			delay = te.After
		}
		if r.MaxElapsed > 0 && now().Sub(start)+delay > r.MaxElapsed {
			return giveUp(fmt.Errorf("%w: waiting %v more would pass max_elapsed %v", ErrRetriesExhausted, delay.Round(time.Millisecond), r.MaxElapsed))
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return giveUp(fmt.Errorf("%w: waiting %v more would pass the deadline", context.DeadlineExceeded, delay.Round(time.Millisecond)))
		}
		if r.OnRetry != nil {
			r.OnRetry(attempt, err, delay)
		}
		if serr := sleepFn(ctx, delay); serr != nil {
			return giveUp(serr)
		}
	}
}

// Validate reports every problem of the settings, as runtime field errors
// relative to the block (wrap them with Under).
func (r Retry) Validate() error {
	errs := []error{r.Backoff.Validate()}
	if r.MaxAttempts < 0 {
		errs = append(errs, runtime.FieldErr("max_attempts", "must not be negative (0 is no limit)"))
	}
	if r.MaxElapsed < 0 {
		errs = append(errs, runtime.FieldErr("max_elapsed", "must not be negative (0 is no limit)"))
	}
	return errors.Join(errs...)
}

var errPermanent = errors.New("permanent error")

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (a bad request, a failed
// authentication): Retry.Do and Connect return it at once. Its text is
// err's. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked by
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ThrottledError is an error marked by Throttled: the server asked to be
// called again no sooner than After.
type ThrottledError struct {
	// After is the server's delay; 0 when it gave none.
	After time.Duration
	Err   error
}

func (e *ThrottledError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("throttled, retry after %v: %v", e.After, e.Err)
	}
	return "throttled: " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ThrottledError) Unwrap() error { return e.Err }

// Throttled marks err as a throttle: Retry.Do and Connect wait at least
// after (when positive, else their usual backoff) before the next attempt.
// Throttled(nil, d) is nil.
func Throttled(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &ThrottledError{After: max(after, 0), Err: err}
}

// RetryAfter returns the delay of h's Retry-After header at time now, in
// either form: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015
// 07:28:00 GMT"; a date in the past is 0). ok is false when the header is
// missing or invalid.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return math.MaxInt64, true
			}
			return 0, false
		}
		if n > uint64(math.MaxInt64/int64(time.Second)) {
			return math.MaxInt64, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// maxBody is how much of a response body a StatusError keeps.
const maxBody = 512

// StatusError is an HTTP response with a status that is not a success.
type StatusError struct {
	Code int
	// Body is the start of the response body (at most 512 bytes, spaces
	// trimmed).
	Body string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("HTTP status %d", e.Code)
	if t := http.StatusText(e.Code); t != "" {
		s += " " + t
	}
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// ClassifyHTTP turns an HTTP response into the error Retry.Do expects: nil
// for 2xx; a Throttled *StatusError for 429, and for 503 with a
// Retry-After header, with the header's delay; a retryable *StatusError
// for other 5xx; a Permanent one for any other status (4xx, and 1xx or 3xx
// that reached the caller). body is the response body or its start; it
// goes into the error's text, so do not pass one that can hold a secret.
func ClassifyHTTP(status int, h http.Header, body string) error {
	if status >= 200 && status <= 299 {
		return nil
	}
	body = strings.TrimSpace(body)
	if len(body) > maxBody {
		body = strings.ToValidUTF8(body[:maxBody], "") + "…"
	}
	err := &StatusError{Code: status, Body: body}
	after, hasAfter := RetryAfter(h, time.Now())
	switch {
	case status == http.StatusTooManyRequests:
		return Throttled(err, after)
	case status == http.StatusServiceUnavailable && hasAfter:
		return Throttled(err, after)
	case status >= 500 && status <= 599:
		return err
	}
	return Permanent(err)
}
