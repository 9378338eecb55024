package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/wasmstream/wasmstream/abi"
)

// Key layout in the store:
//
//	's' escape(operator) 0x00 0x01 escape(key) 0x00 0x01 name   keyed state
//	'o' escape(operator) 0x00 0x01 name                          operator state
//
// escape writes 0x00 as 0x00 0xff, so the 0x00 0x01 terminator sorts before
// any continuation: one operator's keys, and one key's names, are
// contiguous, and keys sort in byte order.
const (
	prefixKeyed    = 's'
	prefixOperator = 'o'
)

func appendEscaped(dst, b []byte) []byte {
	if bytes.IndexByte(b, 0) < 0 {
		return append(append(dst, b...), 0, 1)
	}
	for _, c := range b {
		if c == 0 {
			dst = append(dst, 0, 0xff)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, 0, 1)
}

// unescape reads one escaped, terminated field of b and returns it and the
// rest.
func unescape(b []byte) (field, rest []byte, ok bool) {
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			field = append(field, b[i])
			continue
		}
		if i+1 >= len(b) {
			return nil, nil, false
		}
		switch b[i+1] {
		case 0xff:
			field = append(field, 0)
			i++
		case 1:
			return field, b[i+2:], true
		default:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// AppendKey appends the store key of a state entry.
func AppendKey(dst []byte, operator string, scope int, key, name []byte) []byte {
	if scope == ScopeOperator {
		dst = append(dst, prefixOperator)
		dst = appendEscaped(dst, []byte(operator))
	} else {
		dst = append(dst, prefixKeyed)
		dst = appendEscaped(dst, []byte(operator))
		dst = appendEscaped(dst, key)
	}
	return append(dst, name...)
}

// Txn buffers one operator call's state writes: they are visible to the
// call's own reads, applied to the store by Commit and dropped by Reset.
// Not safe for concurrent use; one per operator instance.
type Txn struct {
	s        *Store
	operator string
	w        map[string]entry
	// deltas are operator-scope counter additions, applied to the store's
	// value at commit rather than overwriting it: instances of an operator
	// share its operator state, and their additions must all count.
	deltas map[string]int64
	// fdeltas are deltas' float64 counterparts (AddFloat).
	fdeltas map[string]float64
	kb      []byte
	now     int64
	size    int64 // bytes the call's writes hold (see entry.size)
	max     int64
	owns    func(key []byte) bool
}

// TxnOption configures a Txn.
type TxnOption func(*Txn)

// OwnedKeys restricts keyed-state writes to record keys for which owns
// reports true: the keys in the key groups of the instance the Txn serves
// (runtime.KeyGroup, runtime.InstanceFor). A write of another key fails
// with ErrNotOwned and is not applied. Without it, any key may be written.
func OwnedKeys(owns func(key []byte) bool) TxnOption { return func(t *Txn) { t.owns = owns } }

// MaxTxnBytes bounds what one call's writes may hold (default
// Options.MaxTxnBytes): a write over it fails with ErrTxnTooLarge.
func MaxTxnBytes(n int64) TxnOption { return func(t *Txn) { t.max = n } }

// NewTxn returns a transaction over operator's state.
func (s *Store) NewTxn(operator string, opts ...TxnOption) *Txn {
	t := &Txn{s: s, operator: operator, w: map[string]entry{}, deltas: map[string]int64{}, fdeltas: map[string]float64{}, max: s.opts.MaxTxnBytes}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Begin starts a call: reads see time now (for TTLs).
func (t *Txn) Begin() { t.now = t.s.now().UnixMilli() }

// Commit applies the call's writes to the store. It fails, applying
// nothing, when the stored value under one of the call's operator counter
// additions cannot be read; the store then also fails its next checkpoint
// (ErrFailed), since the call's effect is lost.
func (t *Txn) Commit() error {
	var stored map[string]entry
	for k := range t.allDeltas() {
		e, err := t.s.get([]byte(k))
		if err != nil {
			err = fmt.Errorf("%w: committing operator %s's counter: %w", ErrFailed, t.operator, err)
			t.s.fail(err)
			t.Reset()
			return err
		}
		if stored == nil {
			stored = map[string]entry{}
		}
		stored[k] = e
	}
	for k, d := range t.deltas {
		t.s.addDelta(k, d, t.w[k].expiry, stored[k])
		delete(t.w, k)
	}
	for k, d := range t.fdeltas {
		t.s.addFloatDelta(k, d, t.w[k].expiry, stored[k])
		delete(t.w, k)
	}
	clear(t.deltas)
	clear(t.fdeltas)
	if len(t.w) > 0 {
		t.s.apply(t.w)
		clear(t.w)
	}
	t.size = 0
	return nil
}

// allDeltas yields the keys of the call's operator counter additions,
// int and float.
func (t *Txn) allDeltas() func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range t.deltas {
			if !yield(k) {
				return
			}
		}
		for k := range t.fdeltas {
			if !yield(k) {
				return
			}
		}
	}
}

// Reset drops the call's writes.
func (t *Txn) Reset() {
	clear(t.w)
	clear(t.deltas)
	clear(t.fdeltas)
	t.size = 0
}

// write puts e under k in the call's writes, within its bounds.
func (t *Txn) write(scope int, key []byte, k string, e entry) error {
	if scope == ScopeKey && t.owns != nil && !t.owns(key) {
		return fmt.Errorf("%w: operator %s wrote key %q", ErrNotOwned, t.operator, key)
	}
	n := t.size + e.size(k)
	old, had := t.w[k]
	if had {
		n -= old.size(k)
	}
	if n > t.max && (!had || e.size(k) > old.size(k)) {
		return fmt.Errorf("%w: the call's writes would hold %d bytes; the limit is %d", ErrTxnTooLarge, n, t.max)
	}
	t.w[k], t.size = e, n
	return nil
}

func (t *Txn) key(scope int, key, name []byte) []byte {
	t.kb = AppendKey(t.kb[:0], t.operator, scope, key, name)
	return t.kb
}

func (t *Txn) lookup(k []byte) (entry, error) {
	if len(t.w) > 0 {
		if e, ok := t.w[string(k)]; ok {
			return e, nil
		}
	}
	return t.s.get(k)
}

// Get returns a value, or ok false when there is none (or it expired). The
// returned bytes must not be modified or kept past the call.
func (t *Txn) Get(scope int, key, name []byte) (val []byte, ok bool, err error) {
	e, err := t.lookup(t.key(scope, key, name))
	if err != nil || !e.live(t.now) {
		return nil, false, err
	}
	return e.val, true, nil
}

// Put sets a value; ttl 0 keeps it until deleted.
func (t *Txn) Put(scope int, key, name, val []byte, ttl time.Duration) error {
	if len(val) > t.s.opts.MaxValue {
		return fmt.Errorf("%w: %d bytes; the limit is %d", ErrTooLarge, len(val), t.s.opts.MaxValue)
	}
	e := entry{val: val} // copied once write has accepted it, so a refused value costs nothing
	if ttl > 0 {
		e.expiry = t.now + ttl.Milliseconds()
	}
	k := string(t.key(scope, key, name))
	if err := t.write(scope, key, k, e); err != nil {
		return err
	}
	e.val = append([]byte(nil), val...)
	t.w[k] = e
	delete(t.deltas, k)
	delete(t.fdeltas, k)
	return nil
}

// Delete removes a value. It fails like Put for a key the Txn may not
// write or over the call's bound.
func (t *Txn) Delete(scope int, key, name []byte) error {
	k := string(t.key(scope, key, name))
	if err := t.write(scope, key, k, entry{absent: true}); err != nil {
		return err
	}
	delete(t.deltas, k)
	delete(t.fdeltas, k)
	return nil
}

// Add adds delta to a counter (8 bytes, little-endian; absent is 0) and
// returns the new value. The counter keeps its expiry.
func (t *Txn) Add(scope int, key, name []byte, delta int64) (int64, error) {
	k := t.key(scope, key, name)
	e, err := t.lookup(k)
	if err != nil {
		return 0, err
	}
	var n int64
	if e.live(t.now) {
		if len(e.val) != 8 {
			return 0, fmt.Errorf("%w: %q holds %d bytes", ErrNotCounter, name, len(e.val))
		}
		if e.float {
			return 0, fmt.Errorf("%w: %q is a float counter; add to it with a float delta", ErrCounterKind, name)
		}
		n = int64(binary.LittleEndian.Uint64(e.val))
	} else {
		e = entry{}
	}
	n += delta
	ne := entry{val: binary.LittleEndian.AppendUint64(make([]byte, 0, 8), uint64(n)), expiry: e.expiry}
	ks := string(k)
	_, written := t.w[ks]
	if err := t.write(scope, key, ks, ne); err != nil {
		return 0, err
	}
	if scope == ScopeOperator {
		if d, pure := t.deltas[ks]; pure || !written {
			t.deltas[ks] = d + delta
		}
	}
	return n, nil
}

// AddFloat adds delta to a float64 counter (8 bytes of IEEE 754,
// little-endian; absent is 0) and returns the new value. The counter keeps
// its expiry. A counter is finite: a delta that is NaN or infinite, or a
// sum that overflows, fails with ErrNotFinite and writes nothing. A value
// that is not a float counter (an int counter of Add, or bytes) fails
// with ErrCounterKind or ErrNotCounter.
func (t *Txn) AddFloat(scope int, key, name []byte, delta float64) (float64, error) {
	if math.IsNaN(delta) || math.IsInf(delta, 0) {
		return 0, fmt.Errorf("%w: adding %v to %q", ErrNotFinite, delta, name)
	}
	k := t.key(scope, key, name)
	e, err := t.lookup(k)
	if err != nil {
		return 0, err
	}
	var n float64
	if e.live(t.now) {
		switch {
		case len(e.val) != 8:
			return 0, fmt.Errorf("%w: %q holds %d bytes", ErrNotCounter, name, len(e.val))
		case !e.float:
			return 0, fmt.Errorf("%w: %q is an int counter; add to it with an int delta", ErrCounterKind, name)
		}
		n = math.Float64frombits(binary.LittleEndian.Uint64(e.val))
	} else {
		e = entry{}
	}
	if math.IsInf(n+delta, 0) {
		return 0, fmt.Errorf("%w: adding %v to %q (%v) overflows", ErrNotFinite, delta, name, n)
	}
	n += delta
	ne := entry{val: binary.LittleEndian.AppendUint64(make([]byte, 0, 8), math.Float64bits(n)), expiry: e.expiry, float: true}
	ks := string(k)
	_, written := t.w[ks]
	if err := t.write(scope, key, ks, ne); err != nil {
		return 0, err
	}
	if scope == ScopeOperator {
		if d, pure := t.fdeltas[ks]; pure || !written {
			t.fdeltas[ks] = d + delta
		}
	}
	return n, nil
}

// Append adds an element to a list: the value is a sequence of msgpack bin
// items, so appending never reads the list. The list keeps its expiry.
func (t *Txn) Append(scope int, key, name, elem []byte) error {
	k := t.key(scope, key, name)
	e, err := t.lookup(k)
	if err != nil {
		return err
	}
	if !e.live(t.now) {
		e = entry{}
	}
	n := len(e.val) + 5 + len(elem)
	if n > t.s.opts.MaxValue {
		return fmt.Errorf("%w: the list would be %d bytes; the limit is %d", ErrTooLarge, n, t.s.opts.MaxValue)
	}
	v := make([]byte, len(e.val), n)
	copy(v, e.val)
	v = abi.AppendListItem(v, elem)
	if err := t.write(scope, key, string(k), entry{val: v, expiry: e.expiry}); err != nil {
		return err
	}
	delete(t.deltas, string(k))
	delete(t.fdeltas, string(k))
	return nil
}

// ListItems splits a list value (see Append) into its elements.
func ListItems(v []byte) ([][]byte, error) { return abi.ListItems(v) }
