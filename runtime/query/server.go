// Package query is the HTTP server for a pipeline's queryable state and its
// admin requests: reads of keyed and operator state, the pipeline's status
// and savepoints. It uses only the standard library's net/http.
//
// # Endpoints
//
//	GET  /v1/state/{operator}/keys/{key}           every name of one key
//	GET  /v1/state/{operator}/keys/{key}/{name}    one value
//	GET  /v1/state/{operator}/keys?prefix=&limit=&cursor=
//	                                               keys by prefix, paginated
//	GET  /v1/state/{operator}/operator             operator-scope state
//	GET  /v1/state/{operator}/operator/{name}      one operator-scope value
//	GET  /v1/status                                pipeline, checkpoints, caches, counters
//	POST /v1/savepoints                            take a savepoint: {"dir": "..."}
//
// Keys and names are arbitrary bytes, percent-encoded in the path. Every
// state read takes ?consistency=live (default: includes what operators
// wrote since the last checkpoint, which a crash may roll back) or
// ?consistency=checkpoint (the last checkpoint: what a restart after a
// crash starts from), and ?as=auto|text|base64|counter|list to say how
// values are decoded. Responses are JSON, or msgpack when the request
// accepts application/msgpack. docs/state.md describes the responses.
//
// # Lifecycle
//
// Start the server before the pipeline's Run: until Run has opened the
// state store, state reads answer 503 with Retry-After, and from then on
// the server answers while the pipeline recovers, replays or runs. Call
// Detach before the store closes (when Run returns), then Close.
package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// Pipeline is what the server reads from. *runtime.Pipeline implements it;
// Stopped wraps a store opened directly while the pipeline is not running.
type Pipeline interface {
	Spec() *runtime.Spec
	Stateful() bool
	Stats() runtime.Stats
	// Store blocks until the state store is open, and returns nil when
	// there is none or ctx ended first.
	Store(ctx context.Context) *state.Store
	// Savepoint takes a checkpoint and copies it to dir.
	Savepoint(ctx context.Context, dir string) (state.Meta, error)
}

// phase is where the store is in its life, as the server sees it.
type phase int

const (
	phaseOpening phase = iota // Run has not opened the store yet
	phaseOpen
	phaseNone    // the pipeline keeps no state, or Run failed before opening it
	phaseStopped // Detach was called: the store is closing or closed
)

func (p phase) String() string {
	return [...]string{"opening", "open", "none", "stopped"}[p]
}

// Server answers queries about one pipeline. It is an http.Handler; Listen
// also serves it on a TCP address. Safe for concurrent use.
type Server struct {
	p        Pipeline
	log      *slog.Logger
	dataDir  string // absolute
	running  bool   // false for a Stopped pipeline
	savepDir string
	mux      *http.ServeMux

	mu    sync.RWMutex // held for reading while a request uses store
	phase phase
	store *state.Store

	ctx    context.Context // cancelled by Detach and Close
	cancel context.CancelFunc
	hs     *http.Server
	addr   net.Addr
	wg     sync.WaitGroup
}

// Option configures New.
type Option func(*Server)

// WithLogger sets the logger for request failures; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithSavepointDir sets the directory under which POST /v1/savepoints
// without a "dir" writes savepoints (default <data_dir>/savepoints).
func WithSavepointDir(dir string) Option { return func(s *Server) { s.savepDir = dir } }

// New returns a server over p and starts waiting for p's store to open.
// Close it when done.
func New(p Pipeline, opts ...Option) *Server {
	s := &Server{p: p, running: true}
	if _, ok := p.(stopped); ok {
		s.running = false
	}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.dataDir = p.Spec().DataDir
	if abs, err := filepath.Abs(s.dataDir); err == nil {
		s.dataDir = abs
	}
	if s.savepDir == "" {
		s.savepDir = filepath.Join(s.dataDir, "savepoints")
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	if !p.Stateful() {
		s.phase = phaseNone
		return s
	}
	if sp, ok := p.(stopped); ok {
		// A stopped pipeline's store is open already: serve it from the
		// first request, not once a goroutine has looked.
		s.store, s.phase = sp.store, phaseOpen
		return s
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		st := p.Store(s.ctx)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.phase != phaseOpening {
			return
		}
		if st == nil {
			if s.ctx.Err() == nil {
				s.phase = phaseNone
			}
			return
		}
		s.store, s.phase = st, phaseOpen
	}()
	return s
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/state/{operator}/keys", s.handleListKeys)
	m.HandleFunc("GET /v1/state/{operator}/keys/{key}", s.handleKey)
	m.HandleFunc("GET /v1/state/{operator}/keys/{key}/{name}", s.handleKeyValue)
	m.HandleFunc("GET /v1/state/{operator}/operator", s.handleListOperator)
	m.HandleFunc("GET /v1/state/{operator}/operator/{name}", s.handleOperatorValue)
	m.HandleFunc("GET /v1/status", s.handleStatus)
	m.HandleFunc("POST /v1/savepoints", s.handleSavepoint)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "no endpoint %s %s (see docs/state.md)", r.Method, r.URL.Path)
	})
	s.mux = m
}

// Listen serves on addr ("host:port"; port 0 picks a free one) in the
// background and returns the address it listens on.
func (s *Server) Listen(addr string) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("starting the query server: %w", err)
	}
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.addr = l.Addr()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("query server stopped", "err", err)
		}
	}()
	return s.addr, nil
}

// Detach stops reads of the store and waits for the reads in progress:
// call it before the store is closed. Later state reads answer 503, and a
// savepoint request still waiting for the pipeline gives up. The status
// endpoint keeps answering.
func (s *Server) Detach() {
	s.cancel()
	s.mu.Lock()
	s.phase, s.store = phaseStopped, nil
	s.mu.Unlock()
}

// Close detaches from the store, stops serving and waits for the server's
// goroutines.
func (s *Server) Close() error {
	s.Detach()
	var err error
	if s.hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err = s.hs.Shutdown(ctx); err != nil {
			err = errors.Join(err, s.hs.Close())
		}
	}
	s.wg.Wait()
	return err
}

// acquire returns the open store, to be released with s.mu.RUnlock, or
// writes the reason there is none and returns nil.
func (s *Server) acquire(w http.ResponseWriter, r *http.Request) *state.Store {
	s.mu.RLock()
	switch s.phase {
	case phaseOpen:
		return s.store
	case phaseOpening:
		s.mu.RUnlock()
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusServiceUnavailable, "the pipeline is opening its state store; retry shortly")
	case phaseStopped:
		s.mu.RUnlock()
		writeError(w, r, http.StatusServiceUnavailable, "the pipeline has stopped")
	default:
		s.mu.RUnlock()
		if s.p.Stateful() {
			writeError(w, r, http.StatusServiceUnavailable, "the pipeline failed before opening its state store")
		} else {
			writeError(w, r, http.StatusNotFound, "pipeline %s keeps no state", s.p.Spec().Name)
		}
	}
	return nil
}
