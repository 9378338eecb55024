package state

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Reads from outside the pipeline (queryable state). A read sees either the
// live state, which includes what operators wrote since the last
// checkpoint and may be rolled back by a crash, or the last checkpoint,
// which a restart after a crash is guaranteed to start from.

// Entry is one state value, as a query returns it.
type Entry struct {
	Scope  int    // ScopeKey or ScopeOperator
	Key    []byte // the record key (nil for operator state)
	Name   []byte
	Value  []byte
	Expiry time.Time // zero: none
	// Float marks a float64 counter (Txn.AddFloat): Value is 8 bytes of
	// IEEE 754, little-endian. An int counter (Txn.Add) is 8 bytes
	// without it, as any 8-byte value is.
	Float bool
}

// Lookup reads one value for a query.
func (s *Store) Lookup(operator string, scope int, key, name []byte, live bool) ([]byte, time.Time, bool, error) {
	e, ok, err := s.LookupEntry(operator, scope, key, name, live)
	return e.Value, e.Expiry, ok, err
}

// LookupEntry reads one entry for a query: Lookup with the entry's kind.
func (s *Store) LookupEntry(operator string, scope int, key, name []byte, live bool) (Entry, bool, error) {
	done, err := s.reading()
	if err != nil {
		return Entry{}, false, err
	}
	defer done()
	k := AppendKey(nil, operator, scope, key, name)
	var e entry
	if live {
		e, err = s.get(k)
	} else {
		e, err = s.load(k)
	}
	if err != nil || !e.live(s.now().UnixMilli()) {
		return Entry{}, false, err
	}
	en := Entry{Scope: scope, Name: bytes.Clone(name), Value: bytes.Clone(e.val), Expiry: expiryTime(e.expiry), Float: e.float}
	if scope == ScopeKey {
		en.Key = bytes.Clone(key)
	}
	return en, true, nil
}

func expiryTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// List returns up to limit entries of an operator's keyed state whose
// record key starts with prefix (scope ScopeKey), or its operator state
// (ScopeOperator, prefix ignored), in key order, starting after cursor
// (nil: from the start). It returns the cursor of the next page, nil at
// the end.
//
// A corrupt store (Pebble reports a bad checksum, or panics on one) fails
// the listing with ErrCorrupt.
func (s *Store) List(operator string, scope int, prefix, cursor []byte, limit int, live bool) (page []Entry, next []byte, err error) {
	if limit <= 0 {
		limit = 100
	}
	done, err := s.reading()
	if err != nil {
		return nil, nil, err
	}
	defer done()
	defer s.guard("listing", &err)
	page, next, err = s.list(operator, scope, prefix, cursor, limit, live)
	if err != nil {
		err = s.corruption(err)
	}
	return page, next, err
}

func (s *Store) list(operator string, scope int, prefix, cursor []byte, limit int, live bool) ([]Entry, []byte, error) {
	var lo []byte
	if scope == ScopeOperator {
		lo = append([]byte{prefixOperator}, appendEscaped(nil, []byte(operator))...)
	} else {
		lo = append([]byte{prefixKeyed}, appendEscaped(nil, []byte(operator))...)
		esc := appendEscaped(nil, prefix)
		lo = append(lo, esc[:len(esc)-2]...) // a key prefix: no terminator
	}
	start := lo
	if cursor != nil {
		if !bytes.HasPrefix(cursor, lo) {
			return nil, nil, errors.New("state: the cursor does not belong to this listing")
		}
		start = append(bytes.Clone(cursor), 0) // just after it
	}
	now := s.now().UnixMilli()

	// Write-cache entries in range, sorted, to merge with Pebble's.
	type kv struct {
		k string
		e entry
	}
	var dirty []kv
	if live {
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.RLock()
			for k, e := range sh.dirty {
				if k >= string(start) && bytes.HasPrefix([]byte(k), lo) {
					dirty = append(dirty, kv{k, e})
				}
			}
			sh.mu.RUnlock()
		}
		sort.Slice(dirty, func(i, j int) bool { return dirty[i].k < dirty[j].k })
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: start})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	var out []Entry
	var last []byte
	emit := func(k []byte, e entry) error {
		if !e.live(now) {
			return nil
		}
		en, err := decodeEntry(operator, scope, k, e)
		if err != nil {
			return err
		}
		out = append(out, en)
		last = bytes.Clone(k)
		return nil
	}
	valid := it.First()
	d := 0
	for len(out) < limit {
		var pk []byte
		if valid {
			pk = it.Key()
			if !bytes.HasPrefix(pk, lo) {
				valid = false
				pk = nil
			}
		}
		switch {
		case pk == nil && d >= len(dirty):
			return out, nil, it.Error()
		case pk == nil || (d < len(dirty) && dirty[d].k <= string(pk)):
			if pk != nil && dirty[d].k == string(pk) {
				valid = it.Next() // the write cache overrides the store
			}
			if err := emit([]byte(dirty[d].k), dirty[d].e); err != nil {
				return nil, nil, err
			}
			d++
		default:
			v, err := it.ValueAndErr()
			if err != nil {
				return nil, nil, err
			}
			e, err := decodeValue(v)
			if err != nil {
				return nil, nil, err
			}
			if err := emit(pk, e); err != nil {
				return nil, nil, err
			}
			valid = it.Next()
		}
	}
	return out, last, it.Error()
}

// decodeEntry splits a store key back into record key and name.
func decodeEntry(operator string, scope int, k []byte, e entry) (Entry, error) {
	en := Entry{Scope: scope, Value: bytes.Clone(e.val), Expiry: expiryTime(e.expiry), Float: e.float}
	_, rest, ok := unescape(k[1:])
	if !ok {
		return Entry{}, fmt.Errorf("%w: malformed state key %q", ErrCorrupt, k)
	}
	if scope == ScopeKey {
		en.Key, rest, ok = unescape(rest)
		if !ok {
			return Entry{}, fmt.Errorf("%w: malformed state key %q", ErrCorrupt, k)
		}
		if en.Key == nil {
			en.Key = []byte{}
		}
	}
	en.Name = bytes.Clone(rest)
	return en, nil
}

// Stats describes the store's memory use.
type Stats struct {
	DirtyBytes, CleanBytes int64
	// DiskBytes is the live store's size on disk as Pebble counts it
	// (tables, log, MANIFEST); 0 once the store is closed.
	DiskBytes      int64
	LastCheckpoint Meta
}

// Stats returns the store's cache sizes, its size on disk and its last
// checkpoint.
func (s *Store) Stats() Stats {
	st := Stats{DirtyBytes: s.dirty.Load(), CleanBytes: s.clean.Load(), LastCheckpoint: s.LastCheckpoint()}
	if done, err := s.reading(); err == nil {
		st.DiskBytes = int64(s.db.Metrics().DiskSpaceUsage())
		done()
	}
	return st
}
