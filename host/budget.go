package host

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unsafe"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime"
)

// Budget bounds the host memory a guest can make the host spend on its
// behalf, outside its linear memory (which MemoryLimit caps): metric names,
// log lines and decoded output. A zero field takes its default
// (DefaultBudget). A call that breaks a budget fails with ErrBudget naming
// it. (State one call writes is bounded by its state.Txn, whose refusal
// the guest gets as status -3, abi.StatusTooLarge, and the call goes on.)
type Budget struct {
	// MetricNames bounds the distinct metric names an operator's guests
	// may use (counted over the operator's instances, for its lifetime).
	MetricNames int
	// MetricNameBytes bounds the length of one metric name.
	MetricNameBytes int
	// LogLines and LogBytes bound the log calls and stdout/stderr lines,
	// and their bytes, of one call.
	LogLines int
	LogBytes uint64
	// OutputRecords bounds the records of one output frame, checked in
	// the frame's header before any record is decoded.
	OutputRecords int
	// OutputMemory bounds the host memory the decoded output of one call
	// may take: the frame's bytes plus recordOverhead per record and
	// headerOverhead per header.
	OutputMemory uint64
}

// DefaultBudget is the budget of an instance whose Budget fields are zero.
var DefaultBudget = Budget{
	MetricNames:     1000,
	MetricNameBytes: 256,
	LogLines:        1000,
	LogBytes:        1 << 20,
	OutputRecords:   1_000_000,
	OutputMemory:    256 << 20,
}

// Host-side costs charged against a budget on top of the guest's bytes.
const (
	// recordOverhead and headerOverhead are what one decoded record or
	// header takes on the host besides its bytes, which alias the frame.
	recordOverhead = uint64(unsafe.Sizeof(abi.Record{}))
	headerOverhead = uint64(unsafe.Sizeof(abi.Header{}))
)

// withDefaults returns b with its zero fields set from DefaultBudget.
func (b Budget) withDefaults() Budget {
	d := DefaultBudget
	if b.MetricNames == 0 {
		b.MetricNames = d.MetricNames
	}
	if b.MetricNameBytes == 0 {
		b.MetricNameBytes = d.MetricNameBytes
	}
	if b.LogLines == 0 {
		b.LogLines = d.LogLines
	}
	if b.LogBytes == 0 {
		b.LogBytes = d.LogBytes
	}
	if b.OutputRecords == 0 {
		b.OutputRecords = d.OutputRecords
	}
	if b.OutputMemory == 0 {
		b.OutputMemory = d.OutputMemory
	}
	return b
}

// ErrBudget: a call made the host spend more than one of the instance's
// budgets allows (see Budget). The *GuestError's detail names the budget.
var ErrBudget = errors.New("host budget exceeded")

// budgetError names the budget a call broke, its limit and what broke it.
type budgetError struct {
	what  string
	limit string
	extra string
}

func (e *budgetError) Error() string { return ErrBudget.Error() + ": " + e.detail() }
func (e *budgetError) Unwrap() error { return ErrBudget }

// detail is the error without its ErrBudget prefix.
func (e *budgetError) detail() string {
	d := e.what + " (" + e.limit + ")"
	if e.extra != "" {
		d += ": " + e.extra
	}
	return d
}

func (e *budgetError) with(format string, args ...any) *budgetError {
	e.extra = fmt.Sprintf(format, args...)
	return e
}

func overBytes(what string, limit uint64) *budgetError {
	return &budgetError{what: what, limit: runtime.ByteSize(limit).String()}
}

func overCount(what string, limit int) *budgetError {
	return &budgetError{what: what, limit: strconv.Itoa(limit)}
}

// callBudget is what the current call has spent. Reset at the start of
// each call into the guest (Process, init, start functions).
type callBudget struct {
	logLines int
	logBytes uint64
	// broken is the budget a host function found broken; the call is
	// ended and classify reports it.
	broken *budgetError
}

// chargeLog counts one log line of n bytes. Past the budget it ends the
// call: a host function that returns nothing cannot refuse.
func (i *Instance) chargeLog(n int) {
	i.spent.logLines++
	i.spent.logBytes += uint64(n)
	switch {
	case i.spent.logLines > i.budget.LogLines:
		i.breakBudget(overCount("log lines in one call", i.budget.LogLines))
	case i.spent.logBytes > i.budget.LogBytes:
		i.breakBudget(overBytes("log bytes in one call", i.budget.LogBytes))
	}
}

// breakBudget ends the running call with e, the way yield ends a call past
// its deadline.
func (i *Instance) breakBudget(e *budgetError) {
	i.spent.broken = e
	panic(e)
}

// metricNames is the set of metric names an operator's guests have used,
// shared by its instances. Safe for concurrent use.
type metricNames struct {
	mu    sync.Mutex
	names map[string]struct{}
}

// admit reports whether name may be used: it is known, or there is room for
// one more of the limit.
func (s *metricNames) admit(name []byte, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.names[string(name)]; ok {
		return true
	}
	if len(s.names) >= limit {
		return false
	}
	if s.names == nil {
		s.names = map[string]struct{}{}
	}
	s.names[string(name)] = struct{}{}
	return true
}

// checkOutput refuses an output frame whose decoded records would pass the
// call's budget, from its header alone: the record count, and the frame's
// bytes plus recordOverhead per record.
func (i *Instance) checkOutput(frame []byte) *budgetError {
	var r abi.FrameReader
	if err := r.Reset(frame); err != nil {
		return nil // malformed: decoding reports it
	}
	n := r.Remaining()
	if n > i.budget.OutputRecords {
		return overCount("output records in one call", i.budget.OutputRecords).with("the frame holds %d", n)
	}
	if est := uint64(len(frame)) + uint64(n)*recordOverhead; est > i.budget.OutputMemory {
		return overBytes("host memory of one call's output", i.budget.OutputMemory).with(
			"%d records in %d bytes take about %d bytes decoded", n, len(frame), est)
	}
	return nil
}

// decodeOutput decodes an output frame (checked by checkOutput), stopping
// when headers would take the decoded records past OutputMemory.
func (i *Instance) decodeOutput(frame []byte) ([]abi.Record, error) {
	var r abi.FrameReader
	if err := r.Reset(frame); err != nil {
		return nil, err
	}
	n := r.Remaining()
	used := uint64(len(frame)) + uint64(n)*recordOverhead
	recs := make([]abi.Record, n)
	for j := range recs {
		if err := r.Next(&recs[j]); err != nil {
			return nil, err
		}
		if h := len(recs[j].Headers); h > 0 {
			used += uint64(h) * headerOverhead
			if used > i.budget.OutputMemory {
				return nil, overBytes("host memory of one call's output", i.budget.OutputMemory).with(
					"reached at record %d of %d, with its headers", j+1, n)
			}
		}
	}
	if err := r.Close(); err != nil {
		return nil, err
	}
	return recs, nil
}
