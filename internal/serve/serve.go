// Package serve is wasmstream's server mode: one long-lived process that
// runs many tenants' pipelines, with a REST API (docs/openapi.yaml) to
// create tenants, upload modules, deploy, stop and inspect pipelines and
// hot-swap their modules.
//
// Each tenant has a token of its own (only its SHA-256 is kept), quotas
// checked when a pipeline is deployed, and capabilities: the connectors
// its pipelines may name. A tenant's pipelines run with the data
// directory the server gives them and may name modules only by the names
// the tenant uploaded them under: no host path reaches a pipeline file.
//
// # Restarts
//
// Each pipeline's deployment is recorded in the data directory
// (tenants/T/deployments/P.json, written durably) when it is deployed,
// stopped, swapped or ends: the pipeline file as the tenant submitted it,
// whether it is meant to run, the module in force per operator after
// swaps (the file itself is kept as submitted) and the swap history.
// Restore, called once after New, brings them back:
//
//   - a pipeline left deployed, neither stopped by a user nor ended
//     cleanly by itself, is deployed again through the checks of Deploy,
//     its keyed state and source positions recovered by the runtime from
//     the last checkpoint in its data directory. One that had failed (a
//     quota stopped it, an operator failed) is restarted too, once per
//     server start, and its status says so (previous_error);
//   - a stopped (or cleanly ended) pipeline is listed as stopped, and
//     still counts against the pipelines quota until deleted;
//   - a pipeline that cannot be restored (its module is gone, its file no
//     longer passes, a quota refuses it, its record does not read) is
//     listed as failed with the reason, and the server starts anyway.
//
// Close is a shutdown, not a stop: it leaves the records saying the
// pipelines are meant to run.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/durable"
	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/query"
)

// Quotas bound what one tenant's pipelines may take.
type Quotas struct {
	// Pipelines is how many pipelines the tenant may keep, running or
	// stopped (until deleted).
	Pipelines int `json:"pipelines"`
	// Instances is how many operator instances (the sum of parallelism)
	// the tenant's running pipelines may have.
	Instances int `json:"instances"`
	// MemoryPerInstance is the largest memory_limit an operator may set
	// (bytes); an operator that sets none gets this.
	MemoryPerInstance int64 `json:"memory_per_instance"`
	// CPUPerBatch is the longest deadline an operator may set (one call
	// into the guest); an operator that sets none gets this.
	CPUPerBatch Duration `json:"cpu_per_batch"`
	// ModuleBytes bounds one uploaded module.
	ModuleBytes int64 `json:"module_bytes"`
	// Modules is how many modules the tenant may keep.
	Modules int `json:"modules"`
	// RecordsPerSecond caps what each of the tenant's pipelines reads
	// from its source (0: no cap); the source is slowed, nothing dropped.
	RecordsPerSecond float64 `json:"records_per_second"`
	// StateBytes bounds one pipeline's keyed state, in memory and on
	// disk (0: no bound); a pipeline past it is stopped with the reason.
	StateBytes int64 `json:"state_bytes"`
	// AsyncInFlight bounds the async requests the tenant's running
	// pipelines may have in flight: the sum of each async operator's
	// async.capacity times its parallelism, checked at deploy.
	AsyncInFlight int `json:"async_in_flight"`
}

// DefaultQuotas are a new tenant's, unless the request sets others.
var DefaultQuotas = Quotas{Pipelines: 10, Instances: 64, MemoryPerInstance: 64 << 20, CPUPerBatch: Duration(2 * time.Second), ModuleBytes: 32 << 20, Modules: 100,
	RecordsPerSecond: 100000, StateBytes: 1 << 30, AsyncInFlight: 1000}

// DefaultConnectors are the connectors a new tenant may use: those that
// touch nothing of the host's (no files, no stdout). Those that reach a
// server (kafka, socket) still need the server among the tenant's hosts.
// Async target kinds are capabilities named "async.KIND" (async.http,
// async.redis, async.sql), granted explicitly.
var DefaultConnectors = []string{"collection", "generator", "kafka", "socket"}

// Duration is a time.Duration written as a string ("2s") in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Tenant is a tenant as the server keeps it.
type Tenant struct {
	Name       string   `json:"name"`
	TokenHash  string   `json:"token_sha256"`
	Quotas     Quotas   `json:"quotas"`
	Connectors []string `json:"connectors"`
	// Hosts are the servers the tenant's connectors and async targets
	// may reach (see HostAllowed); none by default.
	Hosts []string `json:"hosts"`
	// Trusted tenants may run operators with preemption: false (the
	// module as built, which no deadline can stop while it runs).
	Trusted bool              `json:"trusted"`
	Modules map[string]Module `json:"modules"`
	Created time.Time         `json:"created"`
}

// Module is an uploaded module.
type Module struct {
	Name     string    `json:"name"`
	Digest   string    `json:"digest"`
	Size     int       `json:"size"`
	Language string    `json:"language,omitempty"`
	Uploaded time.Time `json:"uploaded"`
}

// Config configures a Server.
type Config struct {
	// DataDir holds tenants.json, the modules and every pipeline's data.
	DataDir string
	// AdminToken authorises tenant management (and everything else).
	AdminToken string
	// Registry returns the components pipelines are built from, with the
	// engine their Wasm operators run on.
	Registry *runtime.Registry
	Engine   *host.Engine
	Logger   *slog.Logger
}

// Server runs tenants' pipelines.
type Server struct {
	cfg Config
	log *slog.Logger

	mu          sync.Mutex
	tenants     map[string]*Tenant
	pipelines   map[string]*deployed // by tenant/name
	breaches    map[string]int64     // quota breaches by tenant
	metrics     http.Handler
	closing     bool // Close has begun: pipelines ending now keep their records
	restoreDone bool // Restore has run
}

// deployed is a running (or ended) pipeline.
type deployed struct {
	tenant, name  string
	spec          string // the pipeline file as deployed
	p             *runtime.Pipeline
	instances     int
	asyncN        int // the async requests it may have in flight
	started       time.Time
	cancel        context.CancelFunc
	done          chan struct{}
	err           error // Run's, once done
	quotaErr      error // why a quota stopped it
	swaps         []SwapRecord
	query         *query.Server // its state queries and savepoints; nil when it never ran (restored stopped, or not restored)
	graph         []GraphNode
	run           bool     // meant to run: see record.Run
	modules       []string // per operator, the module in force (by name)
	restored      bool     // brought back by Restore
	previousError string   // the failure it had before Restore restarted it
}

// SwapRecord is one swap of a pipeline's history.
type SwapRecord struct {
	Operator string    `json:"operator"`
	Module   string    `json:"module"`
	Digest   string    `json:"digest"`
	At       time.Time `json:"at"`
	PauseMs  float64   `json:"pause_ms"`
	Error    string    `json:"error,omitempty"`
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// New opens the server's data directory (creating it) and loads its
// tenants. Restore then brings back the pipelines the directory records.
func New(cfg Config) (*Server, error) {
	if cfg.AdminToken == "" {
		return nil, errors.New("serve: an admin token is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, tenants: map[string]*Tenant{}, pipelines: map[string]*deployed{}, breaches: map[string]int64{}}
	b, err := os.ReadFile(s.tenantsFile())
	if err == nil {
		var ts []*Tenant
		if err := json.Unmarshal(b, &ts); err != nil {
			return nil, fmt.Errorf("serve: reading %s: %w", s.tenantsFile(), err)
		}
		for _, t := range ts {
			s.tenants[t.Name] = t
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	s.metrics = s.metricsHandler()
	return s, nil
}

func (s *Server) tenantsFile() string { return filepath.Join(s.cfg.DataDir, "tenants.json") }

// save writes the tenants; s.mu is held.
func (s *Server) save() error {
	ts := make([]*Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	b, err := json.MarshalIndent(ts, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(s.tenantsFile(), b, 0o600)
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func newToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return "wst_" + hex.EncodeToString(b)
}

// TenantCaps are a new tenant's capabilities beyond its connectors.
type TenantCaps struct {
	// Hosts the tenant's connectors and async targets may reach.
	Hosts []string
	// Trusted allows operators with preemption: false.
	Trusted bool
}

// CreateTenant creates a tenant and returns its token, shown only now.
func (s *Server) CreateTenant(name string, q *Quotas, connectors []string, caps ...TenantCaps) (*Tenant, string, error) {
	var c TenantCaps
	if len(caps) > 0 {
		c = caps[0]
	}
	for _, h := range c.Hosts {
		if err := checkHostPattern(h); err != nil {
			return nil, "", &Error{Status: 400, Msg: err.Error()}
		}
	}
	if !namePattern.MatchString(name) {
		return nil, "", &Error{Status: 400, Msg: fmt.Sprintf("tenant name %q: use lower-case letters, digits and dashes (at most 63)", name)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[name]; ok {
		return nil, "", &Error{Status: 409, Msg: fmt.Sprintf("tenant %q exists", name)}
	}
	quotas := DefaultQuotas
	if q != nil {
		quotas = *q
	}
	if connectors == nil {
		connectors = DefaultConnectors
	}
	tok := newToken()
	t := &Tenant{Name: name, TokenHash: hashToken(tok), Quotas: quotas, Connectors: slices.Clone(connectors), Modules: map[string]Module{}, Created: time.Now().UTC(),
		Hosts: slices.Clone(c.Hosts), Trusted: c.Trusted}
	if t.Hosts == nil {
		t.Hosts = []string{}
	}
	s.tenants[name] = t
	if err := s.save(); err != nil {
		delete(s.tenants, name)
		return nil, "", err
	}
	s.log.Info("tenant created", "tenant", name)
	return t, tok, nil
}

// Error is an API error with its HTTP status.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// authorize returns the tenant a token may act for: "" for the admin
// (every tenant), the tenant's name otherwise.
func (s *Server) authorize(token, tenant string) error {
	if token == "" {
		return &Error{Status: 401, Msg: "no token: send Authorization: Bearer TOKEN"}
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) == 1 {
		return nil
	}
	h := hashToken(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tenants {
		if subtle.ConstantTimeCompare([]byte(h), []byte(t.TokenHash)) == 1 {
			if tenant != "" && t.Name == tenant {
				return nil
			}
			return &Error{Status: 403, Msg: "this token is not allowed to act for " + describe(tenant)}
		}
	}
	return &Error{Status: 401, Msg: "unknown token"}
}

func describe(tenant string) string {
	if tenant == "" {
		return "the server (an admin token is needed)"
	}
	return "tenant " + tenant
}

func (s *Server) tenant(name string) (*Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[name]
	if t == nil {
		return nil, &Error{Status: 404, Msg: fmt.Sprintf("no tenant %q", name)}
	}
	return t, nil
}

func (s *Server) tenantDir(name string) string { return filepath.Join(s.cfg.DataDir, "tenants", name) }

func (s *Server) modulePath(tenant, digest string) string {
	return filepath.Join(s.tenantDir(tenant), "modules", digest+".wasm")
}

// UploadModule stores wasm as tenant's module name after the host compiled
// and ABI-checked it.
func (s *Server) UploadModule(ctx context.Context, tenant, name string, wasm []byte) (Module, error) {
	t, err := s.tenant(tenant)
	if err != nil {
		return Module{}, err
	}
	if !namePattern.MatchString(name) {
		return Module{}, &Error{Status: 400, Msg: fmt.Sprintf("module name %q: use lower-case letters, digits and dashes", name)}
	}
	if int64(len(wasm)) > t.Quotas.ModuleBytes {
		return Module{}, &Error{Status: 413, Msg: fmt.Sprintf("module of %d bytes: tenant %s's quota is %d bytes", len(wasm), tenant, t.Quotas.ModuleBytes)}
	}
	m, err := s.cfg.Engine.Compile(ctx, name, wasm)
	if err != nil {
		return Module{}, &Error{Status: 422, Msg: err.Error()}
	}
	defer m.Release(ctx)
	mod := Module{Name: name, Digest: m.Digest(), Size: len(wasm), Language: m.Info().Language.String(), Uploaded: time.Now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := t.Modules[name]; !ok && len(t.Modules) >= t.Quotas.Modules {
		return Module{}, &Error{Status: 403, Msg: fmt.Sprintf("tenant %s has %d modules, its quota", tenant, t.Quotas.Modules)}
	}
	path := s.modulePath(tenant, mod.Digest)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Module{}, err
	}
	if err := durable.WriteFile(path, wasm, 0o600); err != nil {
		return Module{}, err
	}
	old, replaced := t.Modules[name]
	t.Modules[name] = mod
	if replaced && old.Digest != mod.Digest && !s.digestUsed(t, old.Digest) {
		// Nothing names the old bytes any more: re-uploads under one
		// name do not pile up on disk. (Running pipelines hold their
		// compiled code; the file is read only at deploy and swap.)
		os.Remove(s.modulePath(tenant, old.Digest))
	}
	if err := s.save(); err != nil {
		return Module{}, err
	}
	s.log.Info("module uploaded", "tenant", tenant, "module", name, "digest", mod.Digest)
	return mod, nil
}

func key(tenant, name string) string { return tenant + "/" + name }

// digestUsed reports whether one of t's module names holds digest. s.mu
// is held.
func (s *Server) digestUsed(t *Tenant, digest string) bool {
	for _, m := range t.Modules {
		if m.Digest == digest {
			return true
		}
	}
	return false
}
