package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrBatchFailure is the cause when a failing batch is handled as one: its
// failure is batch-level (both halves of its first split and a single
// record fail with the same cause, as when a dependency is down), or
// isolating its failing records ran out of its call or time budget.
var ErrBatchFailure = errors.New("batch failed as a whole")

// isolation bisects one failing batch under a budget (see isolate).
type isolation struct {
	w        *opWorker
	calls    int // Process calls made
	maxCalls int
	start    time.Time
	deadline time.Time
	longest  time.Duration // the longest call so far: no call starts that would end past deadline

	out       []Record // outputs of the parts that succeeded, in input order
	dead      []Record // single records that failed, as dead records
	rest      []Record // records left when the budget ran out, in input order
	restCause error    // the failure of the first part left
}

// errBudget stops a part of the bisection when the budget is spent.
var errBudget = errors.New("isolation budget spent")

// isolate finds the records of a failing batch that fail on their own. Parts
// that succeed produce output; single records that still fail are returned
// as dead, carrying their error. Two things end it early, and then the
// records not isolated are handled as one batch by on_error.batch_action
// (stop: err is non-nil and the pipeline stops; dead_letter: they are
// returned as dead with the error):
//
//   - a batch-level failure: both halves of the first split fail with the
//     same cause (the same message, or both deadline-type), and so does the
//     batch's first record alone. A dependency that is down fails every
//     call alike; bisecting would dead-letter every good record.
//   - the budget: on_error.isolate_calls Process calls and
//     on_error.isolate_timeout of time; a call is not started when the
//     longest call so far would end past the time budget, so an operator
//     that runs into its deadline is not bisected call after call.
func (w *opWorker) isolate(ctx context.Context, recs []Record, cause error) (out, dead []Record, err error) {
	pol := w.p.spec.OnError
	now := time.Now()
	s := &isolation{w: w, maxCalls: pol.IsolateCalls, start: now, deadline: now.Add(pol.IsolateTimeout)}
	if len(recs) == 1 {
		return nil, []Record{w.p.deadRecord(recs[0], w.st.spec.Path, cause)}, nil
	}
	mid := len(recs) / 2
	first, second := recs[:mid], recs[mid:]
	o1, e1 := s.try(ctx, first)
	o2, e2 := s.try(ctx, second)
	if e1 != nil && e2 != nil && !errors.Is(e1, errBudget) && !errors.Is(e2, errBudget) && sameCause(e1, e2) {
		// Both halves fail alike: a batch-level failure, unless a single
		// record gets through (a first half of one record was that test).
		if len(first) == 1 {
			return s.wholeBatch(recs, e1)
		}
		o0, e0 := s.try(ctx, first[:1])
		if e0 != nil && !errors.Is(e0, errBudget) && sameCause(e0, e1) {
			return s.wholeBatch(recs, e1)
		}
		s.settle(ctx, first[:1], o0, e0, e1)
		s.part(ctx, first[1:], e1)
		s.settle(ctx, second, nil, e2, e2)
	} else {
		s.settle(ctx, first, o1, e1, cause)
		s.settle(ctx, second, o2, e2, cause)
	}
	if ctx.Err() != nil {
		return s.out, s.dead, context.Cause(ctx)
	}
	if len(s.rest) > 0 {
		err := fmt.Errorf("%w: isolating the failing records ran out of its budget after %d calls in %v (on_error.isolate_calls %d, isolate_timeout %v); %d records not isolated, first failure: %w",
			ErrBatchFailure, s.calls, time.Since(s.start).Round(time.Millisecond), pol.IsolateCalls, pol.IsolateTimeout, len(s.rest), s.restCause)
		if pol.BatchAction != "dead_letter" {
			return nil, nil, err
		}
		w.p.log.Warn("operator batch: isolation budget spent; dead-lettering the records not isolated as one batch",
			"operator", w.st.spec.Label, "records", len(s.rest), "calls", s.calls, "err", s.restCause)
		for _, r := range s.rest {
			s.dead = append(s.dead, w.p.deadRecord(r, w.st.spec.Path, err))
		}
	}
	return s.out, s.dead, nil
}

// wholeBatch applies on_error.batch_action to a batch-level failure.
func (s *isolation) wholeBatch(recs []Record, cause error) (out, dead []Record, err error) {
	w := s.w
	err = fmt.Errorf("%w: both halves of the batch and its first record alone fail with the same error, so no record is to blame (a dependency down?): %w", ErrBatchFailure, cause)
	if w.p.spec.OnError.BatchAction != "dead_letter" {
		return nil, nil, err
	}
	w.p.log.Warn("operator batch failed as a whole; dead-lettering it as one batch",
		"operator", w.st.spec.Label, "records", len(recs), "err", cause)
	dead = make([]Record, len(recs))
	for i, r := range recs {
		dead[i] = w.p.deadRecord(r, w.st.spec.Path, err)
	}
	return nil, dead, nil
}

// try processes part unless the budget is spent.
func (s *isolation) try(ctx context.Context, part []Record) ([]Record, error) {
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if s.calls >= s.maxCalls || time.Now().Add(s.longest).After(s.deadline) {
		return nil, errBudget
	}
	s.calls++
	start := time.Now()
	out, err := s.w.processRecords(ctx, part)
	s.longest = max(s.longest, time.Since(start))
	return out, err
}

// part processes part, whose outcome is unknown, bisecting it if it fails;
// cause is what the batch it came from failed with.
func (s *isolation) part(ctx context.Context, part []Record, cause error) {
	if len(part) == 0 {
		return
	}
	out, err := s.try(ctx, part)
	s.settle(ctx, part, out, err, cause)
}

// settle takes the outcome of processing part: its output, a failure to
// bisect, or a spent budget (the part is left with the cause of the batch it
// came from).
func (s *isolation) settle(ctx context.Context, part, out []Record, err, cause error) {
	switch {
	case err == nil:
		s.out = append(s.out, out...)
	case errors.Is(err, errBudget):
		s.giveUp(part, cause)
	case ctx.Err() == nil:
		s.bisect(ctx, part, err)
	}
}

// bisect isolates the failing records of part, which failed with cause.
func (s *isolation) bisect(ctx context.Context, part []Record, cause error) {
	if ctx.Err() != nil {
		return
	}
	if len(part) == 1 {
		s.dead = append(s.dead, s.w.p.deadRecord(part[0], s.w.st.spec.Path, cause))
		return
	}
	mid := len(part) / 2
	for _, half := range [][]Record{part[:mid], part[mid:]} {
		out, err := s.try(ctx, half)
		s.settle(ctx, half, out, err, cause)
	}
}

func (s *isolation) giveUp(part []Record, cause error) {
	if len(s.rest) == 0 {
		s.restCause = cause
	}
	s.rest = append(s.rest, part...)
}

// sameCause reports whether two failures look like one cause: both
// deadline-type, or the same message.
func sameCause(a, b error) bool {
	if isTimeout(a) && isTimeout(b) {
		return true
	}
	return a.Error() == b.Error()
}

// isTimeout reports whether err is a deadline-type failure: a context
// deadline, or an error in its chain with a Timeout method that reports
// true (as net.Error and the Wasm host's deadline errors have).
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
