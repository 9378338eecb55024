package host_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/internal/vectors"
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
