package host_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/connectors/collection"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/internal/vectors"
	"github.com/wasmstream/wasmstream/runtime"
)

// recordingSession is an async session that accepts every request,
// keeping it, and delivers fixed results: what a guest submits and how it
// handles results, without the runtime.
type recordingSession struct {
	results []abi.AsyncResult
	submits [][]byte
	refuse  int32 // when set, every Submit gets this status
}

func (s *recordingSession) Results() []abi.AsyncResult { return s.results }

func (s *recordingSession) Submit(req []byte) (int64, int32, string) {
	if s.refuse != 0 {
		return int64(s.refuse), s.refuse, "refused by the test"
	}
	s.submits = append(s.submits, bytes.Clone(req))
	return int64(len(s.submits) - 1), 0, ""
}

// TestGuestAsyncConformance runs every language's conformance operator
// over the async vectors (abi/testdata/conformance-async): the requests it
// submits must be the vector's, and its output, with the results the
// input frame delivers, must match byte for byte.
func TestGuestAsyncConformance(t *testing.T) {
	guests := guestbuild.Guests(filepath.Join("..", "examples", "wasm", "conformance"))
	vs := vectors.Load(t, vectors.Async)
	for _, g := range guests {
		t.Run(g.Lang, func(t *testing.T) {
			e := newEngine(t)
			m, err := e.Load(t.Context(), buildGuest(t, g))
			if err != nil {
				t.Fatal(err)
			}
			uses := false
			for _, imp := range m.Info().Imports {
				uses = uses || imp.Name == abi.ImportAsyncSubmit
			}
			if !uses {
				t.Fatalf("the %s conformance operator does not import async_submit: it does not implement the async cases", g.Lang)
			}
			c := cfg()
			c.MemoryLimit = 64 << 20
			for _, v := range vs {
				t.Run(v.Name, func(t *testing.T) {
					inst, err := m.Instantiate(t.Context(), c)
					if err != nil {
						t.Fatal(err)
					}
					defer inst.Close(t.Context())
					recs, err := abi.DecodeFrame(v.In, nil)
					if err != nil {
						t.Fatal(err)
					}
					results, err := abi.DecodeResults(v.In)
					if err != nil {
						t.Fatal(err)
					}
					var in, out abi.Batch
					for i := range recs {
						in.Append(&recs[i])
					}
					s := &recordingSession{results: results}
					var got []byte
					err = inst.ProcessAsync(t.Context(), &in, s, &out)
					if err == nil {
						got = abi.AppendFrame(nil, out.AppendViews(nil))
					}
					v.Check(t, got, err, hostErrors)
					v.CheckSubmits(t, s.submits)
				})
			}
		})
	}
}

// nullTarget answers every request with an empty body.
type nullTarget struct{}

func (nullTarget) Open(context.Context, runtime.Env) error { return nil }
func (nullTarget) Close(context.Context) error             { return nil }
func (nullTarget) Check(*runtime.AsyncRequest) error       { return nil }
func (nullTarget) Do(context.Context, *runtime.AsyncRequest) (runtime.AsyncResponse, error) {
	return runtime.AsyncResponse{}, nil
}

// TestAsyncSubmitFlood: a guest that floods async_submit with garbage and
// with requests outside its memory (200,000 a call) gets -1 for each,
// quickly, and nothing of it is kept: its batches go through, the garbage
// is counted as refused by the runtime, and the requests outside guest
// memory never reach it.
func TestAsyncSubmitFlood(t *testing.T) {
	e := newEngine(t)
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	runtime.AddAsyncTarget(reg, "null", "answers nothing", func(*struct{}) (runtime.AsyncTarget, error) { return nullTarget{}, nil })
	sink := &connectortest.Collector{}
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: flood
data_dir: %q
source: {collection: {values: [a, b, c]}}
batch: {size: 1}
operators:
  - name: flood
    wasm:
      module: %q
      deadline: 10s
      async: {targets: {t: {null: {}}}}
sink: {out: {}}
`, t.TempDir(), buildWat(t, "asyncflood"))), withTestConnectors(reg, sink))
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtime.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := p.Stats().Operators[0]
	if st.Async == nil || st.Async.Refused != 3*100000 || st.Async.Submitted != 0 || st.Batches != 3 {
		t.Fatalf("stats %+v %+v", st, st.Async)
	}
}

func withTestConnectors(reg *runtime.Registry, sink *connectortest.Collector) *runtime.Registry {
	collection.Register(reg)
	runtime.AddSink(reg, "out", "", func(*struct{}) (runtime.Sink, error) { return sink, nil })
	return reg
}

// TestAsyncResultsReachReplacement: a call that traps while results are
// delivered breaks its instance; the same results given again reach the
// instance that replaces it, which handles them.
func TestAsyncResultsReachReplacement(t *testing.T) {
	e := newEngine(t)
	var goGuest guestbuild.Guest
	for _, g := range guestbuild.Guests(filepath.Join("..", "examples", "wasm", "conformance")) {
		if g.Lang == "go" {
			goGuest = g
		}
	}
	m, err := e.Load(t.Context(), buildGuest(t, goGuest))
	if err != nil {
		t.Fatal(err)
	}
	op := host.NewOperator(m, cfg())
	defer op.Close(t.Context())
	results := []abi.AsyncResult{{Ticket: 4, Context: []byte("ctx"), Code: 200, Body: []byte("answer")}}
	var in, out abi.Batch
	in.Append(&abi.Record{Value: []byte("trap")})
	if err := op.ProcessAsync(t.Context(), &in, &recordingSession{results: results}, &out); err == nil {
		t.Fatal("the trap did not fail the call")
	}
	in.Reset()
	out.Reset()
	if err := op.ProcessAsync(t.Context(), &in, &recordingSession{results: results}, &out); err != nil {
		t.Fatal(err)
	}
	got := out.AppendViews(nil)
	if len(got) != 1 || string(got[0].Value) != "result:4:0:200:answer:nil:ctx" || op.Replaced != 1 {
		t.Fatalf("after the replacement: %d records %+v, %d replaced", len(got), got, op.Replaced)
	}
}
