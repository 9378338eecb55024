package serve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wasmstream/wasmstream/internal/serve"
)

const admin = "admin-token-0123456789"

// lockedBuf collects the server's logs.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type api struct {
	t   *testing.T
	url string
}

// call sends a request and decodes the JSON answer into out (when not
// nil); it returns the status.
func (a api) call(method, path, token string, body []byte, out any) int {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func (a api) want(status int, method, path, token string, body []byte, out any) {
	a.t.Helper()
	var raw json.RawMessage
	got := a.call(method, path, token, body, &raw)
	if got != status {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, got, raw, status)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatal(err)
		}
	}
}

// TestServer drives the API over HTTP as a user would: tenants, tokens,
// module uploads, deploys with capabilities and quotas checked, status,
// a hot swap, stop and delete; and checks that no token reaches the logs.
func TestServer(t *testing.T) {
	ts := newTestServer(t)
	a, logs, dir := ts.api, ts.logs, ts.dir
	wasm := guest(t, "uppercase/go")

	// Tenants and tokens.
	a.want(401, "POST", "/v1/tenants", "", []byte(`{"name":"acme"}`), nil)
	var acme, globex struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	a.want(201, "POST", "/v1/tenants", admin, []byte(`{"name":"globex"}`), &globex)
	a.want(400, "POST", "/v1/tenants", admin, []byte(`{"name":"Bad Name"}`), nil)
	// acme's quotas are tight, to hit each.
	a.want(201, "POST", "/v1/tenants", admin, []byte(`{"name":"acme","connectors":["generator","capture"],"quotas":{"pipelines":1,"instances":2,"memory_per_instance":33554432,"cpu_per_batch":"1s","module_bytes":100000000,"modules":5}}`), &acme)
	a.want(409, "POST", "/v1/tenants", admin, []byte(`{"name":"acme"}`), nil)
	tenant := acme.Name
	if acme.Token == "" || globex.Token == "" || acme.Token == globex.Token {
		t.Fatalf("tokens %q %q", acme.Token, globex.Token)
	}
	a.want(401, "GET", "/v1/tenants/"+tenant, "wst_not-a-token", nil, nil)
	a.want(403, "GET", "/v1/tenants/"+tenant, globex.Token, nil, nil)
	a.want(403, "GET", "/v1/tenants", acme.Token, nil, nil)
	a.want(200, "GET", "/v1/tenants/"+tenant, acme.Token, nil, nil)
	a.want(200, "GET", "/v1/tenants/"+tenant, admin, nil, nil)

	// Modules: checked on upload, named, kept by digest.
	a.want(422, "PUT", "/v1/tenants/"+tenant+"/modules/junk", acme.Token, []byte("\x00asm\x01\x00\x00\x00junk"), nil)
	var mod serve.Module
	a.want(200, "PUT", "/v1/tenants/"+tenant+"/modules/upper", acme.Token, wasm, &mod)
	if mod.Digest == "" || mod.Language != "Go" {
		t.Fatalf("module %+v", mod)
	}
	a.want(403, "PUT", "/v1/tenants/"+tenant+"/modules/upper", globex.Token, wasm, nil)

	// Deploys: capabilities and quotas first.
	pipeline := func(extra, sink string) []byte {
		return []byte(fmt.Sprintf(`
source: {generator: {rate: 2000, keys: 10}}
operators:
  - name: up
    wasm: {module: upper%s}
sink: %s
`, extra, sink))
	}
	for _, c := range []struct {
		name   string
		body   []byte
		status int
		says   string
	}{
		{"stdout is not a capability", pipeline("", "{stdout: {}}"), 403, "may not use the stdout connector"},
		{"a host path", []byte("source: {generator: {}}\noperators: [{wasm: {module: /etc/passwd}}]\nsink: {capture: {}}\n"), 422, `no module "/etc/passwd"`},
		{"data_dir", append([]byte("data_dir: /tmp/x\n"), pipeline("", "{capture: {}}")...), 422, "data_dir"},
		{"memory over quota", pipeline(", memory_limit: 64MiB", "{capture: {}}"), 403, "memory_limit"},
		{"instances over quota", pipeline(", parallelism: 3", "{capture: {}}"), 403, "instances"},
	} {
		var e struct {
			Error string `json:"error"`
		}
		if got := a.call("PUT", "/v1/tenants/"+tenant+"/pipelines/p1", acme.Token, c.body, &e); got != c.status || !strings.Contains(e.Error, c.says) {
			t.Errorf("%s: %d %q; want %d saying %q", c.name, got, e.Error, c.status, c.says)
		}
	}
	var st serve.PipelineStatus
	a.want(200, "PUT", "/v1/tenants/"+tenant+"/pipelines/p1", acme.Token, pipeline("", "{capture: {}}"), &st)
	if st.State != "running" || st.Instances != 1 {
		t.Fatalf("deployed: %+v", st)
	}
	// The pipeline quota: one running.
	a.want(403, "PUT", "/v1/tenants/"+tenant+"/pipelines/p2", acme.Token, pipeline("", "{capture: {}}"), nil)
	a.want(403, "GET", "/v1/tenants/"+tenant+"/pipelines/p1", globex.Token, nil, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		a.want(200, "GET", "/v1/tenants/"+tenant+"/pipelines/p1", acme.Token, nil, &st)
		if st.Stats.RecordsOut > 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline wrote nothing: %+v", st)
		}
		time.Sleep(20 * time.Millisecond) // polling the API: there is no event to wait on
	}

	// Metrics per tenant, for the admin only.
	req, _ := http.NewRequest("GET", a.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`wasmstream_pipeline_records_out_total{pipeline="p1",tenant="acme"}`, `wasmstream_operator_batches_total{operator="up",pipeline="p1",tenant="acme"}`, `wasmstream_tenant_quota_breaches_total{tenant="acme"} 1`} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	a.want(403, "GET", "/metrics", acme.Token, nil, nil)

	// A hot swap to a new version (same code, another digest).
	v2 := append(slices.Clone(wasm), 0, 3, 1, 'v', '2')
	a.want(200, "PUT", "/v1/tenants/"+tenant+"/modules/upper-v2", acme.Token, v2, nil)
	var swap serve.SwapRecord
	a.want(200, "POST", "/v1/tenants/"+tenant+"/pipelines/p1/swap", acme.Token, []byte(`{"operator":"up","module":"upper-v2","canary":2}`), &swap)
	a.want(200, "GET", "/v1/tenants/"+tenant+"/pipelines/p1", acme.Token, nil, &st)
	if len(st.Swaps) == 0 || st.Swaps[0].Module != "upper-v2" || st.Swaps[0].Error != "" {
		t.Fatalf("swap history %+v", st.Swaps)
	}
	a.want(422, "POST", "/v1/tenants/"+tenant+"/pipelines/p1/swap", acme.Token, []byte(`{"operator":"up","module":"nope"}`), nil)

	a.want(200, "POST", "/v1/tenants/"+tenant+"/pipelines/p1/stop", acme.Token, nil, &st)
	if st.State != "stopped" || st.Stats.RecordsOut != st.Stats.RecordsIn {
		t.Fatalf("stopped: %+v", st)
	}
	out := ts.records()
	if int64(len(out)) != st.Stats.RecordsOut {
		t.Fatalf("the sinks got %d records, the status says %d", len(out), st.Stats.RecordsOut)
	}
	for _, r := range out {
		if !bytes.Equal(r.Value, bytes.ToUpper(r.Value)) {
			t.Fatalf("record %q not upper-cased", r.Value)
		}
	}
	a.want(200, "DELETE", "/v1/tenants/"+tenant+"/pipelines/p1", acme.Token, nil, nil)
	a.want(404, "GET", "/v1/tenants/"+tenant+"/pipelines/p1", acme.Token, nil, nil)

	// The records/s and state quotas, on a tenant of their own.
	var lim struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	a.want(201, "POST", "/v1/tenants", admin, []byte(`{"name":"limited","connectors":["generator","capture"],"quotas":{"pipelines":5,"instances":5,"memory_per_instance":67108864,"cpu_per_batch":"2s","module_bytes":100000000,"modules":5,"records_per_second":500,"state_bytes":20000}}`), &lim)
	cw := guest(t, "wordcount/go")
	a.want(200, "PUT", "/v1/tenants/limited/modules/upper", lim.Token, wasm, nil)
	a.want(200, "PUT", "/v1/tenants/limited/modules/count", lim.Token, cw, nil)
	began := time.Now()
	a.want(200, "PUT", "/v1/tenants/limited/pipelines/slow", lim.Token, []byte("source: {generator: {}}\noperators: [{name: up, wasm: {module: upper}}]\nsink: {capture: {}}\n"), nil)
	a.want(200, "PUT", "/v1/tenants/limited/pipelines/big", lim.Token, []byte("source: {generator: {keys: 1000000}}\noperators: [{name: count, wasm: {module: count, params: {stage: count}}}]\nsink: {capture: {}}\n"), nil)
	deadline = time.Now().Add(30 * time.Second)
	for {
		a.want(200, "GET", "/v1/tenants/limited/pipelines/big", lim.Token, nil, &st)
		if st.State == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline past its state quota runs on: %+v", st)
		}
		time.Sleep(20 * time.Millisecond) // polling the API: there is no event to wait on
	}
	if !strings.Contains(st.Error, "quota") || !strings.Contains(st.Error, "keyed state") {
		t.Fatalf("stopped with %q; want the state quota named", st.Error)
	}
	// State queries and savepoints through the server.
	a.want(200, "PUT", "/v1/tenants/limited/pipelines/counts", lim.Token, []byte("source: {generator: {keys: 10}}\noperators: [{name: count, wasm: {module: count, params: {stage: count}}}]\nsink: {capture: {}}\nstate: {checkpoint_interval: 100ms}\n"), nil)
	for {
		a.want(200, "GET", "/v1/tenants/limited/pipelines/counts", lim.Token, nil, &st)
		if st.Stats.Checkpoints > 0 && st.Stats.RecordsIn > 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the API: there is no event to wait on
	}
	var keys json.RawMessage
	a.want(200, "GET", "/v1/tenants/limited/pipelines/counts/query/v1/state/count/keys", lim.Token, nil, &keys)
	if !strings.Contains(string(keys), "key-") {
		t.Fatalf("state keys: %s", keys)
	}
	a.want(403, "GET", "/v1/tenants/limited/pipelines/counts/query/v1/state/count/keys", acme.Token, nil, nil)
	var sp json.RawMessage
	a.want(201, "POST", "/v1/tenants/limited/pipelines/counts/query/v1/savepoints", lim.Token, nil, &sp)
	if !strings.Contains(string(sp), filepath.Join(dir, "tenants", "limited")) {
		t.Fatalf("savepoint %s: not under the tenant's directory", sp)
	}
	if got := a.call("POST", "/v1/tenants/limited/pipelines/counts/query/v1/savepoints", lim.Token, []byte(`{"dir": "/tmp/elsewhere"}`), nil); got < 400 {
		t.Fatal("a savepoint outside the tenant's directory was taken")
	}
	a.want(422, "PUT", "/v1/tenants/limited/pipelines/sp", lim.Token, []byte("source: {generator: {}}\nsink: {capture: {}}\nstate: {savepoint_dir: /tmp}\n"), nil)

	// Past the bucket's first second's worth, the rate holds.
	for {
		a.want(200, "GET", "/v1/tenants/limited/pipelines/slow", lim.Token, nil, &st)
		if st.Stats.RecordsIn > 1500 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the API: there is no event to wait on
	}
	if max := 500*(time.Since(began).Seconds()+1) + 1000; st.State != "running" || float64(st.Stats.RecordsIn) > max || st.Stats.RecordsIn == 0 {
		t.Fatalf("the pipeline under 500 records/s read %d in %v (at most %.0f): %+v", st.Stats.RecordsIn, time.Since(began), max, st)
	}

	for _, tok := range []string{admin, acme.Token, globex.Token, lim.Token} {
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("a token is in the logs")
		}
	}
	if !strings.Contains(logs.String(), "tenant=acme") {
		t.Fatalf("the logs do not name the tenant:\n%s", logs.String())
	}
}

// TestOpenAPIMatchesRoutes: docs/openapi.yaml lists exactly the routes
// the server serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	for _, r := range serve.Routes() {
		served = append(served, r.Method+" "+strings.ReplaceAll(r.Path, "...}", "}"))
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("docs/openapi.yaml lists\n  %s\nthe server serves\n  %s", strings.Join(documented, "\n  "), strings.Join(served, "\n  "))
	}
}

// TestModuleReuploadFreesTheOldFile: uploading other bytes under a
// module's name removes the file of the bytes it replaced (nothing else
// names them), so re-uploads do not pile up on disk.
func TestModuleReuploadFreesTheOldFile(t *testing.T) {
	ts := newTestServer(t)
	wasm := guest(t, "uppercase/go")
	var tok struct {
		Token string `json:"token"`
	}
	ts.want(201, "POST", "/v1/tenants", admin, []byte(`{"name":"acme"}`), &tok)
	files := func() int {
		ms, _ := filepath.Glob(filepath.Join(ts.dir, "tenants", "acme", "modules", "*.wasm"))
		return len(ms)
	}
	for i := range 5 {
		ts.want(200, "PUT", "/v1/tenants/acme/modules/upper", tok.Token, append(slices.Clone(wasm), 0, 3, 1, 'v', byte('0'+i)), nil)
	}
	if n := files(); n != 1 {
		t.Fatalf("%d module files after 5 uploads under one name, want 1", n)
	}
	ts.want(200, "PUT", "/v1/tenants/acme/modules/other", tok.Token, wasm, nil)
	if n := files(); n != 2 {
		t.Fatalf("%d module files for 2 names, want 2", n)
	}
}
