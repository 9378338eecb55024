package wasmstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/wasmstream/wasmstream/abi"
)

// Keyed state, owned by the host: it survives instance replacement, hot
// swaps and crashes (abi/SPEC.md, section 5.1). Writes made while a batch
// is processed are applied only if the batch succeeds.
//
//	n, err := wasmstream.StateOf(r).Add("count", 1)   // a counter for the record's key
//	last, ok, err := wasmstream.StateOf(r).Get("last")
//	err = wasmstream.OperatorState().Put("seen", []byte("yes"))

// State is one key's state, or the operator's (OperatorState). The zero
// value is keyed state of the empty key.
type State struct {
	scope int32
	key   []byte
}

// StateOf returns the state of the record's key.
func StateOf(r Record) State { return KeyState(r.Key) }

// KeyState returns the state of a key. Records with one key always reach
// the same instance; touching another key's state from elsewhere is
// allowed but races with that instance.
func KeyState(key []byte) State { return State{scope: 0, key: key} }

// OperatorState returns state shared by all instances of the operator.
func OperatorState() State { return State{scope: 1} }

// State errors.
var (
	// ErrStateTooLarge: the value is over the pipeline's state.max_value.
	ErrStateTooLarge = errors.New("wasmstream: state value too large")
	// ErrNotCounter: Add or Counter on a value that is not a counter, or
	// a counter of the other kind: Add on a float counter, AddFloat on an
	// int counter.
	ErrNotCounter = errors.New("wasmstream: state value is not a counter")
	// ErrNotFinite: AddFloat of NaN or an infinity; nothing is added.
	ErrNotFinite = errors.New("wasmstream: state float counter would not be finite")
)

// Status codes of the state imports (abi/SPEC.md).
const (
	stOK         = 0
	stNotFound   = -2
	stTooLarge   = -3
	stNotCounter = -4
)

func stateErr(op, name string, st int32) error {
	switch st {
	case stOK:
		return nil
	case stTooLarge:
		return fmt.Errorf("%w: %s %q", ErrStateTooLarge, op, name)
	case stNotCounter:
		return fmt.Errorf("%w: %s %q", ErrNotCounter, op, name)
	}
	return fmt.Errorf("wasmstream: state %s %q failed (status %d)", op, name, st)
}

// Get returns the value of name, or ok false when there is none (or it
// expired). The bytes are valid until the next Get; copy them to keep
// them.
func (s State) Get(name string) (val []byte, ok bool, err error) {
	return hostStateGet(s.scope, s.key, name)
}

// Put sets name to val until it is deleted.
func (s State) Put(name string, val []byte) error { return s.PutTTL(name, val, 0) }

// PutTTL sets name to val; it expires ttl after now (processing time).
func (s State) PutTTL(name string, val []byte, ttl time.Duration) error {
	ms := ttl.Milliseconds()
	if ttl > 0 && ms == 0 {
		ms = 1 // a TTL under 1 ms still expires
	}
	return stateErr("put", name, hostStatePut(s.scope, s.key, name, val, ms))
}

// Delete removes name.
func (s State) Delete(name string) error {
	return stateErr("delete", name, hostStateDelete(s.scope, s.key, name))
}

// Add adds delta to the counter name (0 when absent) and returns the new
// value.
func (s State) Add(name string, delta int64) (int64, error) {
	n, st := hostStateAdd(s.scope, s.key, name, delta)
	return n, stateErr("add", name, st)
}

// AddFloat adds delta to the float64 counter name (0 when absent) and
// returns the new value: money, sums for averages. Float and int counters
// are apart: AddFloat on an int counter (Add's) fails with ErrNotCounter,
// as Add on a float counter does. A NaN or infinite delta fails with
// ErrNotFinite, a sum that overflows with the host's error (status -1);
// either adds nothing.
func (s State) AddFloat(name string, delta float64) (float64, error) {
	if math.IsNaN(delta) || math.IsInf(delta, 0) {
		return 0, fmt.Errorf("%w: add %v to %q", ErrNotFinite, delta, name)
	}
	n, st := hostStateAddF64(s.scope, s.key, name, delta)
	return n, stateErr("add", name, st)
}

// Float returns the float64 counter name, 0 when absent. It only reads;
// it cannot tell a float counter from an int counter's 8 bytes (the host
// can: see AddFloat).
func (s State) Float(name string) (float64, error) {
	v, ok, err := s.Get(name)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: %q holds %d bytes", ErrNotCounter, name, len(v))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(v)), nil
}

// Counter returns the counter name, 0 when absent. It only reads.
func (s State) Counter(name string) (int64, error) {
	v, ok, err := s.Get(name)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: %q holds %d bytes", ErrNotCounter, name, len(v))
	}
	return int64(binary.LittleEndian.Uint64(v)), nil
}

// Append adds an element to the list name, without reading the list.
func (s State) Append(name string, elem []byte) error {
	return stateErr("append", name, hostStateAppend(s.scope, s.key, name, elem))
}

// List returns the elements of the list name (nil when absent). They alias
// one buffer, valid until the next Get or List.
func (s State) List(name string) ([][]byte, error) {
	v, ok, err := s.Get(name)
	if err != nil || !ok {
		return nil, err
	}
	items, err := abi.ListItems(v)
	if err != nil {
		return nil, fmt.Errorf("wasmstream: state %q: %w", name, err)
	}
	return items, nil
}

// Map returns a map stored under name: each entry is a state value of its
// own ("name\x00key"), so reading or writing one entry never touches the
// others.
func (s State) Map(name string) StateMap { return StateMap{s: s, prefix: name + "\x00"} }

// StateMap is a map of byte-string keys to values in state.
type StateMap struct {
	s      State
	prefix string
}

// Get returns the value for k.
func (m StateMap) Get(k string) ([]byte, bool, error) { return m.s.Get(m.prefix + k) }

// Put sets the value for k.
func (m StateMap) Put(k string, v []byte) error { return m.s.Put(m.prefix+k, v) }

// Delete removes k.
func (m StateMap) Delete(k string) error { return m.s.Delete(m.prefix + k) }

// Add adds delta to the counter at k.
func (m StateMap) Add(k string, delta int64) (int64, error) { return m.s.Add(m.prefix+k, delta) }

// AddFloat adds delta to the float64 counter at k.
func (m StateMap) AddFloat(k string, delta float64) (float64, error) {
	return m.s.AddFloat(m.prefix+k, delta)
}
