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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// MaxModuleSize caps the size of a module file or of the bytes given to
// Compile: 256 MiB, several times the largest guest any toolchain here
// builds.
const MaxModuleSize = 256 << 20

// coreFeatures are the WebAssembly features modules may use: WebAssembly
// 2.0 (multi-value, bulk memory, reference types, SIMD, non-trapping
// conversions, sign extension). Tail calls and threads are not in it;
// instrument also refuses tail calls.
const coreFeatures = api.CoreFeaturesV2

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
	validator    wazero.Runtime // compiles original bytes, to validate them
	cache        wazero.CompilationCache
	logger       *slog.Logger
	loadDeadline time.Duration

	mu      sync.Mutex
	modules map[string]*Module // by cache key (moduleKey)
	refs    map[string]int     // Compile calls not yet released, by cache key
}

// CompileOption configures Compile and Load.
type CompileOption func(*compileConfig)

type compileConfig struct{ noPreemption bool }

// WithPreemption sets whether the module is rewritten so that a call can be
// stopped at its deadline (the default, true; see instrument.go). With
// false the module is compiled as the guest built it: nothing stops a call
// while it runs (a call past its deadline fails only once it returns, see
// Instance), a guest in an endless loop hangs its caller and, compiled
// code having no safe point, holds up every stop-the-world pause of Go's
// garbage collector and so the whole process; recursion is bounded only by
// wazero's stack limit, table growth not at all, and the start function
// runs during instantiation. The memory limit still applies. It is for
// trusted operators only.
func WithPreemption(on bool) CompileOption {
	return func(c *compileConfig) { c.noPreemption = !on }
}

// moduleKey is the engine's cache key of a module: the same bytes compiled
// with and without preemption are two compiled modules.
func moduleKey(digest string, preempt bool) string {
	if preempt {
		return digest
	}
	return digest + "/unpreempted"
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
	rc := wazero.NewRuntimeConfig().WithCoreFeatures(coreFeatures)
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
	if err := instantiateStackModule(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	// Validation runs the same checks in every wazero engine; the
	// interpreter's compilation costs a fraction of the compiler's.
	validator := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(coreFeatures))
	return &Engine{rt: rt, validator: validator, cache: cache, logger: cfg.logger, loadDeadline: cfg.loadDeadline, modules: map[string]*Module{}, refs: map[string]int{}}, nil
}

// Close releases the runtime and every module compiled by it. Instances
// must be closed first.
func (e *Engine) Close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	if verr := e.validator.Close(ctx); err == nil {
		err = verr
	}
	if e.cache != nil {
		if cerr := e.cache.Close(ctx); err == nil {
			err = cerr
		}
	}
	return err
}

// Load reads and compiles the module at path (see Compile). The path must
// name a regular file (or a link to one) of at most MaxModuleSize bytes.
func (e *Engine) Load(ctx context.Context, path string, opts ...CompileOption) (*Module, error) {
	b, err := readModule(path)
	if err != nil {
		return nil, &ModuleError{Module: path, Err: err}
	}
	return e.Compile(ctx, path, b, opts...)
}

// readModule reads a module file. A FIFO, a device or a directory is
// refused before it is read from, and open does not wait for a FIFO's
// writer (O_NONBLOCK), so neither a pipe nor /dev/zero can hang or exhaust
// the process; the read stops one byte past MaxModuleSize, so neither can
// a file that grows while it is read.
func readModule(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading module: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading module: it is %s, not a regular file", fileKind(fi.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading module: %w", err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("reading module: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading module: it is %s, not a regular file", fileKind(fi.Mode()))
	}
	if fi.Size() > MaxModuleSize {
		return nil, fmt.Errorf("reading module: %d bytes, more than the %d the host loads", fi.Size(), MaxModuleSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading module: %w", err)
	}
	if len(b) > MaxModuleSize {
		return nil, fmt.Errorf("reading module: it grew past %d bytes, the most the host loads", MaxModuleSize)
	}
	if isWAT(path, b) {
		return nil, errors.New("reading module: this is WebAssembly text: assemble it with wat2wasm (wat2wasm in.wat -o out.wasm) and give the .wasm file")
	}
	return b, nil
}

// isWAT reports whether b, which the host was given as a module, is
// WebAssembly text rather than binary: it lacks the binary magic and is
// named .wat or starts (after blanks) with "(" or a ";;" comment.
func isWAT(path string, b []byte) bool {
	if bytes.HasPrefix(b, []byte("\x00asm")) {
		return false
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	return strings.HasSuffix(path, ".wat") || bytes.HasPrefix(t, []byte("(")) || bytes.HasPrefix(t, []byte(";;"))
}

// fileKind names what a non-regular file is.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

// Compile compiles wasm, or returns the module already compiled from the
// same bytes in the same mode (WithPreemption), and checks its exports and
// imports against the ABI. name is used in errors and logs.
//
// wazero validates wasm as it is, and only bytes it accepts are rewritten
// (instrument.go) and compiled: the rewrite never makes an invalid module
// valid, and a module is refused with wazero's own reason. Without
// preemption the validated bytes are compiled as they are.
func (e *Engine) Compile(ctx context.Context, name string, wasm []byte, opts ...CompileOption) (*Module, error) {
	var cc compileConfig
	for _, o := range opts {
		o(&cc)
	}
	preempt := !cc.noPreemption
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	key := moduleKey(digest, preempt)
	e.mu.Lock()
	defer e.mu.Unlock()
	if m, ok := e.modules[key]; ok {
		e.refs[key]++
		return m.withName(name), nil
	}
	if len(wasm) > MaxModuleSize {
		return nil, &ModuleError{Module: name, Err: fmt.Errorf("reading: %d bytes, more than the %d the host loads", len(wasm), MaxModuleSize)}
	}
	if _, err := splitSections(wasm); err != nil {
		return nil, &ModuleError{Module: name, Err: fmt.Errorf("reading: %w", err)}
	}
	vm, err := e.validator.CompileModule(ctx, wasm)
	if err != nil {
		return nil, &ModuleError{Module: name, Err: fmt.Errorf("validating: %w", err)}
	}
	vm.Close(ctx)
	code, hasStart := wasm, false
	if preempt {
		ins, err := instrument(wasm)
		if err != nil {
			return nil, &ModuleError{Module: name, Err: fmt.Errorf("rewriting: %w", err)}
		}
		code, hasStart = ins.wasm, ins.hasStart
	}
	cm, err := e.rt.CompileModule(ctx, code)
	if err != nil {
		if preempt {
			return nil, &ModuleError{Module: name, Err: fmt.Errorf("compiling the rewritten module: %w", err)}
		}
		return nil, &ModuleError{Module: name, Err: fmt.Errorf("compiling: %w", err)}
	}
	m := &Module{engine: e, name: name, digest: digest, key: key, compiled: cm, size: len(wasm), hasStart: hasStart, preempt: preempt}
	m.info = describe(cm, preempt)
	m.info.Language, m.info.LanguageFrom = guessLanguage(wasm) // the export, if any, overrides
	m.info.Size = len(wasm)
	if err := m.check(ctx); err != nil {
		cm.Close(ctx)
		return nil, err
	}
	e.modules[key] = m
	e.refs[key] = 1
	return m, nil
}

// Release gives back a module Load or Compile returned: once every one
// returned for the same bytes in the same mode is released, its compiled
// code is freed (instances still running from it are not affected) and the
// next Load compiles it again; the same bytes compiled in the other mode
// are counted apart. A module swapped out of a running pipeline is
// released this way. Releasing a module twice is a bug the count cannot
// catch; the host releases each factory's module once.
func (m *Module) Release(ctx context.Context) {
	e := m.engine
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.refs[m.key]
	if !ok {
		return
	}
	if n > 1 {
		e.refs[m.key] = n - 1
		return
	}
	delete(e.refs, m.key)
	if c := e.modules[m.key]; c != nil {
		delete(e.modules, m.key)
		c.compiled.Close(ctx)
	}
}

// Loaded reports how many distinct modules the engine holds compiled (the
// same bytes with and without preemption count twice).
func (e *Engine) Loaded() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.modules)
}
