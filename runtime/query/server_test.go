package query

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// fake is a pipeline whose store opens when the test says so.
type fake struct {
	spec     *runtime.Spec
	stateful bool
	ready    chan struct{}
	store    *state.Store
	closed   bool
}

func (f *fake) Spec() *runtime.Spec  { return f.spec }
func (f *fake) Stateful() bool       { return f.stateful }
func (f *fake) Stats() runtime.Stats { return runtime.Stats{RecordsIn: 7, RecordsOut: 5} }
func (f *fake) Store(ctx context.Context) *state.Store {
	select {
	case <-f.ready:
		return f.store
	case <-ctx.Done():
		return nil
	}
}
func (f *fake) Savepoint(ctx context.Context, dir string) (state.Meta, error) {
	if f.Store(ctx) == nil {
		return state.Meta{}, ctx.Err()
	}
	if _, err := f.store.Checkpoint(f.spec.Name, []byte("pos")); err != nil {
		return state.Meta{}, err
	}
	meta, wait, err := f.store.Savepoint(dir)
	if err != nil {
		return state.Meta{}, err
	}
	return meta, wait()
}

func newFake(t *testing.T) *fake {
	t.Helper()
	dir := t.TempDir()
	st, _, err := state.Open(state.Options{Dir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{stateful: true, ready: make(chan struct{}), store: st}
	t.Cleanup(func() {
		if !f.closed {
			st.Close()
		}
	})
	spec := &runtime.Spec{Name: "wc", DataDir: dir,
		Operators: []*runtime.ComponentSpec{{Label: "split"}, {Label: "count"}}}
	f.spec = spec
	return f
}

// serve starts a server for p on a free loopback port.
func serve(t *testing.T, p Pipeline) (*Server, string) {
	t.Helper()
	s := New(p)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, "http://" + addr.String()
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func get(t *testing.T, url string, accept ...string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accept {
		req.Header.Add("Accept", a)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s: %v\n%s", req.URL, err, raw)
		}
	}
	return r
}

func counter(n int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }

// fill writes state: a checkpointed part, then live writes on top.
func fill(t *testing.T, st *state.Store) {
	t.Helper()
	tx := st.NewTxn("count")
	tx.Begin()
	for _, k := range []string{"w1", "w10", "w2", "a/b", "\x00\xff", "..", "sp ace"} {
		if _, err := tx.Add(state.ScopeKey, []byte(k), []byte("count"), 3); err != nil {
			t.Fatal(err)
		}
	}
	tx.Put(state.ScopeKey, []byte("w1"), []byte("last"), []byte("hello"), 0)
	tx.Put(state.ScopeKey, []byte("w1"), []byte("m\x00k"), []byte{0xff, 0x00}, 0)
	tx.Append(state.ScopeKey, []byte("w1"), []byte("events"), []byte("e1"))
	tx.Append(state.ScopeKey, []byte("w1"), []byte("events"), []byte{0xfe})
	tx.Put(state.ScopeKey, []byte("w2"), []byte("ttl"), []byte("soon"), time.Hour)
	tx.Put(state.ScopeOperator, nil, []byte("seen"), []byte("yes"), 0)
	tx.Add(state.ScopeOperator, nil, []byte("total"), 21)
	tx.Commit()
	if _, err := st.Checkpoint("wc", []byte("pos")); err != nil {
		t.Fatal(err)
	}
	tx.Begin()
	tx.Add(state.ScopeKey, []byte("w1"), []byte("count"), 4) // live: 7, checkpoint: 3
	tx.Add(state.ScopeKey, []byte("w3"), []byte("count"), 1) // live only
	tx.Commit()
}

func TestUnavailableUntilTheStoreOpens(t *testing.T) {
	f := newFake(t)
	_, base := serve(t, f)
	for _, path := range []string{"/v1/state/count/keys/w1", "/v1/state/count/keys", "/v1/state/count/operator/seen"} {
		r := get(t, base+path)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Fatalf("%s before the store opened: %d, Retry-After %q: %s", path, r.status, r.header.Get("Retry-After"), r.raw)
		}
		if !strings.Contains(r.body["error"].(string), "opening") {
			t.Errorf("%s: %s", path, r.raw)
		}
	}
	if r := get(t, base+"/v1/status"); r.status != http.StatusOK || r.body["store"] != "opening" {
		t.Fatalf("status before the store opened: %d %s", r.status, r.raw)
	}
	fill(t, f.store)
	close(f.ready)
	waitFor(t, func() bool { return get(t, base+"/v1/state/count/keys/w1").status == http.StatusOK })
	if r := get(t, base+"/v1/status"); r.body["store"] != "open" {
		t.Fatalf("status after the store opened: %s", r.raw)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func openFake(t *testing.T) (*fake, *Server, string) {
	f := newFake(t)
	fill(t, f.store)
	close(f.ready)
	s, base := serve(t, f)
	waitFor(t, func() bool { return get(t, base+"/v1/status").body["store"] == "open" })
	return f, s, base
}

// seg percent-encodes every byte outside the unreserved set, dots too, so
// that "." and ".." are keys rather than path steps.
func seg(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func TestReads(t *testing.T) {
	_, _, base := openFake(t)
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	cases := []struct {
		name, path string
		status     int
		want       map[string]any // fields of the body (entries: by name)
	}{
		{"counter live", "/v1/state/count/keys/w1/count", 200,
			map[string]any{"counter": 7.0, "value_base64": b64(counter(7)), "consistency": "live", "checkpoint": 1.0, "key": "w1", "name": "count"}},
		{"counter at the checkpoint", "/v1/state/count/keys/w1/count?consistency=checkpoint", 200,
			map[string]any{"counter": 3.0, "consistency": "checkpoint", "checkpoint": 1.0}},
		{"live only", "/v1/state/count/keys/w3/count?consistency=checkpoint", 404, nil},
		{"live only, live", "/v1/state/count/keys/w3/count", 200, map[string]any{"counter": 1.0}},
		{"text", "/v1/state/count/keys/w1/last", 200, map[string]any{"value": "hello"}},
		{"as=text on binary", "/v1/state/count/keys/w1/" + seg("m\x00k") + "?as=text", 422, nil},
		{"as=base64", "/v1/state/count/keys/w1/last?as=base64", 200, map[string]any{"value_base64": b64([]byte("hello"))}},
		{"as=counter", "/v1/state/count/keys/w1/count?as=counter", 200, map[string]any{"counter": 7.0}},
		{"as=counter on text", "/v1/state/count/keys/w1/last?as=counter", 422, nil},
		{"as=list", "/v1/state/count/keys/w1/events?as=list", 200,
			map[string]any{"list": []any{map[string]any{"value": "e1"}, map[string]any{"value_base64": b64([]byte{0xfe})}}}},
		{"binary key and name", "/v1/state/count/keys/" + seg("\x00\xff") + "/count", 200,
			map[string]any{"counter": 3.0, "key_base64": b64([]byte("\x00\xff"))}},
		{"slash in the key", "/v1/state/count/keys/" + seg("a/b") + "/count", 200, map[string]any{"key": "a/b"}},
		{"dot-dot key", "/v1/state/count/keys/" + seg("..") + "/count", 200, map[string]any{"key": ".."}},
		{"space in the key", "/v1/state/count/keys/sp%20ace/count", 200, map[string]any{"key": "sp ace"}},
		{"expiry", "/v1/state/count/keys/w2/ttl", 200, map[string]any{"value": "soon"}},
		{"operator value", "/v1/state/count/operator/seen", 200, map[string]any{"value": "yes", "scope": "operator"}},
		{"operator counter", "/v1/state/count/operator/total", 200, map[string]any{"counter": 21.0}},
		{"missing key", "/v1/state/count/keys/nope", 404, nil},
		{"missing name", "/v1/state/count/keys/w1/nope", 404, nil},
		{"missing operator value", "/v1/state/count/operator/nope", 404, nil},
		{"unknown operator", "/v1/state/nope/keys/w1", 404, nil},
		{"bad consistency", "/v1/state/count/keys/w1?consistency=eventual", 400, nil},
		{"bad as", "/v1/state/count/keys/w1?as=hex", 400, nil},
		{"unknown parameter", "/v1/state/count/keys/w1?prefix=w", 400, nil},
		{"repeated parameter", "/v1/state/count/keys/w1?as=text&as=base64", 400, nil},
		{"bad limit", "/v1/state/count/keys?limit=0", 400, nil},
		{"huge limit", "/v1/state/count/keys?limit=1000000", 400, nil},
		{"bad cursor", "/v1/state/count/keys?cursor=%21%21", 400, nil},
		{"foreign cursor", "/v1/state/count/keys?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("sother")), 400, nil},
		{"no such endpoint", "/v1/nope", 404, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := get(t, base+c.path)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.raw)
			}
			if r.body == nil {
				t.Fatalf("not JSON: %q", r.raw)
			}
			if c.status != 200 {
				if msg, _ := r.body["error"].(string); msg == "" {
					t.Errorf("no error message: %s", r.raw)
				}
				return
			}
			for k, v := range c.want {
				if got, _ := json.Marshal(r.body[k]); string(got) != mustJSON(t, v) {
					t.Errorf("%s = %s, want %s\n%s", k, got, mustJSON(t, v), r.raw)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKeyEntries(t *testing.T) {
	_, _, base := openFake(t)
	r := get(t, base+"/v1/state/count/keys/w1")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	// w1 has four names, and none of w10's.
	var names []string
	for _, e := range r.body["entries"].([]any) {
		e := e.(map[string]any)
		n, _ := e["name"].(string)
		if b, ok := e["name_base64"].(string); ok {
			raw, _ := base64.StdEncoding.DecodeString(b)
			n = string(raw)
		}
		names = append(names, n)
		if n == "count" && e["counter"] != 7.0 {
			t.Errorf("count entry %v", e)
		}
	}
	if want := []string{"count", "events", "last", "m\x00k"}; !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	// as=counter decodes what it can and says why not for the rest.
	r = get(t, base+"/v1/state/count/keys/w1?as=counter")
	for _, e := range r.body["entries"].([]any) {
		e := e.(map[string]any)
		if _, isCounter := e["counter"]; isCounter == (e["error"] != nil) {
			t.Errorf("entry %v", e)
		}
	}
}

// listAll pages through a listing and returns the keys in order.
func listAll(t *testing.T, base, query string, limit int) []string {
	t.Helper()
	var keys []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("too many pages")
		}
		u := fmt.Sprintf("%s/v1/state/count/keys?limit=%d%s", base, limit, query)
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		r := get(t, u)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		page := r.body["keys"].([]any)
		if len(page) > limit {
			t.Fatalf("page of %d keys, limit %d", len(page), limit)
		}
		for _, k := range page {
			k := k.(map[string]any)
			key, _ := k["key"].(string)
			if b, ok := k["key_base64"].(string); ok {
				raw, _ := base64.StdEncoding.DecodeString(b)
				key = string(raw)
			}
			keys = append(keys, key)
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			return keys
		}
		cursor = next
	}
}

func TestListPagination(t *testing.T) {
	_, _, base := openFake(t)
	all := []string{"\x00\xff", "..", "a/b", "sp ace", "w1", "w10", "w2", "w3"}
	for limit := 1; limit <= len(all)+1; limit++ {
		if got := listAll(t, base, "", limit); !slices.Equal(got, all) {
			t.Errorf("limit %d: keys %q, want %q", limit, got, all)
		}
	}
	if got := listAll(t, base, "&prefix=w1", 1); !slices.Equal(got, []string{"w1", "w10"}) {
		t.Errorf("prefix w1: %q", got)
	}
	if got := listAll(t, base, "&prefix="+url.QueryEscape("\x00"), 1); !slices.Equal(got, []string{"\x00\xff"}) {
		t.Errorf("binary prefix: %q", got)
	}
	if got := listAll(t, base, "&consistency=checkpoint", 2); slices.Contains(got, "w3") || len(got) != len(all)-1 {
		t.Errorf("checkpoint listing: %q", got)
	}
	// A cursor of one prefix is refused by another.
	r := get(t, base+"/v1/state/count/keys?limit=1&prefix=w")
	cur := r.body["next_cursor"].(string)
	if r := get(t, base+"/v1/state/count/keys?prefix=a&cursor="+cur); r.status != 400 {
		t.Errorf("foreign cursor: %d %s", r.status, r.raw)
	}
	// Operator scope.
	r = get(t, base+"/v1/state/count/operator?limit=1")
	if es := r.body["entries"].([]any); len(es) != 1 || r.body["next_cursor"] == nil {
		t.Fatalf("operator page: %s", r.raw)
	}
	r = get(t, base+"/v1/state/count/operator?limit=1&cursor="+r.body["next_cursor"].(string))
	if es := r.body["entries"].([]any); len(es) != 1 || r.body["next_cursor"] != nil || es[0].(map[string]any)["name"] != "total" {
		t.Fatalf("operator second page: %s", r.raw)
	}
}

func TestMsgpack(t *testing.T) {
	_, _, base := openFake(t)
	r := get(t, base+"/v1/state/count/keys/"+seg("\x00\xff"), "text/html, application/msgpack;q=0.9")
	if r.header.Get("Content-Type") != "application/msgpack" {
		t.Fatalf("content type %q", r.header.Get("Content-Type"))
	}
	v, err := abi.DecodeValue(r.raw)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if !bytes.Equal(m["key"].([]byte), []byte("\x00\xff")) || m["consistency"] != "live" {
		t.Fatalf("msgpack body %v", m)
	}
	e := m["entries"].([]any)[0].(map[string]any)
	if !bytes.Equal(e["value"].([]byte), counter(3)) || e["counter"] != int64(3) {
		t.Fatalf("msgpack entry %v", e)
	}
	// Errors too.
	r = get(t, base+"/v1/state/count/keys/nope", "application/msgpack")
	if v, err := abi.DecodeValue(r.raw); r.status != 404 || err != nil || v.(map[string]any)["error"] == nil {
		t.Fatalf("msgpack error: %d %v %v", r.status, v, err)
	}
}

func TestStatusAndSavepoint(t *testing.T) {
	f, _, base := openFake(t)
	r := get(t, base+"/v1/status")
	if r.body["pipeline"] != "wc" || r.body["running"] != true || r.body["records_in"] != 7.0 {
		t.Fatalf("status %s", r.raw)
	}
	if lc := r.body["last_checkpoint"].(map[string]any); lc["id"] != 1.0 || lc["entries"] == nil || lc["time"] == nil {
		t.Fatalf("last checkpoint %v", lc)
	}
	waitFor(t, func() bool { // the retained copy is written in the background
		return len(get(t, base+"/v1/status").body["retained_checkpoints"].([]any)) == 1
	})

	post := func(body string) reply {
		req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/savepoints", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return do(t, req)
	}
	dir := filepath.Join(f.spec.DataDir, "keep", "sp1")
	r = post(fmt.Sprintf(`{"dir": %q}`, dir))
	if r.status != http.StatusCreated {
		t.Fatalf("savepoint: %d %s", r.status, r.raw)
	}
	sp := r.body["savepoint"].(map[string]any)
	if sp["dir"] != dir || sp["id"] != 2.0 {
		t.Fatalf("savepoint %v", sp)
	}
	if _, err := os.Stat(filepath.Join(dir, "CHECKPOINT.json")); err != nil {
		t.Fatal(err)
	}
	if r := post(fmt.Sprintf(`{"dir": %q}`, dir)); r.status != http.StatusConflict {
		t.Errorf("existing dir: %d %s", r.status, r.raw)
	}
	if r := post(`{"directory": "x"}`); r.status != http.StatusBadRequest {
		t.Errorf("unknown field: %d %s", r.status, r.raw)
	}
	r = post("")
	if r.status != http.StatusCreated {
		t.Fatalf("default savepoint: %d %s", r.status, r.raw)
	}
	if d := r.body["savepoint"].(map[string]any)["dir"].(string); !strings.HasPrefix(d, filepath.Join(f.spec.DataDir, "savepoints")) {
		t.Errorf("default savepoint in %s", d)
	}
	// The live write (w3) is in the savepoint: it was checkpointed first.
	sp2, _, err := state.Open(state.Options{Dir: t.TempDir(), FromSavepoint: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.Close()
	if v, _, ok, _ := sp2.Lookup("count", state.ScopeKey, []byte("w3"), []byte("count"), false); !ok || !bytes.Equal(v, counter(1)) {
		t.Errorf("w3 in the savepoint: %x %v", v, ok)
	}
}

func TestDetach(t *testing.T) {
	_, s, base := openFake(t)
	s.Detach()
	if r := get(t, base+"/v1/state/count/keys/w1"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("after Detach: %d %s", r.status, r.raw)
	}
	if r := get(t, base+"/v1/status"); r.status != 200 || r.body["store"] != "stopped" {
		t.Fatalf("status after Detach: %s", r.raw)
	}
}

func TestStatelessPipeline(t *testing.T) {
	f := newFake(t)
	f.stateful = false
	_, base := serve(t, f)
	if r := get(t, base+"/v1/state/count/keys/w1"); r.status != http.StatusNotFound {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/savepoints", nil)
	if r := do(t, req); r.status != http.StatusNotFound {
		t.Fatalf("savepoint: %d %s", r.status, r.raw)
	}
}

func TestStopped(t *testing.T) {
	f := newFake(t)
	fill(t, f.store)
	s := New(Stopped(f.spec, f.store))
	defer s.Close()
	_, base := serveHandler(t, s)
	r := get(t, base+"/v1/state/count/keys/w1/count")
	if r.status != 200 || r.body["running"] != false {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

// serveHandler serves an existing Server.
func serveHandler(t *testing.T, s *Server) (*Server, string) {
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return s, "http://" + addr.String()
}

// TestClosedStore: a read that finds the store already closed by the
// pipeline (before the caller could Detach) is answered 503.
func TestClosedStore(t *testing.T) {
	f, _, base := openFake(t)
	f.closed = true
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/state/count/keys/w10/count?consistency=checkpoint", "/v1/state/count/keys"} {
		if r := get(t, base+path); r.status != http.StatusServiceUnavailable {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
	}
}

// FuzzRequests sends arbitrary paths and query strings: every answer is a
// redirect to a clean path or a JSON document, with a status below 500.
func FuzzRequests(f *testing.F) {
	for _, seed := range []string{
		"/v1/state/count/keys/w1", "/v1/state/count/keys/w1/count?as=list", "/v1/state/count/keys?prefix=w&limit=2",
		"/v1/state/count/keys?cursor=c2NvdW50AAF3MQABY291bnQ", "/v1/state/count/operator?limit=1&cursor=%00",
		"/v1/state/count/keys/%00%ff/%2e%2e?consistency=checkpoint&as=text", "/v1/status", "/v1/state//keys/",
	} {
		f.Add(seed)
	}
	st, _, err := state.Open(state.Options{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	ff := &fake{spec: &runtime.Spec{Name: "wc", DataDir: f.TempDir(), Operators: []*runtime.ComponentSpec{{Label: "count"}}},
		stateful: true, ready: make(chan struct{}), store: st}
	close(ff.ready)
	tx := st.NewTxn("count")
	tx.Begin()
	tx.Add(state.ScopeKey, []byte("w1"), []byte("count"), 1)
	tx.Append(state.ScopeKey, []byte("w1"), []byte("l"), []byte("x"))
	tx.Put(state.ScopeOperator, nil, []byte("o"), []byte{0xff}, 0)
	tx.Commit()
	s := New(ff)
	defer s.Close()
	for s.acquireForTest() == nil {
		time.Sleep(time.Millisecond)
	}
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.NewRequest("GET", "http://x"+target, nil)
		if err != nil || req.URL.Host != "x" {
			return
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		if rec.Code/100 == 3 { // the mux's redirect to a clean path
			return
		}
		var d map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
			t.Fatalf("%s: %d, not JSON: %q", target, rec.Code, rec.Body)
		}
	})
}

// acquireForTest returns the store once the server has it.
func (s *Server) acquireForTest() *state.Store {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.store
}

// TestSavepointOnlyUnderAllowedDirectories guards issue #8 item 14: the
// unauthenticated savepoint endpoint wrote wherever a request said; it
// accepts only directories under the data directory or state.savepoint_dir,
// after resolving symbolic links.
func TestSavepointOnlyUnderAllowedDirectories(t *testing.T) {
	f := newFake(t)
	allowed := t.TempDir()
	f.spec.State.SavepointDir = allowed
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(f.spec.DataDir, "escape")); err != nil {
		t.Fatal(err)
	}
	close(f.ready)
	_, base := serve(t, f)
	cases := []struct {
		name, dir string
		status    int
	}{
		{"outside", filepath.Join(outside, "sp"), http.StatusForbidden},
		{"dot-dot", filepath.Join(f.spec.DataDir, "..", "sp"), http.StatusForbidden},
		{"relative dot-dot", "../sp-up", http.StatusForbidden},
		{"through a symlink", filepath.Join(f.spec.DataDir, "escape", "sp"), http.StatusForbidden},
		{"the data directory itself", f.spec.DataDir, http.StatusForbidden},
		{"root", "/", http.StatusForbidden},
		{"under the data directory", filepath.Join(f.spec.DataDir, "sp"), http.StatusCreated},
		{"relative", "sp-rel", http.StatusCreated},
		{"under savepoint_dir", filepath.Join(allowed, "a", "sp"), http.StatusCreated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/savepoints", strings.NewReader(fmt.Sprintf(`{"dir": %q}`, c.dir)))
			if err != nil {
				t.Fatal(err)
			}
			r := do(t, req)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.raw)
			}
		})
	}
	for _, d := range []string{filepath.Join(outside, "sp"), filepath.Join(filepath.Dir(f.spec.DataDir), "sp"), filepath.Join(filepath.Dir(f.spec.DataDir), "sp-up")} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s was written", d)
		}
	}
}
