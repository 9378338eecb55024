package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/durable"
	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/state"
)

type commonFlags struct {
	quiet    bool
	logLevel string
	dataDir  string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.quiet, "quiet", false, "print no progress, summary or informational logs; only warnings and errors")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.dataDir, "data-dir", "", "override the pipeline's data_dir")
}

func (c *commonFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	if c.quiet && lvl < slog.LevelWarn {
		lvl = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})), nil
}

func newFlagSet(name, args, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: wasmstream %s [flags] %s\n\n%s\n\nFlags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags (which may follow the positional argument) and
// returns the single positional argument.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) (string, int, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", exitOK, false
			}
			return "", exitConfig, false
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		fs.Usage()
		return "", exitConfig, false
	}
	return pos[0], exitOK, true
}

// loadPipeline parses and builds the pipeline file at path.
func loadPipeline(ctx context.Context, path string, c *commonFlags, logger *slog.Logger, opts ...runtime.Option) (*runtime.Pipeline, *host.Engine, error) {
	reg, engine, err := newRegistry(ctx, logger)
	if err != nil {
		return nil, nil, err
	}
	spec, err := runtime.Load(path, reg)
	if err != nil {
		engine.Close(ctx)
		return nil, nil, err
	}
	if c.dataDir != "" {
		spec.DataDir = c.dataDir
	}
	p, err := runtime.Build(spec, append([]runtime.Option{runtime.WithLogger(logger)}, opts...)...)
	if err != nil {
		engine.Close(ctx)
		return nil, nil, err
	}
	return p, engine, nil
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("run", "PIPELINE.yaml", "Runs a pipeline until its source ends. SIGINT or SIGTERM stops reading and drains in-flight records (exit 130); a second signal exits at once (exit 131).\n"+
		"A pipeline with keyed state serves queries and savepoint requests over HTTP while it runs (state.query; the address is written to <data_dir>/query.addr).\n"+
		"With --http ADDR, every pipeline serves GET /v1/status and Prometheus metrics (GET /metrics) on ADDR (written to <data_dir>/http.addr), and a pipeline with keyed state its queries there too.", stderr)
	c.register(fs)
	var progress, fromSavepoint, httpAddr string
	var fromBeginning, watch bool
	var canary int
	fs.BoolVar(&watch, "watch", false, "watch the Wasm operators' module files and hot-swap an operator's module when its file changes: at a checkpoint boundary, keeping its keyed state, losing and repeating no record; a module that does not load, check or start is refused and the running one kept")
	fs.IntVar(&canary, "canary", 0, "with --watch, batches a swapped-in module must process without an error; at a failure before then the previous module takes over again")
	fs.StringVar(&progress, "progress", "auto", "live progress line on stderr: auto (when stderr is a terminal), always, detail (always, with each operator's rate) or never")
	fs.StringVar(&httpAddr, "http", "", "serve status (GET /v1/status) and Prometheus metrics (GET /metrics) on this HOST:PORT (:PORT binds to loopback; port 0 picks a free one), and a stateful pipeline's queries instead of on state.query")
	fs.StringVar(&fromSavepoint, "from-savepoint", "", "start the pipeline's state and source position from this savepoint (or retained checkpoint) directory, replacing the state in the data directory")
	fs.BoolVar(&fromBeginning, "from-beginning", false, "discard the source progress and the keyed state (with its checkpoints) saved in the data directory, saying what it removes, and read from the beginning; refused while the pipeline runs with keyed state")
	path, code, ok := parseArgs(fs, args, stdout)
	if !ok {
		return code
	}
	switch progress {
	case "auto", "always", "detail", "never":
	default:
		fmt.Fprintf(stderr, "wasmstream: --progress %q: want auto, always, detail or never\n", progress)
		return exitConfig
	}
	if fromBeginning && fromSavepoint != "" {
		fmt.Fprintln(stderr, "wasmstream: --from-beginning and --from-savepoint exclude each other: a savepoint says where to start")
		return exitConfig
	}
	var opts []runtime.Option
	if fromSavepoint != "" {
		if _, err := os.Stat(filepath.Join(fromSavepoint, "CHECKPOINT.json")); err != nil {
			fmt.Fprintf(stderr, "wasmstream: --from-savepoint %s: not a savepoint directory (no CHECKPOINT.json)\n", fromSavepoint)
			return exitConfig
		}
		opts = append(opts, runtime.WithSavepoint(fromSavepoint))
	}
	// Log lines and notes go through the progress line's writer, which
	// clears the line before them.
	stderr = newProgressWriter(stderr, os.Getenv("TERM") == "dumb")
	logger, err := c.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, engine, err := loadPipeline(ctx, path, &c, logger, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitConfig
	}
	defer engine.Close(context.Background())
	if fromSavepoint != "" && !p.Stateful() {
		fmt.Fprintf(stderr, "wasmstream: --from-savepoint: pipeline %s keeps no state\n", p.Spec().Name)
		return exitConfig
	}
	if fromBeginning {
		if err := discardProgress(p.Spec().DataDir, stderr); err != nil {
			fmt.Fprintf(stderr, "wasmstream: --from-beginning: %v\n", err)
			if errors.Is(err, state.ErrLocked) {
				return exitLocked
			}
			return exitFailure
		}
	}
	var stopQuery func()
	if httpAddr != "" {
		stopQuery, err = startHTTP(p, httpAddr, logger)
	} else {
		stopQuery, err = startQuery(p, logger)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: %v\n", err)
		return exitConfig
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	interrupted := make(chan struct{})
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		logger.Warn("received signal; draining in-flight records (send it again to exit at once)", "signal", s.String())
		close(interrupted)
		cancel()
		if s, ok := <-sigs; ok {
			fmt.Fprintf(stderr, "wasmstream: second %s: exiting without draining\n", s)
			os.Exit(exitAborted)
		}
	}()

	start := time.Now()
	show := !c.quiet && (progress == "always" || progress == "detail" || (progress == "auto" && isTerminal(stderr)))
	stopProgress := startProgress(p, stderr, show, progress == "detail", os.Getenv("TERM") == "dumb", start)
	stopWatch := func() {}
	if watch {
		stopWatch = watchModules(ctx, p, engine, canary, logger)
	}
	runErr := p.Run(ctx)
	stopWatch()
	stopQuery()
	stopProgress()

	if !c.quiet {
		printSummary(stderr, p, time.Since(start))
	}
	wasInterrupted := false
	select {
	case <-interrupted:
		wasInterrupted = true
	default:
	}
	if runErr == nil && !wasInterrupted && !c.quiet {
		noteResumed(stderr, p)
	}
	return exitCode(runErr, wasInterrupted, stderr)
}

func exitCode(err error, interrupted bool, stderr io.Writer) int {
	if err == nil {
		if interrupted {
			return exitInterrupted
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "wasmstream: %v\n", err)
	var se *runtime.StageError
	switch {
	case errors.Is(err, runtime.ErrDrainTimeout):
		return exitDrainFailed
	case errors.Is(err, state.ErrLocked):
		return exitLocked
	case errors.As(err, &se) && se.Kind == runtime.KindOperator:
		return exitOperator
	case errors.As(err, &se) && se.Kind == runtime.KindState,
		errors.Is(err, runtime.ErrCheckpoint), errors.Is(err, state.ErrCorrupt), errors.Is(err, state.ErrFailed):
		return exitState
	case errors.As(err, &se):
		return exitConnector
	}
	return exitFailure
}

// noteResumed says, once, why a run that read nothing did so when the
// source skipped input because of progress saved by an earlier run.
func noteResumed(stderr io.Writer, p *runtime.Pipeline) {
	if p.Stats().RecordsIn > 0 {
		return
	}
	rs, ok := p.Source().(runtime.ResumingSource)
	if !ok {
		return
	}
	what, ok := rs.Resumed()
	if !ok {
		return
	}
	s := p.Spec()
	dir := s.DataDir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	fmt.Fprintf(stderr, "wasmstream: nothing new to read: the %s source skipped %s; its progress is saved in %s. "+
		"Run with --from-beginning to read everything again (it discards the saved progress and keyed state), or with another --data-dir.\n",
		s.Source.Name, what, dir)
}

// discardProgress removes what a pipeline saved in dataDir about where its
// source stands: the source's progress directory and the state store with
// its checkpoints (savepoints are kept). It says what it removes before
// removing it, and refuses while the pipeline runs (the state lock is
// held). Each directory is first renamed aside, so a crash leaves either
// the whole directory or none of it in place; what a crash left aside is
// removed too.
func discardProgress(dataDir string, w io.Writer) error {
	stateDir := filepath.Join(dataDir, "state")
	type target struct{ what, dir string }
	var found []target
	for _, t := range []target{
		{"saved source progress", filepath.Join(dataDir, "source")},
		{"keyed state and its checkpoints", stateDir},
	} {
		if _, err := os.Stat(t.dir); err == nil {
			found = append(found, t)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("checking %s: %w", t.dir, err)
		}
		left, _ := filepath.Glob(t.dir + ".removing-*")
		for _, dir := range left {
			found = append(found, target{"what an interrupted --from-beginning left", dir})
		}
	}
	if len(found) == 0 {
		fmt.Fprintf(w, "wasmstream: --from-beginning: nothing saved in %s to remove\n", dataDir)
		return nil
	}
	if _, err := os.Stat(stateDir); err == nil {
		unlock, err := state.LockDir(stateDir, state.HolderRun)
		if err != nil {
			return fmt.Errorf("not removing anything: %w", err)
		}
		defer unlock()
	}
	for _, t := range found {
		fmt.Fprintf(w, "wasmstream: --from-beginning: removing %s: %s\n", t.what, t.dir)
	}
	for _, t := range found {
		aside := t.dir
		if !strings.Contains(filepath.Base(t.dir), ".removing-") {
			aside = fmt.Sprintf("%s.removing-%d", t.dir, os.Getpid())
			if err := durable.Rename(t.dir, aside); err != nil {
				return fmt.Errorf("removing %s: %w", t.dir, err)
			}
		}
		if err := os.RemoveAll(aside); err != nil {
			return fmt.Errorf("removing %s: %w", t.dir, err)
		}
	}
	return nil
}
