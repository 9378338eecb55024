package generator

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

func TestDocs(t *testing.T) { connectortest.CheckDocs(t, Register) }

func newSource(t testing.TB, cfg SourceConfig) *Source {
	t.Helper()
	src, err := NewSource(&cfg)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return src
}

// wantValue is the documented value of record i, computed independently.
func wantValue(seed, i int64, size int) string {
	var b strings.Builder
	for _, c := range strconv.FormatInt(i, 26) {
		if c <= '9' {
			b.WriteByte(byte('a' + c - '0'))
		} else {
			b.WriteByte(byte('a' + 10 + c - 'a'))
		}
	}
	start := int(((i%26+seed%26)%26 + 26) % 26)
	for j := b.Len(); j < size; j++ {
		b.WriteByte(alphabet[(start+j)%26])
	}
	return b.String()[:size]
}

func TestValue(t *testing.T) {
	tests := []struct {
		seed, i int64
		size    int
		want    string
	}{
		{0, 0, 5, "abcde"},
		{0, 1, 5, "bcdef"},
		{0, 27, 6, "bbdefg"}, // 27 = "bb" in base 26
		{3, 0, 4, "aefg"},
		{-1, 0, 3, "aab"},
		{0, 26 * 26 * 26, 6, "baaaef"},
		{0, 5, 0, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.seed, tt.i, tt.size), func(t *testing.T) {
			if got := string(AppendValue(nil, tt.seed, tt.i, tt.size)); got != tt.want {
				t.Errorf("AppendValue = %q, want %q", got, tt.want)
			}
			if got := wantValue(tt.seed, tt.i, tt.size); got != tt.want {
				t.Errorf("test oracle = %q, want %q", got, tt.want)
			}
		})
	}
	for _, i := range []int64{0, 1, 25, 26, 675, 676, 1e6, 1<<62 + 12345, 1<<63 - 1} {
		for _, seed := range []int64{0, 7, -100, 1<<63 - 1, -1 << 63} {
			if got, want := string(AppendValue(nil, seed, i, 20)), wantValue(seed, i, 20); got != want {
				t.Fatalf("value %d (seed %d) = %q, want %q", i, seed, got, want)
			}
		}
	}
}

func TestKeys(t *testing.T) {
	seen := map[string]int{}
	for i := range int64(10000) {
		k := string(AppendKey(nil, 42, i, 10))
		seen[k]++
		if k != string(AppendKey(nil, 42, i, 10)) {
			t.Fatal("keys are not deterministic")
		}
	}
	if len(seen) != 10 {
		t.Fatalf("got %d distinct keys, want 10: %v", len(seen), seen)
	}
	for k, n := range seen {
		if n < 800 || n > 1200 {
			t.Errorf("key %s picked %d times of 10000, want about 1000", k, n)
		}
	}
	if k := AppendKey(nil, 0, 5, 0); k != nil {
		t.Errorf("keys: 0 gave key %q", k)
	}
}

func TestSuite(t *testing.T) {
	tests := []struct {
		name string
		cfg  SourceConfig
	}{
		{"no keys", SourceConfig{Count: 20, ValueSize: 10}},
		{"keys and seed", SourceConfig{Count: 23, ValueSize: 30, Keys: 3, Seed: 9}},
		{"empty values", SourceConfig{Count: 3, ValueSize: 0}},
		{"rate", SourceConfig{Count: 15, ValueSize: 5, Rate: 100000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			connectortest.RunSourceSuite(t, func(t *testing.T) (runtime.Source, []runtime.Record) {
				want := make([]runtime.Record, tt.cfg.Count)
				for i := range want {
					want[i].Value = []byte(wantValue(tt.cfg.Seed, int64(i), int(tt.cfg.ValueSize)))
					if tt.cfg.Keys > 0 {
						want[i].Key = AppendKey(nil, tt.cfg.Seed, int64(i), tt.cfg.Keys)
					}
				}
				return newSource(t, tt.cfg), want
			})
		})
	}
}

func TestDecode(t *testing.T) {
	cfg := connectortest.MustDecodeSource[SourceConfig](t, Register, "generator", "{}")
	if *cfg != (SourceConfig{ValueSize: 100}) {
		t.Errorf("defaults = %+v", *cfg)
	}
	cfg = connectortest.MustDecodeSource[SourceConfig](t, Register, "generator", "{count: 5, rate: 2.5, value_size: 1KiB, keys: 4, seed: -3}")
	if *cfg != (SourceConfig{Count: 5, Rate: 2.5, ValueSize: 1024, Keys: 4, Seed: -3}) {
		t.Errorf("decoded = %+v", *cfg)
	}
	_, err := connectortest.DecodeSource[SourceConfig](t, Register, "generator", "{count: -1, rate: -2, value_size: 1GiB, keys: -1}")
	got := connectortest.ConfigProblems(t, err)
	want := []string{
		"source.generator.count: must not be negative (0 generates forever)",
		"source.generator.keys: must not be negative (0 generates no keys)",
		"source.generator.rate: must not be negative (0 is unlimited)",
		"source.generator.value_size: must be between 0 and 16MiB",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTimestampIsGenerationTime(t *testing.T) {
	src := newSource(t, SourceConfig{Count: 1, ValueSize: 1})
	if err := src.Open(t.Context(), connectortest.Env(t, 10)); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	recs := connectortest.ReadN(t, t.Context(), src, 1)
	if ts := recs[0].Timestamp; ts < before || ts > time.Now().UnixMilli() {
		t.Errorf("timestamp %d is not the generation time (read at %d)", ts, before)
	}
}

func TestUnbounded(t *testing.T) {
	src := newSource(t, SourceConfig{ValueSize: 4})
	if err := src.Open(t.Context(), connectortest.Env(t, 100)); err != nil {
		t.Fatal(err)
	}
	recs := connectortest.ReadN(t, t.Context(), src, 1000)
	if got, want := string(recs[999].Value), wantValue(0, 999, 4); got != want {
		t.Errorf("record 999 = %q, want %q", got, want)
	}
}

func TestRate(t *testing.T) {
	// 2000/s with a burst of 100 (a tenth of a second, capped at the batch
	// size): 300 records take at least 100ms.
	src := newSource(t, SourceConfig{Count: 300, ValueSize: 1, Rate: 2000})
	if err := src.Open(t.Context(), connectortest.Env(t, 100)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	connectortest.AckAll(connectortest.ReadBatches(t, t.Context(), src, 100), nil)
	if d := time.Since(start); d < 90*time.Millisecond || d > 5*time.Second {
		t.Errorf("300 records at 2000/s took %v, want about 100ms", d)
	}
}

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket(10, 1000, t0) // burst 1
	steps := []struct {
		at       time.Duration
		want     int
		got      int
		wantWait time.Duration
	}{
		{0, 5, 1, 0},
		{0, 5, 0, 100 * time.Millisecond},
		{50 * time.Millisecond, 5, 0, 50 * time.Millisecond},
		{100 * time.Millisecond, 5, 1, 0},
		{time.Hour, 5, 1, 0}, // never more than the burst
	}
	for i, s := range steps {
		got, wait := b.take(t0.Add(s.at), s.want)
		if got != s.got || (wait-s.wantWait).Abs() > time.Microsecond {
			t.Errorf("step %d: take = %d, %v; want %d, %v", i, got, wait, s.got, s.wantWait)
		}
	}
	if b := newBucket(1e6, 500, t0); b.burst != 500 {
		t.Errorf("burst %v, want the batch size 500", b.burst)
	}
}

func TestReadCancelWhileWaiting(t *testing.T) {
	src := newSource(t, SourceConfig{ValueSize: 1, Rate: 0.01}) // one record, then 100s
	if err := src.Open(t.Context(), connectortest.Env(t, 10)); err != nil {
		t.Fatal(err)
	}
	connectortest.ReadN(t, t.Context(), src, 1)
	connectortest.CheckReadCancels(t, src)
	if err := src.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestAllocsPerBatch(t *testing.T) {
	src := newSource(t, SourceConfig{ValueSize: 100, Keys: 50})
	if err := src.Open(t.Context(), connectortest.Env(t, 1000)); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	allocs := testing.AllocsPerRun(20, func() {
		recs, ack, err := src.Read(ctx)
		if err != nil || len(recs) != 1000 {
			t.Fatalf("Read = %d records, %v", len(recs), err)
		}
		ack(nil)
	})
	// One for the records, one for their bytes.
	if allocs > 2 {
		t.Errorf("Read allocates %v times per 1000-record batch, want at most 2", allocs)
	}
}

func BenchmarkRead(b *testing.B) {
	for _, keys := range []int{0, 100} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			src := newSource(b, SourceConfig{ValueSize: 100, Keys: keys})
			if err := src.Open(b.Context(), runtime.Env{BatchSize: 1000}); err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			b.ReportAllocs()
			b.SetBytes(1000 * 100)
			for b.Loop() {
				_, ack, err := src.Read(ctx)
				if err != nil {
					b.Fatal(err)
				}
				ack(nil)
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
		})
	}
}
