package kit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that a Retry's Sleep advances, recording the
// waits.
type fakeClock struct {
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) use(r *Retry) {
	c.now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Now = func() time.Time { return c.now }
	r.Sleep = func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.waits = append(c.waits, d)
		c.now = c.now.Add(d)
		return nil
	}
}

// get is an operation that GETs url and classifies the response.
func get(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return Permanent(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if err != nil {
			return err
		}
		return ClassifyHTTP(resp.StatusCode, resp.Header, string(body))
	}
}

// A server that throttles once is called again only after the delay its
// Retry-After header gives, in either form, and not after the much
// shorter backoff.
func TestRetryHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter func() string
		status     int
		atLeast    time.Duration
	}{
		{"429 delta-seconds", func() string { return "1" }, http.StatusTooManyRequests, time.Second},
		{"429 HTTP-date", func() string { return time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat) }, http.StatusTooManyRequests, 2 * time.Second},
		{"503 delta-seconds", func() string { return "2" }, http.StatusServiceUnavailable, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					w.Header().Set("Retry-After", tt.retryAfter())
					w.WriteHeader(tt.status)
					fmt.Fprint(w, "slow down")
					return
				}
				fmt.Fprint(w, "ok")
			}))
			t.Cleanup(srv.Close)
			r := Retry{Backoff: Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond, Multiplier: 2}, MaxAttempts: 5}
			var clock fakeClock
			clock.use(&r)
			var retried []error
			r.OnRetry = func(attempt int, err error, delay time.Duration) { retried = append(retried, err) }
			if err := r.Do(t.Context(), get(srv.URL)); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
			if len(clock.waits) != 1 || clock.waits[0] < tt.atLeast || clock.waits[0] > tt.atLeast+2*time.Second {
				t.Errorf("waits %v, want one of at least %v (the Retry-After)", clock.waits, tt.atLeast)
			}
			var se *StatusError
			if len(retried) != 1 || !errors.As(retried[0], &se) || se.Code != tt.status || se.Body != "slow down" {
				t.Errorf("OnRetry saw %v, want the %d response", retried, tt.status)
			}
		})
	}
}

// A throttle longer than the time left is not waited for.
func TestRetryThrottleBeyondMaxElapsed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	r := Retry{Backoff: Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}, MaxElapsed: 10 * time.Second}
	var clock fakeClock
	clock.use(&r)
	err := r.Do(t.Context(), get(srv.URL))
	if !errors.Is(err, ErrRetriesExhausted) {
		t.Fatalf("err = %v, want ErrRetriesExhausted", err)
	}
	var te *ThrottledError
	if !errors.As(err, &te) || te.After != time.Minute {
		t.Errorf("err = %v, want it to wrap the throttle of 1m", err)
	}
	if len(clock.waits) != 0 {
		t.Errorf("waited %v", clock.waits)
	}
	if !strings.Contains(err.Error(), "after 1 attempt") || !strings.Contains(err.Error(), "429") {
		t.Errorf("err %q does not say the attempts and the status", err)
	}
}

func TestRetryDo(t *testing.T) {
	errFlaky := errors.New("flaky")
	tests := []struct {
		name        string
		maxAttempts int
		maxElapsed  time.Duration
		fail        func(attempt int) error // the error of each attempt
		wantCalls   int
		wantWaits   []time.Duration
		wantIs      []error
		wantMsg     string
	}{
		{
			name: "succeeds at once", fail: func(int) error { return nil },
			wantCalls: 1,
		},
		{
			name: "succeeds on the third", fail: func(a int) error {
				if a < 3 {
					return errFlaky
				}
				return nil
			},
			wantCalls: 3, wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
		},
		{
			name: "attempts run out", maxAttempts: 3, fail: func(int) error { return errFlaky },
			wantCalls: 3, wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
			wantIs: []error{errFlaky, ErrRetriesExhausted}, wantMsg: "giving up after 3 attempts",
		},
		{
			name: "time runs out", maxElapsed: 50 * time.Millisecond, fail: func(int) error { return errFlaky },
			// 10+20 = 30ms; 30+40 would pass 50ms.
			wantCalls: 3, wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
			wantIs: []error{errFlaky, ErrRetriesExhausted}, wantMsg: "giving up after 3 attempts in 30ms",
		},
		{
			name: "permanent", fail: func(a int) error {
				if a == 2 {
					return Permanent(errFlaky)
				}
				return errFlaky
			},
			wantCalls: 2, wantWaits: []time.Duration{10 * time.Millisecond},
			wantIs: []error{errFlaky}, wantMsg: "giving up after 2 attempts in 10ms (permanent error): flaky",
		},
		{
			name: "throttle without delay backs off", maxAttempts: 2, fail: func(int) error { return Throttled(errFlaky, 0) },
			wantCalls: 2, wantWaits: []time.Duration{10 * time.Millisecond},
			wantIs: []error{errFlaky, ErrRetriesExhausted},
		},
		{
			name: "throttle shorter than the backoff", maxAttempts: 2, fail: func(int) error { return Throttled(errFlaky, time.Millisecond) },
			wantCalls: 2, wantWaits: []time.Duration{10 * time.Millisecond},
			wantIs: []error{errFlaky},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Retry{Backoff: Backoff{Initial: 10 * time.Millisecond, Max: time.Second, Multiplier: 2}, MaxAttempts: tt.maxAttempts, MaxElapsed: tt.maxElapsed}
			var clock fakeClock
			clock.use(&r)
			var onRetry []int
			r.OnRetry = func(attempt int, err error, delay time.Duration) { onRetry = append(onRetry, attempt) }
			calls := 0
			err := r.Do(t.Context(), func(ctx context.Context) error {
				calls++
				return tt.fail(calls)
			})
			if calls != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls, tt.wantCalls)
			}
			if fmt.Sprint(clock.waits) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waits %v, want %v", clock.waits, tt.wantWaits)
			}
			if len(onRetry) != len(tt.wantWaits) {
				t.Errorf("OnRetry called for attempts %v, want %d calls", onRetry, len(tt.wantWaits))
			}
			if tt.wantIs == nil && tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("err %q does not wrap %q", err, target)
				}
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

// A context that ends during a wait stops Do with both the context's error
// and the last one.
func TestRetryContextEnds(t *testing.T) {
	errDown := errors.New("down")
	ctx, cancel := context.WithCancel(t.Context())
	r := Retry{Backoff: Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}}
	calls := 0
	r.OnRetry = func(int, error, time.Duration) { cancel() }
	err := r.Do(ctx, func(ctx context.Context) error {
		calls++
		return errDown
	})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errDown) || calls != 1 {
		t.Errorf("err = %v after %d calls, want context.Canceled and the last error after 1", err, calls)
	}
	if err := r.Do(ctx, func(ctx context.Context) error { t.Fatal("called"); return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Do on an ended context = %v", err)
	}
	// A deadline before the next wait ends stops Do at once.
	dctx, dcancel := context.WithTimeout(t.Context(), time.Minute)
	defer dcancel()
	start := time.Now()
	err = r.Do(dctx, func(ctx context.Context) error { return errDown })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errDown) || time.Since(start) > 10*time.Second {
		t.Errorf("err = %v after %v, want a deadline error at once", err, time.Since(start))
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 3 ", 3 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Wednesday, 01-Jan-30 12:00:05 GMT", 5 * time.Second, true}, // RFC 850, allowed by HTTP
		{"99999999999999999999999", 1<<63 - 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Retry-After", tt.header)
			}
			got, ok := RetryAfter(h, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestClassifyHTTP(t *testing.T) {
	withAfter := http.Header{"Retry-After": {"7"}}
	tests := []struct {
		status     int
		h          http.Header
		body       string
		nilErr     bool
		permanent  bool
		throttle   bool
		after      time.Duration
		wantInText string
	}{
		{status: 200, nilErr: true},
		{status: 204, nilErr: true},
		{status: 429, h: withAfter, throttle: true, after: 7 * time.Second, wantInText: "HTTP status 429 Too Many Requests"},
		{status: 429, throttle: true, wantInText: "429"},
		{status: 503, h: withAfter, throttle: true, after: 7 * time.Second, wantInText: "503 Service Unavailable"},
		{status: 503, wantInText: "503"},
		{status: 500, body: "  boom\n", wantInText: "HTTP status 500 Internal Server Error: boom"},
		{status: 502, wantInText: "502"},
		{status: 400, body: "bad field", permanent: true, wantInText: "400 Bad Request: bad field"},
		{status: 401, permanent: true, wantInText: "401"},
		{status: 404, h: withAfter, permanent: true, wantInText: "404"},
		{status: 302, permanent: true, wantInText: "302"},
		{status: 599, wantInText: "HTTP status 599"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, tt.h != nil), func(t *testing.T) {
			err := ClassifyHTTP(tt.status, tt.h, tt.body)
			if tt.nilErr {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("nil error")
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v", err, !tt.permanent)
			}
			var te *ThrottledError
			if errors.As(err, &te) != tt.throttle || (te != nil && te.After != tt.after) {
				t.Errorf("err = %#v, want throttle %v after %v", err, tt.throttle, tt.after)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tt.status {
				t.Errorf("err %v does not wrap a StatusError %d", err, tt.status)
			}
			if !strings.Contains(err.Error(), tt.wantInText) {
				t.Errorf("err %q does not contain %q", err, tt.wantInText)
			}
		})
	}
	long := ClassifyHTTP(500, nil, strings.Repeat("x", 10000))
	if n := len(long.Error()); n > 600 {
		t.Errorf("an error with a long body is %d bytes", n)
	}
}

func TestRetryValidate(t *testing.T) {
	ok := Retry{Backoff: Backoff{Initial: time.Millisecond, Max: time.Second, Multiplier: 2}}
	checkFields(t, ok.Validate(), nil)
	bad := ok
	bad.MaxAttempts, bad.MaxElapsed, bad.Multiplier = -1, -1, 0
	checkFields(t, bad.Validate(), []string{"multiplier", "max_attempts", "max_elapsed"})
	checkFields(t, Under("retry", bad.Validate()), []string{"retry.multiplier", "retry.max_attempts", "retry.max_elapsed"})
}
