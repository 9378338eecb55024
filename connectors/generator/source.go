// Package generator is the "generator" source: deterministic synthetic
// records for tests, demos and benchmarks, bounded (count) or not, at a
// fixed rate or as fast as the pipeline takes them.
//
// Record i (counting from 0) has the value Value(seed, i, value_size), the
// key Key(seed, i, keys) and the time its batch was generated as its
// timestamp (one clock read per batch). Values are lowercase ASCII letters,
// so an operator that upper-cases letters visibly changes every byte.
//
// Acks are no-ops: the records can always be generated again.
package generator

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// Register adds the generator source to r.
func Register(r *runtime.Registry) {
	runtime.AddSource(r, "generator", "Generates deterministic synthetic records, optionally at a fixed rate.",
		func(c *SourceConfig) (runtime.Source, error) { return NewSource(c) })
}

const alphabet = "abcdefghijklmnopqrstuvwxyz"

// AppendValue appends the value of record i, size bytes, to dst. Byte j of
// the value is letter (i+seed+j) mod 26 of the alphabet, except that the
// first bytes spell i in base 26 ('a' is 0, most significant digit first),
// so values differ from one record to the next. For example, with seed 0
// and size 6, record 0 is "abcdef", record 1 "bcdefg" and record 27
// "bbdefg".
func AppendValue(dst []byte, seed, i int64, size int) []byte {
	return appendValue(dst, pattern(size), seed, i, size)
}

// pattern is the alphabet repeated to size+26 bytes, from which every
// value's filler is one copy.
func pattern(size int) []byte {
	p := make([]byte, size+len(alphabet))
	for j := range p {
		p[j] = alphabet[j%len(alphabet)]
	}
	return p
}

func appendValue(dst, pat []byte, seed, i int64, size int) []byte {
	start := len(dst)
	off := (i%26 + seed%26 + 52) % 26
	dst = append(dst, pat[off:off+int64(size)]...)
	// Index digits, written over the start of the filler.
	var digits [14]byte
	n := len(digits)
	u := uint64(i)
	for {
		n--
		digits[n] = alphabet[u%26]
		u /= 26
		if u == 0 {
			break
		}
	}
	copy(dst[start:], digits[n:])
	return dst
}

// AppendKey appends the key of record i to dst when keys > 0:
// "key-<k>" with k = mix(seed, i) mod keys, a fixed pseudo-random pick.
func AppendKey(dst []byte, seed, i int64, keys int) []byte {
	if keys <= 0 {
		return dst
	}
	dst = append(dst, "key-"...)
	return strconv.AppendUint(dst, mix(uint64(seed), uint64(i))%uint64(keys), 10)
}

// mix is SplitMix64 of i offset by the seed.
func mix(seed, i uint64) uint64 {
	z := i + seed*0x9e3779b97f4a7c15 + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Source generates records. Read is not safe for concurrent use.
type Source struct {
	cfg     SourceConfig
	pat     []byte
	keyLen  int // longest key in bytes
	batch   int
	next    int64 // index of the next record
	limiter *bucket
	timer   *time.Timer
	resumed int64 // records skipped because of the checkpointed position
}

// NewSource returns a source for a validated config.
func NewSource(cfg *SourceConfig) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source{cfg: *cfg, pat: pattern(int(cfg.ValueSize))}
	if cfg.Keys > 0 {
		s.keyLen = len("key-") + len(strconv.Itoa(cfg.Keys-1))
	}
	return s, nil
}

// Open implements runtime.Source.
func (s *Source) Open(_ context.Context, env runtime.Env) error {
	s.batch = max(env.BatchSize, 1)
	if len(env.Position) > 0 {
		if len(env.Position) != 8 {
			return fmt.Errorf("opening generator: checkpointed position of %d bytes, want 8", len(env.Position))
		}
		s.next = int64(binary.BigEndian.Uint64(env.Position))
		s.resumed = s.next
	}
	if s.cfg.Rate > 0 {
		s.limiter = newBucket(s.cfg.Rate, s.batch, time.Now())
	}
	return nil
}

func noAck(error) {}

// Resumed implements runtime.ResumingSource: the records skipped because
// the pipeline's last checkpoint had generated them.
func (s *Source) Resumed() (string, bool) {
	if s.resumed == 0 {
		return "", false
	}
	return fmt.Sprintf("%d record(s) already read by an earlier run", s.resumed), true
}

// Position implements runtime.PositionedSource: the index of the next
// record. Records are a function of their index and the seed, so a restart
// from a checkpoint generates exactly what follows it.
func (s *Source) Position() ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(s.next)), nil
}

// Read generates up to the batch size of records (fewer when the rate
// limits), with one allocation for the records and one for their bytes.
func (s *Source) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	n := int64(s.batch)
	if s.cfg.Count > 0 {
		n = min(n, s.cfg.Count-s.next)
		if n <= 0 {
			return nil, nil, io.EOF
		}
	}
	if s.limiter != nil {
		got, err := s.wait(ctx, int(n))
		if err != nil {
			return nil, nil, err
		}
		n = int64(got)
	}
	size := int(s.cfg.ValueSize)
	arena := make([]byte, 0, int(n)*(size+s.keyLen))
	recs := make([]runtime.Record, n)
	now := time.Now().UnixMilli()
	for j := range recs {
		i := s.next + int64(j)
		r := &recs[j]
		if s.keyLen > 0 {
			start := len(arena)
			arena = AppendKey(arena, s.cfg.Seed, i, s.cfg.Keys)
			r.Key = arena[start:len(arena):len(arena)]
		}
		start := len(arena)
		arena = appendValue(arena, s.pat, s.cfg.Seed, i, size)
		r.Value = arena[start:len(arena):len(arena)]
		r.Timestamp = now
	}
	s.next += n
	return recs, noAck, nil
}

// wait takes up to want tokens from the bucket, waiting for at least one.
func (s *Source) wait(ctx context.Context, want int) (int, error) {
	for {
		got, wait := s.limiter.take(time.Now(), want)
		if got > 0 {
			return got, nil
		}
		if s.timer == nil {
			s.timer = time.NewTimer(wait)
		} else {
			s.timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			s.timer.Stop()
			return 0, ctx.Err()
		case <-s.timer.C:
		}
	}
}

// Close implements runtime.Source.
func (s *Source) Close(context.Context) error {
	if s.timer != nil {
		s.timer.Stop()
	}
	return nil
}

// bucket is a token bucket: tokens accrue at rate per second up to burst,
// and a batch takes as many as are available, so the source never sleeps
// per record.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// newBucket returns a full bucket holding a tenth of a second of records,
// at least one and at most a batch.
func newBucket(rate float64, batch int, now time.Time) *bucket {
	burst := min(max(rate/10, 1), float64(batch))
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// take removes up to want whole tokens, or returns how long until one is
// available.
func (b *bucket) take(now time.Time, want int) (int, time.Duration) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return 0, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	}
	got := min(want, int(b.tokens))
	b.tokens -= float64(got)
	return got, 0
}
