package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/collection"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/connectors/generator"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/serve"
	"github.com/wasmstream/wasmstream/runtime"
)

// node is one run of a server on a data directory: the test closes it
// (a shutdown, as SIGTERM does) and starts another on the same
// directory, as a restart would.
type node struct {
	api
	srv  *serve.Server
	logs *lockedBuf

	mu       sync.Mutex
	captured []*connectortest.Collector
	close    func()
}

func startNode(t *testing.T, dir string) *node {
	t.Helper()
	ctx := context.Background()
	engine, err := host.NewEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{logs: &lockedBuf{}}
	reg := runtime.NewRegistry()
	host.Register(reg, engine)
	generator.Register(reg)
	collection.Register(reg)
	runtime.AddSink(reg, "capture", "a test sink", func(*struct{}) (runtime.Sink, error) {
		c := &connectortest.Collector{}
		n.mu.Lock()
		n.captured = append(n.captured, c)
		n.mu.Unlock()
		return c, nil
	})
	logger := slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n.srv, err = serve.New(serve.Config{DataDir: dir, AdminToken: admin, Registry: reg, Engine: engine, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.srv.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(n.srv.Handler())
	n.api = api{t: t, url: hs.URL}
	n.close = sync.OnceFunc(func() {
		hs.Close()
		n.srv.Close(30 * time.Second)
		engine.Close(ctx)
	})
	t.Cleanup(n.close)
	return n
}

// records returns what every capture sink of this run got.
func (n *node) records() []runtime.Record {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []runtime.Record
	for _, c := range n.captured {
		out = append(out, c.Records()...)
	}
	return out
}

// status reads a pipeline's status from the server (no HTTP: it is
// polled).
func (n *node) status(tenant, name string) serve.PipelineStatus {
	n.t.Helper()
	st, err := n.srv.Status(tenant, name)
	if err != nil {
		n.t.Fatal(err)
	}
	return st
}

var (
	guestMu    sync.Mutex
	guestBuilt = map[string][]byte{}
)

// cachedGuest is guest, built once per test binary.
func cachedGuest(t *testing.T, example string) []byte {
	t.Helper()
	guestMu.Lock()
	defer guestMu.Unlock()
	if b, ok := guestBuilt[example]; ok {
		return b
	}
	b := guest(t, example)
	guestBuilt[example] = b
	return b
}

func createTenant(a api, name, body string) string {
	a.t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	a.want(201, "POST", "/v1/tenants", admin, []byte(body), &tok)
	return tok.Token
}

// counts parses the "key count" records the word count emits: the counts
// of each key, in the order they came.
func counts(t *testing.T, recs []runtime.Record) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for _, r := range recs {
		k, v, ok := strings.Cut(string(r.Value), " ")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || k != string(r.Key) {
			t.Fatalf("record %q (key %q) is not a word count", r.Value, r.Key)
		}
		out[k] = append(out[k], n)
	}
	return out
}

// TestRestartResumesStatefulPipeline: a keyed count deployed on one
// server, shut down mid-stream, runs again on the next server on the same
// data directory from where it was: every key's count goes on from the
// last one the first server emitted, none is reset or counted twice, and
// the source is not read again from its start. Once it has ended by
// itself, a further restart leaves it stopped.
func TestRestartResumesStatefulPipeline(t *testing.T) {
	dir := t.TempDir()
	const total = 6000
	n1 := startNode(t, dir)
	tok := createTenant(n1.api, "acme", `{"name":"acme","connectors":["generator","capture"]}`)
	n1.want(200, "PUT", "/v1/tenants/acme/modules/count", tok, cachedGuest(t, "wordcount/go"), nil)
	n1.want(200, "PUT", "/v1/tenants/acme/pipelines/counts", tok, []byte(fmt.Sprintf(`
source: {generator: {count: %d, rate: 1000, keys: 10}}
operators: [{name: count, wasm: {module: count, params: {stage: count, emit: true}}}]
sink: {capture: {}}
state: {checkpoint_interval: 100ms}
`, total)), nil)
	connectortest.WaitFor(t, 30*time.Second, "the first server's progress", func() bool {
		st := n1.status("acme", "counts")
		return st.Stats.Checkpoints > 0 && st.Stats.RecordsOut >= 500
	})
	var keys struct {
		Keys []struct {
			Key string `json:"key"`
		} `json:"keys"`
	}
	n1.want(200, "GET", "/v1/tenants/acme/pipelines/counts/query/v1/state/count/keys", tok, nil, &keys)
	if len(keys.Keys) == 0 {
		t.Fatal("the first server's state holds no key")
	}
	n1.close()
	before := counts(t, n1.records())
	read1 := len(n1.records())
	if read1 >= total {
		t.Fatalf("the pipeline had read all %d records before the restart: nothing to resume", read1)
	}

	n2 := startNode(t, dir)
	var st serve.PipelineStatus
	n2.want(200, "GET", "/v1/tenants/acme/pipelines/counts", tok, nil, &st)
	if st.State != "running" || !st.Restored {
		t.Fatalf("after the restart: %+v; want it running, restored", st)
	}
	// The live state read through the query API goes on from the first
	// server's counts.
	key0 := keys.Keys[0].Key
	last0 := slices.Max(before[key0])
	connectortest.WaitFor(t, 30*time.Second, "the restored state", func() bool {
		var v struct {
			Entries []struct {
				Counter int `json:"counter"`
			} `json:"entries"`
		}
		if n2.call("GET", "/v1/tenants/acme/pipelines/counts/query/v1/state/count/keys/"+key0, tok, nil, &v) != 200 {
			if n2.status("acme", "counts").State != "running" {
				t.Fatalf("the pipeline ended before its state was read")
			}
			return false // the store is opening
		}
		if len(v.Entries) != 1 || v.Entries[0].Counter < last0 {
			t.Fatalf("%s's count after the restart: %+v; the first server had counted %d", key0, v.Entries, last0)
		}
		return true
	})
	connectortest.WaitFor(t, 60*time.Second, "the restored pipeline to end", func() bool { return n2.status("acme", "counts").State != "running" })
	st = n2.status("acme", "counts")
	if st.State != "stopped" || st.Stats.RecordsIn != int64(total-read1) {
		t.Fatalf("the restored pipeline ended %+v (records in %d); want stopped having read the %d records the first server had not", st, st.Stats.RecordsIn, total-read1)
	}
	after := counts(t, n2.records())
	sum := 0
	for k, first := range before {
		if first[0] != 1 {
			t.Fatalf("%s's counts on the first server begin at %d", k, first[0])
		}
	}
	for k := range after {
		all := append(slices.Clone(before[k]), after[k]...)
		for i, c := range all {
			if c != i+1 {
				t.Fatalf("%s's counts across the restart: %v then %v; want 1, 2, 3... (nothing reset or counted twice)", k, before[k], after[k])
			}
		}
		sum += len(all)
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			sum += len(before[k])
		}
	}
	if sum != total {
		t.Fatalf("the keys were counted %d times in all, for %d records", sum, total)
	}

	// Ended cleanly by itself: not run again.
	n2.close()
	n3 := startNode(t, dir)
	n3.want(200, "GET", "/v1/tenants/acme/pipelines/counts", tok, nil, &st)
	if st.State != "stopped" || st.Stats.RecordsIn != 0 {
		t.Fatalf("a pipeline that had ended, after a restart: %+v; want it stopped", st)
	}
}

// TestRestartKeepsSwappedModule: after a hot swap, a restart runs the
// module swapped in, and the status keeps the swap history.
func TestRestartKeepsSwappedModule(t *testing.T) {
	dir := t.TempDir()
	wasm := cachedGuest(t, "uppercase/go")
	v2 := append(slices.Clone(wasm), 0, 3, 1, 'v', '2')
	n1 := startNode(t, dir)
	tok := createTenant(n1.api, "acme", `{"name":"acme","connectors":["generator","capture"]}`)
	n1.want(200, "PUT", "/v1/tenants/acme/modules/upper", tok, wasm, nil)
	var mod serve.Module
	n1.want(200, "PUT", "/v1/tenants/acme/modules/upper-v2", tok, v2, &mod)
	n1.want(200, "PUT", "/v1/tenants/acme/pipelines/up", tok, []byte("source: {generator: {rate: 500}}\noperators: [{name: up, wasm: {module: upper}}]\nsink: {capture: {}}\n"), nil)
	connectortest.WaitFor(t, 30*time.Second, "records", func() bool { return n1.status("acme", "up").Stats.RecordsOut > 0 })
	n1.want(200, "POST", "/v1/tenants/acme/pipelines/up/swap", tok, []byte(`{"operator":"up","module":"upper-v2"}`), nil)
	n1.close()

	n2 := startNode(t, dir)
	var st serve.PipelineStatus
	n2.want(200, "GET", "/v1/tenants/acme/pipelines/up", tok, nil, &st)
	if st.State != "running" {
		t.Fatalf("after the restart: %+v", st)
	}
	var op *serve.GraphNode
	for i := range st.Graph {
		if st.Graph[i].Kind == "operator" {
			op = &st.Graph[i]
		}
	}
	if op == nil || op.Name != "up" || op.Module != "upper-v2" || op.Digest != mod.Digest {
		t.Fatalf("the graph after the restart: %+v; want operator up running upper-v2 (%s)", st.Graph, mod.Digest)
	}
	if len(st.Swaps) != 1 || st.Swaps[0].Module != "upper-v2" || st.Swaps[0].Digest != mod.Digest || st.Swaps[0].Error != "" {
		t.Fatalf("the swap history after the restart: %+v", st.Swaps)
	}
	connectortest.WaitFor(t, 30*time.Second, "records after the restart", func() bool { return len(n2.records()) > 10 })
	for _, r := range n2.records() {
		if !bytes.Equal(r.Value, bytes.ToUpper(r.Value)) {
			t.Fatalf("record %q not upper-cased", r.Value)
		}
	}
	// A second restart still runs it.
	n2.close()
	n3 := startNode(t, dir)
	if st := n3.status("acme", "up"); st.State != "running" || st.Graph[1].Module != "upper-v2" || len(st.Swaps) != 1 {
		t.Fatalf("after a second restart: %+v", st)
	}
}

// TestRestartStoppedStaysStoppedDeletedGone: a pipeline a user stopped
// comes back listed as stopped (and still counts against the pipelines
// quota); a deleted one does not come back.
func TestRestartStoppedStaysStoppedDeletedGone(t *testing.T) {
	dir := t.TempDir()
	n1 := startNode(t, dir)
	tok := createTenant(n1.api, "acme", `{"name":"acme","connectors":["generator","capture"],"quotas":{"pipelines":3,"instances":10,"memory_per_instance":67108864,"cpu_per_batch":"2s","module_bytes":100000000,"modules":5}}`)
	n1.want(200, "PUT", "/v1/tenants/acme/modules/upper", tok, cachedGuest(t, "uppercase/go"), nil)
	file := []byte("source: {generator: {rate: 200}}\noperators: [{name: up, wasm: {module: upper}}]\nsink: {capture: {}}\n")
	for _, p := range []string{"runs", "stopped", "deleted"} {
		n1.want(200, "PUT", "/v1/tenants/acme/pipelines/"+p, tok, file, nil)
	}
	var st serve.PipelineStatus
	n1.want(200, "POST", "/v1/tenants/acme/pipelines/stopped/stop", tok, nil, &st)
	if st.State != "stopped" {
		t.Fatalf("stopped: %+v", st)
	}
	n1.want(200, "DELETE", "/v1/tenants/acme/pipelines/deleted", tok, nil, nil)
	n1.close()

	n2 := startNode(t, dir)
	var list []serve.PipelineStatus
	n2.want(200, "GET", "/v1/tenants/acme/pipelines", tok, nil, &list)
	var names []string
	for _, p := range list {
		names = append(names, p.Name+":"+p.State)
	}
	if want := []string{"runs:running", "stopped:stopped"}; !slices.Equal(names, want) {
		t.Fatalf("after the restart the pipelines are %v, want %v", names, want)
	}
	n2.want(404, "GET", "/v1/tenants/acme/pipelines/deleted", tok, nil, nil)
	if _, err := os.Stat(filepath.Join(dir, "tenants", "acme", "pipelines", "deleted")); !os.IsNotExist(err) {
		t.Fatalf("the deleted pipeline's data directory: %v", err)
	}
	n2.want(200, "GET", "/v1/tenants/acme/pipelines/stopped", tok, nil, &st)
	if len(st.Graph) != 3 || st.Graph[1].Module != "upper" || st.Stats.RecordsIn != 0 {
		t.Fatalf("the stopped pipeline after the restart: %+v", st)
	}
	connectortest.WaitFor(t, 30*time.Second, "the running pipeline's records", func() bool { return n2.status("acme", "runs").Stats.RecordsOut > 0 })
	// The stopped one still counts against the quota of 3.
	n2.want(200, "PUT", "/v1/tenants/acme/pipelines/third", tok, file, nil)
	var e struct {
		Error string `json:"error"`
	}
	if got := n2.call("PUT", "/v1/tenants/acme/pipelines/fourth", tok, file, &e); got != 403 || !strings.Contains(e.Error, "keeps 3 pipelines") {
		t.Fatalf("a fourth pipeline: %d %q; want the pipelines quota", got, e.Error)
	}
	// Deployed again, the stopped one runs.
	n2.want(200, "PUT", "/v1/tenants/acme/pipelines/stopped", tok, file, &st)
	if st.State != "running" {
		t.Fatalf("redeployed: %+v", st)
	}
}

// TestRestartUnrestorable: a pipeline whose module is gone, one whose
// stored deployment is corrupt and one a shrunk quota refuses come back
// failed with the reason, while the others run; a pipeline that had
// failed is restarted once and its status says why it had failed.
func TestRestartUnrestorable(t *testing.T) {
	dir := t.TempDir()
	wasm := cachedGuest(t, "uppercase/go")
	n1 := startNode(t, dir)
	acme := createTenant(n1.api, "acme", `{"name":"acme","connectors":["generator","capture"]}`)
	small := createTenant(n1.api, "small", `{"name":"small","connectors":["generator","capture"]}`)
	lim := createTenant(n1.api, "limited", `{"name":"limited","connectors":["generator","capture"],"quotas":{"pipelines":5,"instances":5,"memory_per_instance":67108864,"cpu_per_batch":"2s","module_bytes":100000000,"modules":5,"records_per_second":100000,"state_bytes":20000}}`)
	n1.want(200, "PUT", "/v1/tenants/acme/modules/upper", acme, wasm, nil)
	n1.want(200, "PUT", "/v1/tenants/acme/modules/gone", acme, append(slices.Clone(wasm), 0, 3, 1, 'v', '2'), nil)
	n1.want(200, "PUT", "/v1/tenants/small/modules/upper", small, wasm, nil)
	n1.want(200, "PUT", "/v1/tenants/limited/modules/count", lim, cachedGuest(t, "wordcount/go"), nil)
	file := func(module string) []byte {
		return []byte("source: {generator: {rate: 200}}\noperators: [{name: up, wasm: {module: " + module + "}}]\nsink: {capture: {}}\n")
	}
	n1.want(200, "PUT", "/v1/tenants/acme/pipelines/good", acme, file("upper"), nil)
	n1.want(200, "PUT", "/v1/tenants/acme/pipelines/bad", acme, file("gone"), nil)
	n1.want(200, "PUT", "/v1/tenants/acme/pipelines/corrupt", acme, file("upper"), nil)
	n1.want(200, "PUT", "/v1/tenants/small/pipelines/p", small, file("upper"), nil)
	n1.want(200, "PUT", "/v1/tenants/limited/pipelines/big", lim, []byte("source: {generator: {keys: 1000000}}\noperators: [{name: count, wasm: {module: count, params: {stage: count}}}]\nsink: {capture: {}}\n"), nil)
	connectortest.WaitFor(t, 30*time.Second, "the state quota to stop big", func() bool { return n1.status("limited", "big").State == "failed" })
	n1.close()

	// Between the runs: acme's module "gone" is removed, small's quota
	// shrinks, and corrupt's stored deployment is garbled.
	tf := filepath.Join(dir, "tenants.json")
	b, err := os.ReadFile(tf)
	if err != nil {
		t.Fatal(err)
	}
	var tenants []*serve.Tenant
	if err := json.Unmarshal(b, &tenants); err != nil {
		t.Fatal(err)
	}
	for _, tn := range tenants {
		switch tn.Name {
		case "acme":
			delete(tn.Modules, "gone")
		case "small":
			tn.Quotas.Instances = 0
		}
	}
	if b, err = json.Marshal(tenants); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	records, _ := filepath.Glob(filepath.Join(dir, "tenants", "acme", "deployments", "*.json"))
	sort.Strings(records)
	if want := []string{"bad.json", "corrupt.json", "good.json"}; len(records) != 3 || filepath.Base(records[1]) != want[1] {
		t.Fatalf("acme's stored deployments: %v, want %v", records, want)
	}
	if err := os.WriteFile(records[1], []byte(`{"tenant": "acme", "na`), 0o600); err != nil {
		t.Fatal(err)
	}

	n2 := startNode(t, dir)
	for _, c := range []struct {
		tenant, token, name, state, says string
	}{
		{"acme", acme, "good", "running", ""},
		{"acme", acme, "bad", "failed", `no module "gone"`},
		{"acme", acme, "corrupt", "failed", "does not read"},
		{"small", small, "p", "failed", "quota"},
	} {
		var st serve.PipelineStatus
		n2.want(200, "GET", "/v1/tenants/"+c.tenant+"/pipelines/"+c.name, c.token, nil, &st)
		if st.State != c.state || !strings.Contains(st.Error, c.says) || (c.says != "" && !strings.Contains(st.Error, "restoring after the server restarted")) {
			t.Errorf("%s/%s after the restart: %s %q; want %s saying %q", c.tenant, c.name, st.State, st.Error, c.state, c.says)
		}
	}
	connectortest.WaitFor(t, 30*time.Second, "the good pipeline's records", func() bool { return n2.status("acme", "good").Stats.RecordsOut > 0 })
	// The failed one ran again once: its status says why it had failed.
	st := n2.status("limited", "big")
	if !st.Restored || !strings.Contains(st.PreviousError, "keyed state") {
		t.Fatalf("the pipeline that had failed, after the restart: restored %v, previous error %q", st.Restored, st.PreviousError)
	}
	connectortest.WaitFor(t, 30*time.Second, "the state quota to stop big again", func() bool { return n2.status("limited", "big").State == "failed" })
	// The listed-but-failed pipelines have metrics (zeros), no query
	// server, and can be deleted or deployed again.
	req, _ := http.NewRequest("GET", n2.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(mb), `wasmstream_pipeline_records_in_total{pipeline="bad",tenant="acme"} 0`) {
		t.Fatalf("/metrics: %d\n%s", resp.StatusCode, mb)
	}
	n2.want(503, "GET", "/v1/tenants/acme/pipelines/bad/query/v1/status", acme, nil, nil)
	n2.want(200, "DELETE", "/v1/tenants/acme/pipelines/corrupt", acme, nil, nil)
	n2.want(404, "GET", "/v1/tenants/acme/pipelines/corrupt", acme, nil, nil)
	n2.want(200, "PUT", "/v1/tenants/acme/pipelines/bad", acme, file("upper"), &st)
	if st.State != "running" {
		t.Fatalf("bad deployed again: %+v", st)
	}
	if strings.Contains(n2.logs.String(), acme) {
		t.Fatal("a token is in the logs")
	}
}
