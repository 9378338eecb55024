package asyncio_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/asyncio"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

type echoed struct {
	Method string            `json:"method"`
	URI    string            `json:"uri"`
	Header map[string]string `json:"header"`
	Body   string            `json:"body"`
}

// echoServer answers /api/... with what it received, and serves the
// special paths the tests use.
func echoServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e := echoed{Method: r.Method, URI: r.RequestURI, Header: map[string]string{}, Body: string(b)}
		for _, k := range []string{"X-Token", "X-Trace", "Content-Type"} {
			if v := r.Header.Get(k); v != "" {
				e.Header[k] = v
			}
		}
		json.NewEncoder(w).Encode(e)
	})
	mux.HandleFunc("/api/missing", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such user", http.StatusNotFound)
	})
	mux.HandleFunc("/api/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	mux.HandleFunc("/api/down", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/api/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
	})
	mux.HandleFunc("/api/big", func(w http.ResponseWriter, r *http.Request) {
		n := 1024
		if r.URL.Query().Get("chunked") != "" {
			// No Content-Length: the bound is found while reading.
			w.Write([]byte(strings.Repeat("x", 512)))
			w.(http.Flusher).Flush()
			w.Write([]byte(strings.Repeat("x", n+1-512)))
			return
		}
		if r.URL.Query().Get("over") != "" {
			n++
		}
		w.Write([]byte(strings.Repeat("x", n)))
	})
	mux.HandleFunc("/api/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func newHTTP(t *testing.T, settings string) *asyncio.HTTP {
	t.Helper()
	target, err := asyncio.NewHTTP(decode[asyncio.HTTPConfig](t, settings))
	if err != nil {
		t.Fatalf("NewHTTP: %v", err)
	}
	open(t, target)
	return target
}

func TestHTTPConfig(t *testing.T) {
	if err := parseTargets(t, "{users: {http: {url: 'https://api.example.com/v1', methods: [get, POST]}}}"); err != nil {
		t.Fatalf("a valid http target: %v", err)
	}
	err := parseTargets(t, "{users: {http: {methods: []}}, b: {http: {url: 'ftp://x/'}}, c: {http: {url: 'http:///p'}}, d: {http: {url: 'http://h/?q=1', max_body: 0}}}")
	connectortest.CheckProblems(t, err,
		"operators[0].probe.async.targets.b.http.url: \"ftp://x/\": want an http or https URL",
		"operators[0].probe.async.targets.c.http.url: \"http:///p\" has no host",
		"operators[0].probe.async.targets.d.http.max_body: must be at least 1 byte",
		"operators[0].probe.async.targets.d.http.url: \"http://h/?q=1\" has a query or fragment",
		"operators[0].probe.async.targets.users.http.methods: must list at least one method",
		"operators[0].probe.async.targets.users.http.url: ",
	)
	cfg := decode[asyncio.HTTPConfig](t, "{url: 'http://h/'}")
	if len(cfg.Methods) != 1 || cfg.Methods[0] != "GET" || cfg.MaxBody != 64<<20 {
		t.Errorf("defaults: methods %v, max_body %v; want [GET], 64MiB", cfg.Methods, cfg.MaxBody)
	}
}

func TestHTTPCheck(t *testing.T) {
	target, err := asyncio.NewHTTP(decode[asyncio.HTTPConfig](t, "{url: 'http://127.0.0.1:1/api', methods: [GET, post], headers: {X-Token: secret}}"))
	if err != nil {
		t.Fatal(err)
	}
	runChecks(t, target, []checkCase{
		{"no fields: GET of the URL", map[string]any{}, ""},
		{"get", map[string]any{"method": "get", "path": "/users/7?fields=name"}, ""},
		{"post with all", map[string]any{"method": []byte("POST"), "path": "/u", "headers": map[string]any{"X-Trace": "1", "Content-Type": []byte("application/json")}, "body": []byte("{}")}, ""},
		{"str body", map[string]any{"method": "POST", "body": "text"}, ""},
		{"query only", map[string]any{"path": "?q=1"}, ""},
		{"method not allowed", map[string]any{"method": "DELETE"}, "method DELETE is not among the methods the target allows (GET, post)"},
		{"method type", map[string]any{"method": int64(1)}, "method must be a str, got int"},
		{"relative path", map[string]any{"path": "users"}, "must start with /"},
		{"host in path", map[string]any{"path": "//evil.example/x"}, "must not start with //"},
		{"scheme in path", map[string]any{"path": "http://evil.example/"}, "must start with /"},
		{"dot dot", map[string]any{"path": "/a/../../admin"}, `has a ".." segment`},
		{"escaped dot dot", map[string]any{"path": "/a/%2e%2E/admin"}, `has a ".." segment`},
		{"fragment", map[string]any{"path": "/a#b"}, "holds '#'"},
		{"space", map[string]any{"path": "/a b"}, "holds ' '"},
		{"bad escape", map[string]any{"path": "/a%zz"}, "invalid URL escape"},
		{"path type", map[string]any{"path": []any{}}, "path must be a str, got array"},
		{"headers type", map[string]any{"headers": []any{"a"}}, "headers must be a map of str, got array"},
		{"header value type", map[string]any{"headers": map[string]any{"X-A": int64(1)}}, `header "X-A" must be a str, got int`},
		{"header name", map[string]any{"headers": map[string]any{"X A": "1"}}, "not a valid header name"},
		{"header value", map[string]any{"headers": map[string]any{"X-A": "1\r\nX-B: 2"}}, "control character"},
		{"reserved header", map[string]any{"headers": map[string]any{"host": "evil"}}, "Host is set by the client"},
		{"target's header", map[string]any{"headers": map[string]any{"x-token": "mine"}}, "X-Token is set by the target"},
		{"body type", map[string]any{"body": map[string]any{}}, "body must be a bin, got map"},
		{"unknown key", map[string]any{"url": "http://evil/"}, `unknown key "url" (this target takes method, path, headers, body)`},
	})
}

func TestHTTPDo(t *testing.T) {
	srv := echoServer(t)
	target := newHTTP(t, "{url: '"+srv.URL+"/api/', methods: [GET, POST], headers: {X-Token: s3cret}}")

	resp := mustDo(t, target, map[string]any{"method": "post", "path": "/users/7?full=1", "headers": map[string]any{"X-Trace": "abc", "Content-Type": "application/json"}, "body": []byte(`{"a":1}`)})
	want, _ := json.Marshal(echoed{Method: "POST", URI: "/api/users/7?full=1", Header: map[string]string{"X-Token": "s3cret", "X-Trace": "abc", "Content-Type": "application/json"}, Body: `{"a":1}`})
	if resp.Code != 200 || string(resp.Body) != string(want)+"\n" || resp.RetryAfter != 0 {
		t.Errorf("POST: code %d body %s retry-after %v; want 200 %s", resp.Code, resp.Body, resp.RetryAfter, want)
	}

	resp = mustDo(t, target, map[string]any{})
	want, _ = json.Marshal(echoed{Method: "GET", URI: "/api/", Header: map[string]string{"X-Token": "s3cret"}})
	if resp.Code != 200 || string(resp.Body) != string(want)+"\n" {
		t.Errorf("GET of the URL: code %d body %s; want 200 %s", resp.Code, resp.Body, want)
	}

	resp = mustDo(t, target, map[string]any{"path": "/missing"})
	if resp.Code != 404 || string(resp.Body) != "no such user\n" || resp.RetryAfter != 0 {
		t.Errorf("404: code %d body %q retry-after %v", resp.Code, resp.Body, resp.RetryAfter)
	}
	resp = mustDo(t, target, map[string]any{"path": "/busy"})
	if resp.Code != 429 || resp.Body != nil || resp.RetryAfter != 7*time.Second {
		t.Errorf("429: code %d body %q retry-after %v; want 429, nil, 7s", resp.Code, resp.Body, resp.RetryAfter)
	}
	resp = mustDo(t, target, map[string]any{"path": "/down"})
	if resp.Code != 503 || resp.RetryAfter < 58*time.Minute || resp.RetryAfter > time.Hour {
		t.Errorf("503: code %d retry-after %v; want 503 and about an hour", resp.Code, resp.RetryAfter)
	}
	resp = mustDo(t, target, map[string]any{"path": "/moved"})
	if resp.Code != 302 {
		t.Errorf("redirect: code %d, want 302 (not followed)", resp.Code)
	}
	if _, ok := any(target).(runtime.AsyncStatusTarget); !ok {
		t.Error("the http target's codes are not statuses to the runtime")
	}
}

func TestHTTPMaxBody(t *testing.T) {
	srv := echoServer(t)
	target := newHTTP(t, "{url: '"+srv.URL+"/api', max_body: 1KiB}")
	resp := mustDo(t, target, map[string]any{"path": "/big"})
	if resp.Code != 200 || len(resp.Body) != 1024 {
		t.Errorf("a body of max_body: code %d, %d bytes", resp.Code, len(resp.Body))
	}
	for _, q := range []string{"over", "chunked"} {
		_, err := do(t, target, map[string]any{"path": "/big?" + q + "=1"})
		if err == nil || !strings.Contains(err.Error(), "more than max_body (1KiB)") || !errors.Is(err, runtime.ErrRejected) {
			t.Errorf("a body over max_body (%s): %v; want a rejection naming max_body", q, err)
		}
	}
}

func TestHTTPTimeout(t *testing.T) {
	srv := echoServer(t)
	target := newHTTP(t, "{url: '"+srv.URL+"/api'}")
	req := &runtime.AsyncRequest{Target: "t", Fields: map[string]any{"path": "/slow"}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := target.Do(ctx, req)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, runtime.ErrRejected) {
		t.Errorf("a request past its deadline: %v; want a deadline error, retried", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a request past its 100ms deadline returned after %v", d)
	}
	checkExpired(t, target, map[string]any{"path": "/users"})
}

func TestHTTPConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	target := newHTTP(t, "{url: 'http://"+addr+"/api'}")
	_, err = do(t, target, map[string]any{"path": "/users"})
	if err == nil || errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), "connect") {
		t.Errorf("a refused connection: %v; want a plain error (retried)", err)
	}
}
