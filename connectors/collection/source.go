// Package collection is the "collection" source: records written inline in
// the pipeline file, like Flink's fromElements. It is bounded: after
// emitting the collection repeat times it returns io.EOF. Acks are no-ops,
// as the records are always available again from the pipeline file.
package collection

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// Register adds the collection source to r.
func Register(r *runtime.Registry) {
	runtime.AddSource(r, "collection", "Emits records listed in the pipeline file, then ends.",
		func(c *SourceConfig) (runtime.Source, error) { return NewSource(c) })
}

// template is one configured record.
type template struct {
	key     []byte // nil: no key
	value   []byte
	ts      int64
	hasTS   bool
	headers []runtime.Header
	size    int // bytes to copy per emission
}

// Source emits a fixed collection of records. Read is not safe for
// concurrent use; acks may be called from any goroutine.
type Source struct {
	items  []template
	repeat int

	batch int
	pos   int // next item
	round int // completed rounds

	resumedAt int // records skipped because of the checkpointed position
}

// NewSource returns a source for a validated config.
func NewSource(cfg *SourceConfig) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source{repeat: cfg.Repeat}
	for _, v := range cfg.Values {
		s.items = append(s.items, template{value: []byte(v), size: len(v)})
	}
	for _, r := range cfg.Records {
		it := template{value: []byte(r.Value)}
		if r.Key != nil {
			it.key = []byte(*r.Key)
		}
		if r.Timestamp != "" {
			ts, err := parseTimestamp(r.Timestamp)
			if err != nil {
				return nil, err
			}
			it.ts, it.hasTS = ts, true
		}
		names := make([]string, 0, len(r.Headers))
		for n := range r.Headers {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			it.headers = append(it.headers, runtime.Header{Name: n, Value: []byte(r.Headers[n])})
		}
		it.size = len(it.key) + len(it.value)
		for _, h := range it.headers {
			it.size += len(h.Value)
		}
		s.items = append(s.items, it)
	}
	return s, nil
}

// Open implements runtime.Source.
func (s *Source) Open(_ context.Context, env runtime.Env) error {
	s.batch = max(env.BatchSize, 1)
	if len(env.Position) > 0 {
		if len(env.Position) != 16 {
			return fmt.Errorf("opening collection: checkpointed position of %d bytes, want 16", len(env.Position))
		}
		s.round = int(binary.BigEndian.Uint64(env.Position))
		s.pos = int(binary.BigEndian.Uint64(env.Position[8:]))
		if s.pos > len(s.items) {
			return fmt.Errorf("opening collection: checkpointed position %d is past the collection's %d items (was it edited?)", s.pos, len(s.items))
		}
		s.resumedAt = s.round*len(s.items) + s.pos
	}
	return nil
}

// Resumed implements runtime.ResumingSource: the records skipped because
// the pipeline's last checkpoint had read them.
func (s *Source) Resumed() (string, bool) {
	if s.resumedAt == 0 {
		return "", false
	}
	return fmt.Sprintf("%d record(s) of the collection already read by an earlier run", s.resumedAt), true
}

// Position implements runtime.PositionedSource: the round and the item.
func (s *Source) Position() ([]byte, error) {
	b := binary.BigEndian.AppendUint64(nil, uint64(s.round))
	return binary.BigEndian.AppendUint64(b, uint64(s.pos)), nil
}

func noAck(error) {}

// Read returns the next records of the collection, at most the batch size,
// in fresh memory owned by the caller.
func (s *Source) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.round >= s.repeat || len(s.items) == 0 {
		return nil, nil, io.EOF
	}
	n := min(s.batch, len(s.items)-s.pos)
	items := s.items[s.pos : s.pos+n]
	size, nh := 0, 0
	for i := range items {
		size += items[i].size
		nh += len(items[i].headers)
	}
	arena := make([]byte, 0, size)
	var hdrs []runtime.Header
	if nh > 0 {
		hdrs = make([]runtime.Header, 0, nh)
	}
	now := time.Now().UnixMilli()
	recs := make([]runtime.Record, n)
	for i := range items {
		it := &items[i]
		r := &recs[i]
		if it.key != nil {
			arena, r.Key = appendOwned(arena, it.key)
		}
		arena, r.Value = appendOwned(arena, it.value)
		r.Timestamp = now
		if it.hasTS {
			r.Timestamp = it.ts
		}
		if len(it.headers) > 0 {
			start := len(hdrs)
			for _, h := range it.headers {
				var v []byte
				arena, v = appendOwned(arena, h.Value)
				hdrs = append(hdrs, runtime.Header{Name: h.Name, Value: v})
			}
			r.Headers = hdrs[start:len(hdrs):len(hdrs)]
		}
	}
	s.pos += n
	if s.pos == len(s.items) {
		s.pos = 0
		s.round++
	}
	return recs, noAck, nil
}

// appendOwned copies b to the end of arena, which has room for it, and
// returns the copy.
func appendOwned(arena, b []byte) ([]byte, []byte) {
	start := len(arena)
	arena = append(arena, b...)
	return arena, arena[start:len(arena):len(arena)]
}

// Close implements runtime.Source.
func (s *Source) Close(context.Context) error { return nil }
