package serve_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/internal/serve"
)

// chromium returns Debian's Chromium, which the test command installs; a
// plain go test without it skips.
func chromium(t *testing.T) string {
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (the test command installs it)")
		}
		t.Skip("chromium is not installed")
	}
	return path
}

// render loads url in headless Chromium, lets its scripts run for a few
// seconds, and returns the DOM. On a failed check the test takes a
// screenshot and names it in its output.
func render(t *testing.T, bin, url string) (dom string, shot func()) {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=15000"}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", url)...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return string(out), func() {
		png := filepath.Join(os.TempDir(), "wasmstream-dashboard-"+strings.ReplaceAll(t.Name(), "/", "-")+".png")
		exec.Command(bin, append(args, "--window-size=1280,1800", "--screenshot="+png, url)...).Run()
		t.Logf("screenshot of the page: %s", png)
	}
}

// TestDashboard loads the dashboard in headless Chromium against a
// running server: tenants, pipelines with their graph, live rate and
// operator figures, module versions and the swap history, and the state
// browser, as an admin and as a tenant.
func TestDashboard(t *testing.T) {
	bin := chromium(t)
	ts := newTestServer(t)
	a := ts.api
	upper, count := guest(t, "uppercase/go"), guest(t, "wordcount/go")
	var acme struct {
		Token string `json:"token"`
	}
	a.want(201, "POST", "/v1/tenants", admin, []byte(`{"name":"acme","connectors":["generator","capture"]}`), &acme)
	a.want(201, "POST", "/v1/tenants", admin, []byte(`{"name":"globex"}`), nil)
	a.want(200, "PUT", "/v1/tenants/acme/modules/upper", acme.Token, upper, nil)
	a.want(200, "PUT", "/v1/tenants/acme/modules/upper-v2", acme.Token, append(slices.Clone(upper), 0, 3, 1, 'v', '2'), nil)
	a.want(200, "PUT", "/v1/tenants/acme/modules/count", acme.Token, count, nil)
	a.want(200, "PUT", "/v1/tenants/acme/pipelines/orders", acme.Token, []byte("source: {generator: {rate: 1000}}\noperators: [{name: up, wasm: {module: upper}}]\nsink: {capture: {}}\n"), nil)
	a.want(200, "PUT", "/v1/tenants/acme/pipelines/counts", acme.Token, []byte("source: {generator: {keys: 5, rate: 1000}}\noperators: [{name: count, wasm: {module: count, params: {stage: count}}}]\nsink: {capture: {}}\nstate: {checkpoint_interval: 100ms}\n"), nil)
	var st serve.PipelineStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		a.want(200, "GET", "/v1/tenants/acme/pipelines/counts", acme.Token, nil, &st)
		if st.Stats.Checkpoints > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the API: there is no event to wait on
	}
	a.want(200, "POST", "/v1/tenants/acme/pipelines/orders/swap", acme.Token, []byte(`{"operator":"up","module":"upper-v2"}`), nil)

	dom, shot := render(t, bin, a.url+"/dashboard#token="+admin+"&browse=counts/count")
	for _, want := range []string{
		`data-tenant="acme"`, `data-tenant="globex"`, // every tenant, for the admin
		`data-pipeline="orders"`, `data-state="running"`, // pipelines and their state
		`up (upper-v2 `,         // the graph shows the module in force
		`data-swap="upper-v2"`,  // the swap history
		`rec/s`,                 // a live rate
		`data-operator="count"`, // operator figures
		`data-statekeys="5"`,    // the state browser: five keys
		`admin · 2 tenants`,
	} {
		if !strings.Contains(dom, want) {
			shot()
			i := strings.Index(dom, `data-pipeline="counts"`)
			t.Fatalf("the dashboard lacks %s (the counts pipeline: %.1500s)", want, dom[max(i, 0):])
		}
	}
	if strings.Contains(dom, admin) {
		t.Fatal("the page shows the token")
	}

	// A tenant sees its own tenant only.
	dom, shot = render(t, bin, a.url+"/dashboard#tenant=acme&token="+acme.Token)
	if !strings.Contains(dom, `data-tenant="acme"`) || strings.Contains(dom, `data-tenant="globex"`) || !strings.Contains(dom, "tenant acme") {
		shot()
		t.Fatal("the tenant's dashboard does not show its tenant alone")
	}
	// Another tenant's name with this token is refused, and the page says so.
	dom, shot = render(t, bin, a.url+"/dashboard#tenant=globex&token="+acme.Token)
	if !strings.Contains(dom, "not allowed to act for tenant globex") {
		shot()
		t.Fatal("the page does not say the token is refused")
	}
}
