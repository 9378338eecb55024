package runtime

import (
	"context"
	"time"
)

// throttle waits until n records may pass under the pipeline's rate limit
// (WithRateLimit): a token bucket refilled at the rate, holding at most a
// second's worth. It returns false when run ends first.
func (p *Pipeline) throttle(run context.Context, n int) bool {
	now := time.Now()
	if p.bucketAt.IsZero() {
		p.bucketAt, p.tokens = now, p.rate
	}
	p.tokens = min(p.rate, p.tokens+now.Sub(p.bucketAt).Seconds()*p.rate)
	p.bucketAt = now
	p.tokens -= float64(n)
	if p.tokens >= 0 {
		return true
	}
	p.throttled.Add(1)
	wait := time.Duration(-p.tokens / p.rate * float64(time.Second))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-run.Done():
		return false
	}
}
