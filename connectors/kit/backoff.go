package kit

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// Backoff says how long to wait between attempts: exponential growth from
// Initial by Multiplier, capped at Max, with subtractive jitter. The wait
// after the n-th failed attempt is
//
//	d = min(Max, Initial × Multiplier^(n-1))
//	wait = d × (1 − Jitter × r), r uniform in [0, 1)
//
// so a wait never exceeds Max and is at least d × (1 − Jitter): Jitter 0
// waits exactly d, 0.5 ("equal jitter") between d/2 and d, 1 ("full
// jitter") anywhere between 0 and d. Jitter spreads out clients that
// failed together (a broker restart), so they do not retry in lockstep.
//
// The zero value waits 100ms, doubling up to 30s, without jitter; a
// decoded config gets the defaults of the tags.
type Backoff struct {
	Initial    time.Duration `yaml:"initial" default:"100ms" doc:"Wait after the first failed attempt; later waits grow by multiplier."`
	Max        time.Duration `yaml:"max" default:"30s" doc:"Longest wait between two attempts."`
	Multiplier float64       `yaml:"multiplier" default:"2" doc:"Factor by which the wait grows after each failed attempt (at least 1)."`
	Jitter     float64       `yaml:"jitter" default:"0.5" doc:"Fraction of each wait that is random, between 0 and 1: a wait of d becomes a random wait between d×(1-jitter) and d, so clients that failed together do not retry together."`

	// Rand returns a number in [0, 1) for the jitter; nil uses
	// math/rand/v2. Tests set it to make Delay deterministic.
	Rand func() float64 `yaml:"-"`
}

const (
	defaultInitial    = 100 * time.Millisecond
	defaultMax        = 30 * time.Second
	defaultMultiplier = 2
)

// Delay returns the wait after the attempt-th failed attempt (1 for the
// first; smaller values count as 1).
func (b Backoff) Delay(attempt int) time.Duration {
	initial, maxD, mult := b.Initial, b.Max, b.Multiplier
	if initial <= 0 {
		initial = defaultInitial
	}
	if maxD <= 0 {
		maxD = max(defaultMax, initial)
	}
	if mult < 1 {
		mult = defaultMultiplier
	}
	attempt = max(attempt, 1)
	d := float64(initial) * math.Pow(mult, float64(attempt-1))
	if d > float64(maxD) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(maxD)
	}
	if j := min(max(b.Jitter, 0), 1); j > 0 {
		r := rand.Float64
		if b.Rand != nil {
			r = b.Rand
		}
		d *= 1 - j*r()
	}
	return time.Duration(d)
}

// Wait sleeps for Delay(attempt), or until ctx ends, when it returns ctx's
// error.
func (b Backoff) Wait(ctx context.Context, attempt int) error {
	return sleep(ctx, b.Delay(attempt))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Validate reports every problem of the settings, as runtime field errors
// relative to the block (wrap them with Under).
func (b Backoff) Validate() error {
	var errs []error
	if b.Initial <= 0 {
		errs = append(errs, runtime.FieldErr("initial", "must be positive"))
	}
	if b.Max < b.Initial {
		errs = append(errs, runtime.FieldErr("max", "must be at least initial (%v)", b.Initial))
	}
	if b.Multiplier < 1 {
		errs = append(errs, runtime.FieldErr("multiplier", "must be at least 1"))
	}
	if b.Jitter < 0 || b.Jitter > 1 {
		errs = append(errs, runtime.FieldErr("jitter", "must be between 0 and 1"))
	}
	return errors.Join(errs...)
}
