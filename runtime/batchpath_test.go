package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// reusingSource reuses one record slice and one value buffer for every
// Read, overwriting the previous Read's records, as Source.Read allows:
// the runtime must have copied them before it reads again.
type reusingSource struct {
	n, chunk, next int
	recs           []runtime.Record
	buf            []byte
}

func (s *reusingSource) Open(context.Context, runtime.Env) error { return nil }
func (s *reusingSource) Close(context.Context) error             { return nil }
func (s *reusingSource) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.next >= s.n {
		return nil, nil, io.EOF
	}
	k := min(s.chunk, s.n-s.next)
	if s.recs == nil {
		s.recs, s.buf = make([]runtime.Record, s.chunk), make([]byte, 0, 16*s.chunk)
	}
	s.buf = s.buf[:0]
	for i := range k {
		start := len(s.buf)
		s.buf = fmt.Appendf(s.buf, "v%08d", s.next+i)
		s.recs[i] = runtime.Record{Key: s.buf[start+1 : start+3], Value: s.buf[start:len(s.buf):len(s.buf)],
			Headers: []runtime.Header{{Name: "n", Value: s.buf[start+7 : len(s.buf)]}}}
	}
	s.next += k
	return s.recs[:k], func(error) {}, nil
}

// TestSourceMayReuseItsRecords guards the Source.Read contract of issue
// #10: records are copied into the runtime's batches before the next Read,
// so a source that overwrites its buffers between Reads (as a connector
// reusing a receive buffer does) loses and mixes up nothing, with one
// operator instance or several.
func TestSourceMayReuseItsRecords(t *testing.T) {
	checkNoLeaks(t)
	for _, par := range []int{1, 3} {
		t.Run(fmt.Sprintf("parallelism=%d", par), func(t *testing.T) {
			const n = 5000
			spec := parse(t, testRegistry(nil), fmt.Sprintf(`
pipeline: reuse
batch: {size: 64, linger: 1ms}
source: {test: {}}
operators: [{func: {fn: upper, parallelism: %d}}]
sink: {test: {}}
`, par))
			sink := runAll(t, spec, &reusingSource{n: n, chunk: 100})
			got := map[string]bool{}
			for _, r := range sink.records() {
				v := string(r.Value)
				if len(r.Headers) != 1 || string(r.Headers[0].Value) != v[7:] || string(r.Key) != "v"+v[1:3] && string(r.Key) != v[1:3] {
					t.Fatalf("record %q arrived with key %q and headers %+v, not its own", v, r.Key, r.Headers)
				}
				got[v] = true
			}
			for i := range n {
				if v := fmt.Sprintf("V%08d", i); !got[v] {
					t.Fatalf("record %s is missing (%d distinct of %d arrived)", v, len(got), n)
				}
			}
		})
	}
}

// frameOp is a BatchProcessor that upper-cases nothing: it copies its
// input frame to its output as a Wasm operator returning its input does,
// and remembers the batches it was given and returned, so a test can see
// whether the runtime passed one operator's output to the next as it was.
type frameOp struct {
	f *frameFactory
}

type frameFactory struct {
	mu       sync.Mutex
	in, outs map[string][]*runtime.Batch // by operator name
	records  map[string]int
	name     string
}

func (f *frameFactory) New(ctx context.Context, env runtime.OperatorEnv) (runtime.Operator, error) {
	return &frameOp{f: f}, nil
}
func (f *frameFactory) Close(context.Context) error { return nil }

func (o *frameOp) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	return append(out, in...), nil
}
func (o *frameOp) ProcessBatch(ctx context.Context, in, out *runtime.Batch) error {
	if err := out.SetFrame(in.Frame(), 1<<20); err != nil {
		return err
	}
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	o.f.in[o.f.name] = append(o.f.in[o.f.name], in)
	o.f.outs[o.f.name] = append(o.f.outs[o.f.name], out)
	o.f.records[o.f.name] += out.Len()
	return nil
}
func (o *frameOp) Close(context.Context) error { return nil }

// TestFramePassesBetweenBatchOperators guards issue #10's frame
// pass-through: the batch one BatchProcessor returns reaches the next as
// it is (no records are decoded or copied in between) when nothing between
// them needs the records' fields, and is re-batched when the next
// operator re-keys records (key_by), which needs them.
func TestFramePassesBetweenBatchOperators(t *testing.T) {
	checkNoLeaks(t)
	for _, tt := range []struct {
		name        string
		second      string
		passThrough bool
	}{
		{"plain", "{frames: {name: b}}", true},
		{"key_by", "{frames: {name: b, key_by: {header: n}}}", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := testRegistry(nil)
			f := map[string]*frameFactory{}
			runtime.AddOperator(reg, "frames", "frame pass-through probe", func(c *struct {
				runtime.OperatorSettings `yaml:",inline"`
				Name                     string `yaml:"name"`
			}) (runtime.OperatorFactory, error) {
				ff := &frameFactory{in: map[string][]*runtime.Batch{}, outs: map[string][]*runtime.Batch{}, records: map[string]int{}, name: c.Name}
				f[c.Name] = ff
				return ff, nil
			})
			spec := parse(t, reg, `
pipeline: frames
batch: {size: 100, linger: 1ms}
queue_depth: 1000
source: {test: {}}
operators: [{frames: {name: a}}, `+tt.second+`]
sink: {test: {}}
`)
			sink := runAll(t, spec, &reusingSource{n: 100, chunk: 100})
			if got := len(sink.records()); got != 100 {
				t.Fatalf("%d records reached the sink, want 100", got)
			}
			// One batch: batches are pooled, so with more a later batch
			// could reuse an earlier one's memory and match by chance.
			a, b := f["a"], f["b"]
			if a.records["a"] != 100 || b.records["b"] != 100 || len(a.outs["a"]) != 1 || len(b.in["b"]) != 1 {
				t.Fatalf("operators saw %d and %d records in %d and %d batches, want 100 in 1 each",
					a.records["a"], b.records["b"], len(a.outs["a"]), len(b.in["b"]))
			}
			same := 0
			for _, out := range a.outs["a"] {
				for _, in := range b.in["b"] {
					if in == out {
						same++
					}
				}
			}
			if tt.passThrough && same != len(b.in["b"]) {
				t.Errorf("%d of the second operator's %d input batches were the first one's outputs; want all", same, len(b.in["b"]))
			}
			if !tt.passThrough && same != 0 {
				t.Errorf("%d input batches of a re-keying operator were passed through; want none", same)
			}
		})
	}
}

// TestKeyByBetweenOperators guards the op-to-op key_by of issue #10: an
// operator's key_by applies to what the operator before it emits even at
// parallelism 1 (routing used to skip it when the next stage had one
// instance, so such records kept their old keys).
func TestKeyByBetweenOperators(t *testing.T) {
	checkNoLeaks(t)
	reg := testRegistry(nil)
	f := addTally(reg)
	spec := parse(t, reg, `
pipeline: keyby2
batch: {size: 64, linger: 1ms}
source: {test: {}}
operators: [{func: {fn: route_alerts}}, {tally: {key_by: {json: user}}}]
sink: {test: {}}
state: {query: "off"}
`)
	const n = 1000
	recs := make([]runtime.Record, n)
	for i := range recs {
		recs[i] = runtime.Record{Key: fmt.Appendf(nil, "id-%d", i), Value: fmt.Appendf(nil, `{"user":"u%d"}`, i%7)}
	}
	runAll(t, spec, &memSource{recs: recs, chunk: 100})
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.total) != 7 {
		t.Fatalf("the counter saw %d keys (%v...), want the 7 users", len(f.total), firstKeys(f.total))
	}
	for u, c := range f.total {
		if c != int64(n/7) && c != int64(n/7+1) {
			t.Errorf("user %s counted %d", u, c)
		}
	}
}

func firstKeys(m map[string]int64) []string {
	var ks []string
	for k := range m {
		if len(ks) == 3 {
			break
		}
		ks = append(ks, k)
	}
	return ks
}

// sizeOp records the byte size of every batch it is given.
type sizeOp struct{ f *sizeFactory }

type sizeFactory struct {
	mu    sync.Mutex
	sizes []int
}

func (f *sizeFactory) New(context.Context, runtime.OperatorEnv) (runtime.Operator, error) {
	return &sizeOp{f: f}, nil
}
func (f *sizeFactory) Close(context.Context) error { return nil }
func (o *sizeOp) Close(context.Context) error      { return nil }
func (o *sizeOp) Process(ctx context.Context, in, out []runtime.Record) ([]runtime.Record, error) {
	n := 0
	for i := range in {
		n += in[i].Size()
	}
	o.f.mu.Lock()
	o.f.sizes = append(o.f.sizes, n)
	o.f.mu.Unlock()
	return append(out, in...), nil
}

// TestBatchBytesBoundWholeReads guards batch.max_bytes when a Read's
// records would make one batch as they are: a Read of more bytes than
// max_bytes is split like any other, so no batch passes the bound by more
// than its last record.
func TestBatchBytesBoundWholeReads(t *testing.T) {
	checkNoLeaks(t)
	reg := testRegistry(nil)
	f := &sizeFactory{}
	runtime.AddOperator(reg, "sizes", "records batch sizes", func(*struct {
		runtime.OperatorSettings `yaml:",inline"`
	}) (runtime.OperatorFactory, error) {
		return f, nil
	})
	spec := parse(t, reg, `
pipeline: maxbytes
batch: {size: 100, linger: 1ms, max_bytes: 4KiB}
source: {test: {}}
operators: [{sizes: {}}]
sink: {test: {}}
`)
	recs := make([]runtime.Record, 50)
	for i := range recs {
		recs[i] = runtime.Record{Value: bytes.Repeat([]byte{'a' + byte(i%26)}, 1000)}
	}
	sink := runAll(t, spec, &memSource{recs: recs, chunk: 50})
	if got := len(sink.records()); got != len(recs) {
		t.Fatalf("%d records reached the sink, want %d", got, len(recs))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.sizes {
		if n > 4096+recs[0].Size() {
			t.Fatalf("a batch of %d bytes reached the operator; max_bytes is 4096 (batches: %v)", n, f.sizes)
		}
	}
}
