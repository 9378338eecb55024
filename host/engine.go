// Package host runs wasmstream operator modules with wazero.
//
// An Engine owns one wazero runtime with an on-disk compilation cache and
// the host modules every guest imports (WASI preview 1 and "wasmstream").
// Engine.Load compiles a module once per content digest and checks it
// against the ABI (abi/SPEC.md); Module.Instantiate creates an Instance with
// its own memory limit and per-call deadline; Instance.Process runs one
// batch. A trap, an overrun deadline, a memory limit hit or bad output comes
// back as a *GuestError naming pipeline, operator, module, function and
// cause, and marks the instance broken: Operator, the runtime adapter,
// replaces it before the next batch.
//
// Engine and Module are safe for concurrent use; an Instance is not.
package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// EngineOption configures NewEngine.
type EngineOption func(*engineConfig)

type engineConfig struct {
	cacheDir     string
	noCache      bool
	logger       *slog.Logger
	loadDeadline time.Duration
}

// WithLoadDeadline bounds each call Load and Compile make into a new module
// to read its ABI version (its start function and _initialize included).
// The default is 10s.
func WithLoadDeadline(d time.Duration) EngineOption {
	return func(c *engineConfig) { c.loadDeadline = d }
}

// WithCacheDir sets the directory of wazero's compilation cache. The default
// is wasmstream/wazero under the user's cache directory.
func WithCacheDir(dir string) EngineOption { return func(c *engineConfig) { c.cacheDir = dir } }

// WithoutCache disables the on-disk compilation cache.
func WithoutCache() EngineOption { return func(c *engineConfig) { c.noCache = true } }

// WithLogger sets the logger guest log calls and guest stdout/stderr go to.
func WithLogger(l *slog.Logger) EngineOption { return func(c *engineConfig) { c.logger = l } }

// Engine compiles and runs guest modules.
type Engine struct {
	rt           wazero.Runtime
	cache        wazero.CompilationCache
	logger       *slog.Logger
	loadDeadline time.Duration

	mu      sync.Mutex
	modules map[string]*Module // by digest
}

// NewEngine creates an engine. Close it to release compiled code.
func NewEngine(ctx context.Context, opts ...EngineOption) (*Engine, error) {
	cfg := engineConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.loadDeadline <= 0 {
		cfg.loadDeadline = 10 * time.Second
	}
	// No WithCloseOnContextDone: deadlines come from the checks instrument
	// adds, which cost a fraction of wazero's (see instrument.go).
	rc := wazero.NewRuntimeConfig()
	var cache wazero.CompilationCache
	if !cfg.noCache {
		dir := cfg.cacheDir
		if dir == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				base = os.TempDir()
			}
			dir = filepath.Join(base, "wasmstream", "wazero")
		}
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			return nil, fmt.Errorf("opening compilation cache %s: %w", dir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &Engine{rt: rt, cache: cache, logger: cfg.logger, loadDeadline: cfg.loadDeadline, modules: map[string]*Module{}}, nil
}

// Close releases the runtime and every module compiled by it. Instances
// must be closed first.
func (e *Engine) Close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	if e.cache != nil {
		if cerr := e.cache.Close(ctx); err == nil {
			err = cerr
		}
	}
	return err
}

// Load reads and compiles the module at path (see Compile).
func (e *Engine) Load(ctx context.Context, path string) (*Module, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading module: %w", err)
	}
	return e.Compile(ctx, path, b)
}

// Compile compiles wasm, or returns the module already compiled from the
// same bytes, and checks its exports and imports against the ABI. name is
// used in errors and logs.
func (e *Engine) Compile(ctx context.Context, name string, wasm []byte) (*Module, error) {
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	e.mu.Lock()
	defer e.mu.Unlock()
	if m, ok := e.modules[digest]; ok {
		return m.withName(name), nil
	}
	ins, err := instrument(wasm)
	if err != nil {
		return nil, &ModuleError{Module: name, Err: fmt.Errorf("reading: %w", err)}
	}
	cm, err := e.rt.CompileModule(ctx, ins.wasm)
	if err != nil {
		return nil, &ModuleError{Module: name, Err: fmt.Errorf("compiling: %w", err)}
	}
	m := &Module{engine: e, name: name, digest: digest, compiled: cm, size: len(wasm), hasStart: ins.hasStart}
	m.info = describe(cm)
	m.info.Language, m.info.LanguageFrom = guessLanguage(wasm) // the export, if any, overrides
	m.info.Size = len(wasm)
	if err := m.check(ctx); err != nil {
		cm.Close(ctx)
		return nil, err
	}
	e.modules[digest] = m
	return m, nil
}
