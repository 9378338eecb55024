package serve_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/internal/serve"
	"github.com/wasmstream/wasmstream/runtime"
)

// probeTarget is an async target for capability checks only: it names a
// server (addr) and answers nothing, so a pipeline that passes the checks
// runs without reaching anything.
type probeTarget struct {
	Addr   string `yaml:"addr" required:"true"`
	CAFile string `yaml:"ca_file" path:"any"`
}

func (p *probeTarget) Endpoints() []string                     { return []string{p.Addr} }
func (p *probeTarget) Open(context.Context, runtime.Env) error { return nil }
func (p *probeTarget) Close(context.Context) error             { return nil }
func (p *probeTarget) Check(*runtime.AsyncRequest) error       { return nil }
func (p *probeTarget) Do(context.Context, *runtime.AsyncRequest) (runtime.AsyncResponse, error) {
	return runtime.AsyncResponse{}, errors.New("probe targets answer nothing")
}

// TestCapabilities: the servers a tenant's pipelines may reach (hosts),
// the async target kinds it may declare, and preemption: false, which
// only a trusted tenant may set. Each refusal is a 403 naming the setting
// and what the tenant may do.
func TestCapabilities(t *testing.T) {
	ts := newTestServer(t)
	a := ts.api
	wasm := guest(t, "uppercase/go")
	type tenant struct {
		Token   string   `json:"token"`
		Hosts   []string `json:"hosts"`
		Trusted bool     `json:"trusted"`
	}
	var narrow, wide tenant
	a.want(201, "POST", "/v1/tenants", admin, []byte(`{"name":"narrow","connectors":["generator","capture","socket"]}`), &narrow)
	a.want(201, "POST", "/v1/tenants", admin, []byte(`{"name":"wide","trusted":true,"hosts":["127.0.0.1:9","*.svc.internal"],
		"connectors":["generator","capture","socket","async.probe"]}`), &wide)
	if len(narrow.Hosts) != 0 || narrow.Trusted || !wide.Trusted || len(wide.Hosts) != 2 {
		t.Fatalf("tenants as created: %+v %+v", narrow, wide)
	}
	a.want(400, "POST", "/v1/tenants", admin, []byte(`{"name":"bad","hosts":["a b"]}`), nil)
	for _, tok := range []struct{ name, token string }{{"narrow", narrow.Token}, {"wide", wide.Token}} {
		a.want(200, "PUT", "/v1/tenants/"+tok.name+"/modules/upper", tok.token, wasm, nil)
	}
	pipeline := func(op, sink string) []byte {
		return []byte(fmt.Sprintf(`
source: {generator: {rate: 100, keys: 2}}
operators:
  - name: up
    wasm: {module: upper%s}
sink: %s
`, op, sink))
	}
	// An async target: a kind the tenant may not declare, then a server it
	// may not reach, then both allowed.
	asyncWith := func(addr, extra string) []byte {
		return []byte(fmt.Sprintf(`
source: {generator: {rate: 100, keys: 2}}
operators:
  - name: up
    wasm:
      module: upper
      async: {targets: {db: {probe: {addr: %q}}}%s}
sink: {capture: {}}
`, addr, extra))
	}
	async := func(addr string) []byte { return asyncWith(addr, "") }
	cases := []struct {
		tenant, token string
		body          []byte
		status        int
		says          string
	}{
		{"narrow", narrow.Token, pipeline("", "{socket: {address: 127.0.0.1:9}}"), 403, "may not reach 127.0.0.1:9 (its hosts: none)"},
		{"wide", wide.Token, pipeline("", "{socket: {address: 127.0.0.1:10}}"), 403, "may not reach 127.0.0.1:10 (its hosts: 127.0.0.1:9, *.svc.internal)"},
		{"narrow", narrow.Token, pipeline(", preemption: false", "{capture: {}}"), 403, "preemption: false is allowed only for tenants an admin marks trusted"},
		{"wide", wide.Token, pipeline(", preemption: false", "{capture: {}}"), 200, ""},
		{"narrow", narrow.Token, async("db.svc.internal:5432"), 403, `may not declare probe async targets`},
		{"wide", wide.Token, async("db.elsewhere:5432"), 403, "may not reach db.elsewhere:5432"},
		{"wide", wide.Token, async("db.svc.internal:5432"), 200, ""},
		{"wide", wide.Token, []byte(`
source: {generator: {rate: 100, keys: 2}}
operators:
  - name: up
    wasm:
      module: upper
      async: {targets: {db: {probe: {addr: "db.svc.internal:5432", ca_file: /etc/ssl/private/server.key}}}}
sink: {capture: {}}
`), 403, "tenant wide's pipelines may not name host files: operators[0].wasm.async.targets.db.probe.ca_file: /etc/ssl/private/server.key"},
		// The default quota of 1000 requests in flight: 2 instances of 600.
		{"wide", wide.Token, asyncWith("db.svc.internal:5432", ", capacity: 600"), 200, ""},
		{"wide", wide.Token, []byte(`
source: {generator: {rate: 100, keys: 2}}
operators:
  - name: up
    wasm:
      module: upper
      parallelism: 2
      async: {capacity: 600, targets: {db: {probe: {addr: "db.svc.internal:5432"}}}}
sink: {capture: {}}
`), 403, "may have 1200 async requests in flight (async.capacity times parallelism); tenant wide's running pipelines may have 0 of its 1000"},
	}
	for i, c := range cases {
		var e struct {
			Error string `json:"error"`
		}
		name := fmt.Sprintf("p%d", i)
		if got := a.call("PUT", "/v1/tenants/"+c.tenant+"/pipelines/"+name, c.token, c.body, &e); got != c.status || !strings.Contains(e.Error, c.says) {
			t.Errorf("case %d (%s): %d %q, want %d %q", i, c.tenant, got, e.Error, c.status, c.says)
		}
		if c.status == 200 {
			a.want(200, "POST", "/v1/tenants/"+c.tenant+"/pipelines/"+name+"/stop", c.token, nil, nil)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	for _, c := range []struct {
		patterns []string
		ep       string
		ok       bool
	}{
		{nil, "a:1", false},
		{[]string{"*"}, "anything:5", true},
		{[]string{"db.internal"}, "DB.internal:5432", true},
		{[]string{"db.internal:5432"}, "db.internal:5433", false},
		{[]string{"*.svc"}, "a.b.svc:80", true},
		{[]string{"*.svc"}, "svc:80", false},
		{[]string{"*.svc:80"}, "a.svc:81", false},
		{[]string{"10.0.0.7"}, "10.0.0.7:9092", true},
		{[]string{"::1"}, "[::1]:6379", true},
		{[]string{"db.internal"}, "evil-db.internal:1", false},
	} {
		if got := serve.HostAllowed(c.patterns, c.ep); got != c.ok {
			t.Errorf("HostAllowed(%v, %q) = %v", c.patterns, c.ep, got)
		}
	}
}
