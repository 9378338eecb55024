package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
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
	kb     []byte
	now    int64
}

// NewTxn returns a transaction over operator's state.
func (s *Store) NewTxn(operator string) *Txn {
	return &Txn{s: s, operator: operator, w: map[string]entry{}, deltas: map[string]int64{}}
}

// Begin starts a call: reads see time now (for TTLs).
func (t *Txn) Begin() { t.now = time.Now().UnixMilli() }

// Commit applies the call's writes to the store.
func (t *Txn) Commit() {
	for k, d := range t.deltas {
		t.s.addDelta(k, d, t.w[k].expiry)
		delete(t.w, k)
	}
	clear(t.deltas)
	if len(t.w) > 0 {
		t.s.apply(t.w)
		clear(t.w)
	}
}

// Reset drops the call's writes.
func (t *Txn) Reset() {
	clear(t.w)
	clear(t.deltas)
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
	e := entry{val: append([]byte(nil), val...)}
	if ttl > 0 {
		e.expiry = t.now + ttl.Milliseconds()
	}
	k := string(t.key(scope, key, name))
	t.w[k] = e
	delete(t.deltas, k)
	return nil
}

// Delete removes a value.
func (t *Txn) Delete(scope int, key, name []byte) {
	k := string(t.key(scope, key, name))
	t.w[k] = entry{absent: true}
	delete(t.deltas, k)
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
		n = int64(binary.LittleEndian.Uint64(e.val))
	} else {
		e = entry{}
	}
	n += delta
	ne := entry{val: binary.LittleEndian.AppendUint64(make([]byte, 0, 8), uint64(n)), expiry: e.expiry}
	ks := string(k)
	_, written := t.w[ks]
	t.w[ks] = ne
	if scope == ScopeOperator {
		if d, pure := t.deltas[ks]; pure || !written {
			t.deltas[ks] = d + delta
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
	t.w[string(k)] = entry{val: v, expiry: e.expiry}
	delete(t.deltas, string(k))
	return nil
}

// ListItems splits a list value (see Append) into its elements.
func ListItems(v []byte) ([][]byte, error) { return abi.ListItems(v) }
