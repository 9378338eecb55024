package kit

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	tests := []struct {
		name    string
		jitter  float64
		r       float64
		attempt int
		want    time.Duration
	}{
		{"first", 0, 0, 1, 100 * time.Millisecond},
		{"attempt 0 counts as 1", 0, 0, 0, 100 * time.Millisecond},
		{"grows", 0, 0, 3, 400 * time.Millisecond},
		{"capped", 0, 0, 5, time.Second},
		{"no overflow far out", 0, 0, 10000, time.Second},
		{"equal jitter, lowest", 0.5, 0.999999, 3, 200*time.Millisecond + 80*time.Nanosecond},
		{"equal jitter, highest", 0.5, 0, 3, 400 * time.Millisecond},
		{"full jitter", 1, 0.25, 2, 150 * time.Millisecond},
		{"jitter never passes max", 0.5, 0, 50, time.Second},
		{"jitter clamped to 1", 3, 0.5, 1, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := b
			b.Jitter = tt.jitter
			b.Rand = func() float64 { return tt.r }
			got := b.Delay(tt.attempt)
			if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("Delay(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestBackoffZeroValue(t *testing.T) {
	var b Backoff
	if got := b.Delay(1); got != 100*time.Millisecond {
		t.Errorf("Delay(1) = %v, want 100ms", got)
	}
	if got := b.Delay(100); got != 30*time.Second {
		t.Errorf("Delay(100) = %v, want 30s", got)
	}
}

// With the real random source, every delay stays within its bounds.
func TestBackoffJitterBounds(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: 0.5}
	for i := 0; i < 1000; i++ {
		if d := b.Delay(2); d < time.Second || d > 2*time.Second {
			t.Fatalf("Delay(2) = %v, want between 1s and 2s", d)
		}
	}
}

func TestBackoffWait(t *testing.T) {
	b := Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}
	if err := b.Wait(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	long := Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}
	if err := long.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestBackoffValidate(t *testing.T) {
	tests := []struct {
		name   string
		b      Backoff
		fields []string
	}{
		{"ok", Backoff{Initial: time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.5}, nil},
		{"all wrong", Backoff{Initial: 0, Max: -1, Multiplier: 0.5, Jitter: 2}, []string{"initial", "max", "multiplier", "jitter"}},
		{"max below initial", Backoff{Initial: time.Second, Max: time.Millisecond, Multiplier: 1}, []string{"max"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFields(t, tt.b.Validate(), tt.fields)
		})
	}
}
