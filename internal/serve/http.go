package serve

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Route is one API route, as docs/openapi.yaml lists it.
type Route struct {
	Method, Path string
	// Admin: only the admin token may call it; otherwise the tenant's
	// token (of the {tenant} in the path) or the admin's.
	Admin   bool
	handler func(s *Server, w http.ResponseWriter, r *http.Request) (any, error)
}

// Routes lists the API.
func Routes() []Route {
	return []Route{
		{"GET", "/v1/health", false, func(s *Server, w http.ResponseWriter, r *http.Request) (any, error) {
			return map[string]string{"status": "ok"}, nil
		}},
		{"POST", "/v1/tenants", true, (*Server).hCreateTenant},
		{"GET", "/v1/tenants", true, (*Server).hListTenants},
		{"GET", "/v1/tenants/{tenant}", false, (*Server).hTenant},
		{"PUT", "/v1/tenants/{tenant}/modules/{module}", false, (*Server).hUpload},
		{"GET", "/v1/tenants/{tenant}/modules", false, (*Server).hModules},
		{"PUT", "/v1/tenants/{tenant}/pipelines/{pipeline}", false, (*Server).hDeploy},
		{"GET", "/v1/tenants/{tenant}/pipelines", false, (*Server).hPipelines},
		{"GET", "/v1/tenants/{tenant}/pipelines/{pipeline}", false, (*Server).hStatus},
		{"POST", "/v1/tenants/{tenant}/pipelines/{pipeline}/stop", false, (*Server).hStop},
		{"DELETE", "/v1/tenants/{tenant}/pipelines/{pipeline}", false, (*Server).hDelete},
		{"POST", "/v1/tenants/{tenant}/pipelines/{pipeline}/swap", false, (*Server).hSwap},
		{"GET", "/v1/tenants/{tenant}/pipelines/{pipeline}/query/{rest...}", false, (*Server).hQuery},
		{"POST", "/v1/tenants/{tenant}/pipelines/{pipeline}/query/{rest...}", false, (*Server).hQuery},
		{"GET", "/dashboard", false, func(s *Server, w http.ResponseWriter, r *http.Request) (any, error) {
			// The page holds no data: it reads the API with the token the
			// user gives it.
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
			w.Header().Set("X-Frame-Options", "DENY")
			w.Write(dashboardHTML)
			return written{}, nil
		}},
		{"GET", "/metrics", true, func(s *Server, w http.ResponseWriter, r *http.Request) (any, error) {
			s.metrics.ServeHTTP(w, r)
			return written{}, nil
		}},
	}
}

// Handler returns the API's HTTP handler. Tokens are read from the
// Authorization header and never logged.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		mux.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			began := time.Now()
			status := http.StatusOK
			defer func() {
				s.log.Debug("api", "method", r.Method, "path", r.URL.Path, "status", status, "took", time.Since(began))
			}()
			if !public(rt.Path) {
				tenant := ""
				if !rt.Admin {
					tenant = r.PathValue("tenant")
				}
				if err := s.authorize(bearer(r), tenant); err != nil {
					status = writeError(w, err)
					return
				}
			}
			v, err := rt.handler(s, w, r)
			if err != nil {
				status = writeError(w, err)
				return
			}
			if _, ok := v.(written); ok {
				return
			}
			if r.Method == "POST" && rt.Path == "/v1/tenants" {
				status = http.StatusCreated
			}
			writeJSON(w, status, v)
		})
	}
	return mux
}

//go:embed dashboard.html
var dashboardHTML []byte

// public reports the routes that need no token.
func public(path string) bool { return path == "/v1/health" || path == "/dashboard" }

// written is returned by a handler that wrote its response itself.
type written struct{}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) int {
	status := http.StatusInternalServerError
	var e *Error
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		status = e.Status
	case errors.As(err, &mb):
		status = http.StatusRequestEntityTooLarge
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
	return status
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return nil, &Error{Status: 413, Msg: fmt.Sprintf("request body over %d bytes", limit)}
	}
	return b, err
}

// TenantView is a tenant as the API shows it (no token).
type TenantView struct {
	Name       string   `json:"name"`
	Quotas     Quotas   `json:"quotas"`
	Connectors []string `json:"connectors"`
	Hosts      []string `json:"hosts"`
	Trusted    bool     `json:"trusted"`
	Modules    []Module `json:"modules"`
}

func view(t *Tenant) TenantView {
	v := TenantView{Name: t.Name, Quotas: t.Quotas, Connectors: t.Connectors, Hosts: t.Hosts, Trusted: t.Trusted, Modules: []Module{}}
	if v.Hosts == nil {
		v.Hosts = []string{}
	}
	for _, m := range t.Modules {
		v.Modules = append(v.Modules, m)
	}
	sort.Slice(v.Modules, func(i, j int) bool { return v.Modules[i].Name < v.Modules[j].Name })
	return v
}

func (s *Server) hCreateTenant(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := readBody(w, r, 64<<10)
	if err != nil {
		return nil, err
	}
	var req struct {
		Name       string   `json:"name"`
		Quotas     *Quotas  `json:"quotas"`
		Connectors []string `json:"connectors"`
		Hosts      []string `json:"hosts"`
		Trusted    bool     `json:"trusted"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, &Error{Status: 400, Msg: "the body is not a tenant: " + err.Error()}
	}
	t, tok, err := s.CreateTenant(req.Name, req.Quotas, req.Connectors, TenantCaps{Hosts: req.Hosts, Trusted: req.Trusted})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return struct {
		TenantView
		Token string `json:"token"`
	}{view(t), tok}, nil
}

func (s *Server) hListTenants(w http.ResponseWriter, r *http.Request) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []TenantView{}
	for _, t := range s.tenants {
		out = append(out, view(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Server) hTenant(w http.ResponseWriter, r *http.Request) (any, error) {
	t, err := s.tenant(r.PathValue("tenant"))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return view(t), nil
}

func (s *Server) hUpload(w http.ResponseWriter, r *http.Request) (any, error) {
	t, err := s.tenant(r.PathValue("tenant"))
	if err != nil {
		return nil, err
	}
	b, err := readBody(w, r, t.Quotas.ModuleBytes)
	if err != nil {
		return nil, err
	}
	return s.UploadModule(r.Context(), t.Name, r.PathValue("module"), b)
}

func (s *Server) hModules(w http.ResponseWriter, r *http.Request) (any, error) {
	t, err := s.tenant(r.PathValue("tenant"))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return view(t).Modules, nil
}

func (s *Server) hDeploy(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := readBody(w, r, MaxPipelineFile)
	if err != nil {
		return nil, err
	}
	return s.Deploy(r.Context(), r.PathValue("tenant"), r.PathValue("pipeline"), b)
}

func (s *Server) hPipelines(w http.ResponseWriter, r *http.Request) (any, error) {
	if _, err := s.tenant(r.PathValue("tenant")); err != nil {
		return nil, err
	}
	out := s.List(r.PathValue("tenant"))
	if out == nil {
		out = []PipelineStatus{}
	}
	return out, nil
}

func (s *Server) hStatus(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.Status(r.PathValue("tenant"), r.PathValue("pipeline"))
}

func (s *Server) hStop(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.Stop(r.PathValue("tenant"), r.PathValue("pipeline"), time.Minute)
}

func (s *Server) hDelete(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.Delete(r.PathValue("tenant"), r.PathValue("pipeline"), time.Minute); err != nil {
		return nil, err
	}
	return map[string]string{"deleted": r.PathValue("pipeline")}, nil
}

// hQuery hands a request to the pipeline's query server (runtime/query):
// state lookups and listings under query/v1/state/..., query/v1/status,
// and savepoints (POST query/v1/savepoints), which stay under the
// pipeline's data directory.
func (s *Server) hQuery(w http.ResponseWriter, r *http.Request) (any, error) {
	s.mu.Lock()
	d := s.pipelines[key(r.PathValue("tenant"), r.PathValue("pipeline"))]
	s.mu.Unlock()
	if d == nil {
		return nil, &Error{Status: 404, Msg: fmt.Sprintf("tenant %s has no pipeline %q", r.PathValue("tenant"), r.PathValue("pipeline"))}
	}
	if d.query == nil {
		// Listed from its record at a server start, never run since.
		return nil, &Error{Status: 503, Msg: fmt.Sprintf("pipeline %s has not run since the server started: deploy it again to query its state", d.name)}
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + r.PathValue("rest")
	r2.URL.RawPath = ""
	d.query.ServeHTTP(w, r2)
	return written{}, nil
}

func (s *Server) hSwap(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := readBody(w, r, 64<<10)
	if err != nil {
		return nil, err
	}
	var req struct {
		Operator string `json:"operator"`
		Module   string `json:"module"`
		Canary   int    `json:"canary"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, &Error{Status: 400, Msg: "the body is not a swap: " + err.Error()}
	}
	return s.Swap(r.Context(), r.PathValue("tenant"), r.PathValue("pipeline"), req.Operator, req.Module, req.Canary)
}
