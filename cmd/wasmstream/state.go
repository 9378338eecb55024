package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/internal/durable"
	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/query"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// queryAddrFile, in the data directory, holds the address of a running
// pipeline's query server.
const queryAddrFile = "query.addr"

// startQuery starts the query server of a stateful pipeline (unless
// state.query is "off") and writes its address to <data_dir>/query.addr.
// The returned stop detaches the server from the store, removes the file
// and closes the server; call it when Run returns.
func startQuery(p *runtime.Pipeline, logger *slog.Logger) (stop func(), err error) {
	spec := p.Spec()
	if !p.Stateful() || spec.State.Query == "off" {
		return func() {}, nil
	}
	srv := query.New(p, query.WithLogger(logger.With("component", "query")))
	addr, err := srv.Listen(spec.State.Query)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("state.query %q: %w", spec.State.Query, err)
	}
	file := filepath.Join(spec.DataDir, queryAddrFile)
	content := []byte(addr.String() + "\n")
	if err := writeFileAtomic(file, content); err != nil {
		srv.Close()
		return nil, fmt.Errorf("writing %s: %w", file, err)
	}
	logger.Info("query server listening", "addr", addr.String(), "addr_file", file)
	return func() {
		srv.Detach()
		// Another run of the pipeline may have written its own address
		// meanwhile: remove only ours.
		if b, err := os.ReadFile(file); err == nil && bytes.Equal(b, content) {
			os.Remove(file)
		}
		if err := srv.Close(); err != nil {
			logger.Warn("closing the query server", "err", err)
		}
	}, nil
}

func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return durable.WriteFile(path, b, 0o644)
}

// target is where the state commands send their requests: the running
// pipeline's query server, or, when it is not running, a query server in
// this process over the store opened from the data directory. Both answer
// the same requests the same way.
type target struct {
	spec    *runtime.Spec
	running bool
	addr    string // of the running pipeline's server
	client  *http.Client
	base    string
	close   func()
}

// errNoState: the data directory holds no state store.
var errNoState = errors.New("no state")

// connect finds the running pipeline through <data_dir>/query.addr, or
// opens its store directly when it is not running. It notes on notes why
// it ignores a query.addr.
func connect(spec *runtime.Spec, notes io.Writer) (*target, error) {
	file := filepath.Join(spec.DataDir, queryAddrFile)
	if b, err := os.ReadFile(file); err == nil {
		addr := strings.TrimSpace(string(b))
		t := &target{spec: spec, running: true, addr: addr, client: &http.Client{}, base: "http://" + addr, close: func() {}}
		err := t.verify()
		if err == nil {
			return t, nil
		}
		fmt.Fprintf(notes, "wasmstream: ignoring %s: %v\n", file, err)
	}
	dir := filepath.Join(spec.DataDir, "state")
	live := filepath.Join(dir, "live")
	if _, err := os.Stat(live); err != nil {
		return nil, fmt.Errorf("%w in %s: pipeline %s has not run with state in this data directory", errNoState, spec.DataDir, spec.Name)
	}
	// The store is locked while the pipeline runs: then only its query
	// server can read it. A pipeline that is starting holds the lock a
	// moment before its server's address is written: wait for it.
	st, _, err := state.Open(state.Options{Dir: dir, OnCorrupt: "fail", Holder: "state", LockWait: 5 * time.Second})
	var le *state.LockedError
	if errors.As(err, &le) && le.Holder == state.HolderRun && spec.State.Query != "off" {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if b, rerr := os.ReadFile(file); rerr == nil {
				t := &target{spec: spec, running: true, addr: strings.TrimSpace(string(b)), client: &http.Client{}, close: func() {}}
				t.base = "http://" + t.addr
				if t.verify() == nil {
					return t, nil
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if errors.As(err, &le) {
		return nil, fmt.Errorf("%w; no query server answers for it (is the pipeline running with state.query: off?)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	srv := query.New(query.Stopped(spec, st))
	return &target{spec: spec, client: &http.Client{Transport: handlerTransport{srv}}, base: "http://data-dir",
		close: func() { srv.Close(); st.Close() }}, nil
}

// connectExit maps a connect failure to an exit code.
func connectExit(err error) int {
	switch {
	case errors.Is(err, errNoState):
		return exitNotFound
	case errors.Is(err, state.ErrLocked):
		return exitLocked
	case errors.Is(err, state.ErrCorrupt):
		return exitState
	}
	return exitFailure
}

// handlerTransport sends requests to a handler in this process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// verify checks that the server answering at the address is this
// pipeline's, over this data directory (the file may be left over from a
// process that was killed, and the port taken by another).
func (t *target) verify() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	status, body, err := t.do(ctx, "GET", "/v1/status", nil)
	if err != nil {
		return fmt.Errorf("no query server answers at %s (the pipeline is not running)", t.addr)
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s answers status %d", t.addr, status)
	}
	name, _ := body["pipeline"].(string)
	dir, _ := body["data_dir"].(string)
	a, err1 := os.Stat(dir)
	b, err2 := os.Stat(t.spec.DataDir)
	if name != t.spec.Name || err1 != nil || err2 != nil || !os.SameFile(a, b) {
		return fmt.Errorf("%s serves pipeline %q over %s, not this one", t.addr, name, dir)
	}
	return nil
}

// do sends a request and decodes the JSON answer.
func (t *target) do(ctx context.Context, method, path string, body []byte) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var d map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: status %d, not JSON: %q", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			d["retry_after"] = s
		}
	}
	return resp.StatusCode, d, nil
}

// call sends a request, retrying while the pipeline opens its store, and
// maps a failure to an exit code.
func (t *target) call(ctx context.Context, method, path string, body []byte, stderr io.Writer) (map[string]any, int) {
	for {
		status, d, err := t.do(ctx, method, path, body)
		if err != nil {
			fmt.Fprintf(stderr, "wasmstream: %v\n", err)
			return nil, exitFailure
		}
		switch {
		case status < 300:
			return d, exitOK
		case status == http.StatusServiceUnavailable && d["retry_after"] != nil:
			select {
			case <-time.After(time.Duration(d["retry_after"].(int)) * time.Second):
				continue
			case <-ctx.Done():
				fmt.Fprintf(stderr, "wasmstream: %v (gave up waiting)\n", d["error"])
				return nil, exitFailure
			}
		}
		fmt.Fprintf(stderr, "wasmstream: %v\n", d["error"])
		if d["corrupt"] == true {
			return nil, exitState
		}
		switch status {
		case http.StatusNotFound:
			return nil, exitNotFound
		case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusConflict:
			return nil, exitConfig
		}
		return nil, exitFailure
	}
}

// describe says where a response came from, for stderr.
func (t *target) describe(d map[string]any) string {
	ckpt := "no checkpoint yet"
	if id, _ := d["checkpoint"].(json.Number); id != "" && id != "0" {
		ckpt = "checkpoint " + id.String()
		if at, ok := d["checkpoint_time"].(string); ok {
			ckpt += " of " + at
		}
	}
	if !t.running {
		return fmt.Sprintf("pipeline %s is not running: read its store in %s, which holds its last checkpoint (%s)",
			t.spec.Name, filepath.Join(t.spec.DataDir, "state"), ckpt)
	}
	if d["consistency"] == "checkpoint" {
		return fmt.Sprintf("state as of the last checkpoint (%s) of the running pipeline %s, from its query server at %s", ckpt, t.spec.Name, t.addr)
	}
	return fmt.Sprintf("live state of the running pipeline %s, including writes since the last checkpoint (%s), from its query server at %s", t.spec.Name, ckpt, t.addr)
}

// stateFlags are the flags of the state commands.
type stateFlags struct {
	dataDir     string
	operator    string
	scope       string
	consistency string
	as          string
	asJSON      bool
	quiet       bool
	wait        time.Duration
}

func (f *stateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", "", "override the pipeline's data_dir")
	fs.StringVar(&f.operator, "operator", "", "the operator whose state to read (its name in the pipeline file; required)")
	fs.StringVar(&f.scope, "scope", "key", "key: keyed state; operator: the operator's own state (no KEY)")
	fs.StringVar(&f.consistency, "consistency", "live", "live: include writes since the last checkpoint; checkpoint: the last checkpoint only (what a restart after a crash starts from)")
	fs.StringVar(&f.as, "as", "auto", "decode values as auto, text, base64, counter (8-byte little-endian integer, or a float counter) or list")
	fs.BoolVar(&f.asJSON, "json", false, "print the query server's JSON answer")
	fs.BoolVar(&f.quiet, "quiet", false, "do not say on stderr where the state was read from")
	fs.DurationVar(&f.wait, "wait", 30*time.Second, "how long to wait for a starting pipeline to open its state store")
}

// parsePositional parses flags, which may come between positional
// arguments, and checks the positional count.
func parsePositional(fs *flag.FlagSet, args []string, minN, maxN int) ([]string, int, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitConfig, false
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < minN || len(pos) > maxN {
		fs.Usage()
		return nil, exitConfig, false
	}
	return pos, exitOK, true
}

// loadSpec reads a pipeline file without building it (no module is
// compiled) and applies a data directory override.
func loadSpec(path, dataDir string, stderr io.Writer) (*runtime.Spec, int) {
	ctx := context.Background()
	reg, engine, err := newRegistry(ctx, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitFailure
	}
	defer engine.Close(ctx)
	spec, err := runtime.Load(path, reg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitConfig
	}
	if dataDir != "" {
		spec.DataDir = dataDir
	}
	return spec, exitOK
}

const stateUsage = `Usage:
  wasmstream state get [flags] PIPELINE.yaml --operator OP KEY [NAME]
  wasmstream state list [flags] PIPELINE.yaml --operator OP [--prefix P] [--limit N] [--all]

Reads a pipeline's keyed state. While the pipeline runs, the commands ask its
query server (the address is in <data_dir>/query.addr); when it is not
running, they open its state store in the data directory, which holds the
last checkpoint. Stderr says which.

Run 'wasmstream state get --help' or 'wasmstream state list --help' for flags.
`

func cmdState(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, stateUsage)
		return exitConfig
	}
	switch args[0] {
	case "get":
		return cmdStateGet(args[1:], stdout, stderr)
	case "list":
		return cmdStateList(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, stateUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "wasmstream state: unknown command %q\n\n%s", args[0], stateUsage)
	return exitConfig
}

// prepare loads the spec, checks the flags and connects.
func (f *stateFlags) prepare(path string, stderr io.Writer) (*target, int) {
	if f.operator == "" {
		fmt.Fprintln(stderr, "wasmstream: --operator is required")
		return nil, exitConfig
	}
	if f.scope != "key" && f.scope != "operator" {
		fmt.Fprintf(stderr, "wasmstream: --scope must be key or operator, not %q\n", f.scope)
		return nil, exitConfig
	}
	spec, code := loadSpec(path, f.dataDir, stderr)
	if spec == nil {
		return nil, code
	}
	var names []string
	for _, o := range spec.Operators {
		names = append(names, o.Label)
	}
	if !containsString(names, f.operator) {
		fmt.Fprintf(stderr, "wasmstream: pipeline %s has no operator %q (operators: %s)\n", spec.Name, f.operator, strings.Join(names, ", "))
		return nil, exitConfig
	}
	notes := stderr
	if f.quiet {
		notes = io.Discard
	}
	t, err := connect(spec, notes)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: %v\n", err)
		return nil, connectExit(err)
	}
	return t, exitOK
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (f *stateFlags) params() url.Values {
	q := url.Values{}
	q.Set("consistency", f.consistency)
	q.Set("as", f.as)
	return q
}

// segment percent-encodes every byte outside the unreserved set, dots
// included, so that any key (".." too) is one path segment.
func segment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func cmdStateGet(args []string, stdout, stderr io.Writer) int {
	var f stateFlags
	fs := newFlagSet("state get", "PIPELINE.yaml --operator OP KEY [NAME]",
		"Prints one key's state: every name with its value, or the value of NAME. With --scope operator, prints the operator's own state (all of it, or NAME).\n"+
			"KEY and NAME are taken as bytes; give --base64 to pass them base64-encoded. Exits 6 when there is no such key or value.", stderr)
	f.register(fs)
	b64 := fs.Bool("base64", false, "KEY and NAME are base64-encoded")
	pos, code, ok := parsePositional(fs, args, 1, 3)
	if !ok {
		return code
	}
	if f.scope == "key" && len(pos) < 2 {
		fs.Usage()
		return exitConfig
	}
	if f.scope == "operator" && len(pos) > 2 {
		fs.Usage()
		return exitConfig
	}
	parts := pos[1:]
	if *b64 {
		for i, p := range parts {
			raw, err := base64.StdEncoding.DecodeString(p)
			if err != nil {
				fmt.Fprintf(stderr, "wasmstream: --base64: %q: %v\n", p, err)
				return exitConfig
			}
			parts[i] = string(raw)
		}
	}
	t, code := f.prepare(pos[0], stderr)
	if t == nil {
		return code
	}
	defer t.close()
	path := "/v1/state/" + segment(f.operator)
	if f.scope == "key" {
		if parts[0] == "" {
			fmt.Fprintln(stderr, "wasmstream: the empty key cannot be addressed by get; use state list")
			return exitConfig
		}
		path += "/keys/" + segment(parts[0])
		parts = parts[1:]
	} else {
		path += "/operator"
	}
	single := len(parts) == 1
	if single {
		path += "/" + segment(parts[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.wait)
	defer cancel()
	d, code := t.call(ctx, "GET", path+"?"+f.params().Encode(), nil, stderr)
	if d == nil {
		return code
	}
	if !f.quiet {
		fmt.Fprintf(stderr, "wasmstream: %s\n", t.describe(d))
	}
	if f.asJSON {
		return printJSON(stdout, stderr, d)
	}
	if single {
		if l, ok := d["list"].([]any); ok {
			for _, it := range l {
				fmt.Fprintln(stdout, field(it.(map[string]any), "value"))
			}
			return exitOK
		}
		fmt.Fprintln(stdout, valueText(d))
		return exitOK
	}
	entries, _ := d["entries"].([]any)
	if len(entries) == 0 && f.scope == "operator" {
		fmt.Fprintf(stderr, "wasmstream: operator %s has no operator-scope state\n", f.operator)
		return exitNotFound
	}
	for _, e := range entries {
		e := e.(map[string]any)
		fmt.Fprintf(stdout, "%s\t%s%s\n", field(e, "name"), valueText(e), expiryText(e))
	}
	return exitOK
}

func cmdStateList(args []string, stdout, stderr io.Writer) int {
	var f stateFlags
	fs := newFlagSet("state list", "PIPELINE.yaml --operator OP",
		"Lists keys of an operator's state in byte order, one line per key and name: KEY, NAME and VALUE separated by tabs. Without --all it prints one page and, when there are more, the --cursor of the next on stderr.", stderr)
	f.register(fs)
	prefix := fs.String("prefix", "", "only keys starting with these bytes")
	limit := fs.Int("limit", 100, "keys per page (at most 10000)")
	cursor := fs.String("cursor", "", "continue after the page that returned this cursor")
	all := fs.Bool("all", false, "follow the cursors to the end")
	pos, code, ok := parsePositional(fs, args, 1, 1)
	if !ok {
		return code
	}
	t, code := f.prepare(pos[0], stderr)
	if t == nil {
		return code
	}
	defer t.close()
	q := f.params()
	q.Set("limit", strconv.Itoa(*limit))
	path := "/v1/state/" + segment(f.operator) + "/keys"
	if f.scope == "operator" {
		path = "/v1/state/" + segment(f.operator) + "/operator"
	} else if *prefix != "" {
		q.Set("prefix", *prefix)
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.wait)
	defer cancel()
	var merged map[string]any
	var items []any
	next := *cursor
	for {
		if next != "" {
			q.Set("cursor", next)
		}
		d, code := t.call(ctx, "GET", path+"?"+q.Encode(), nil, stderr)
		if d == nil {
			return code
		}
		if merged == nil {
			merged = d
			if !f.quiet {
				fmt.Fprintf(stderr, "wasmstream: %s\n", t.describe(d))
			}
		}
		list := "keys"
		if f.scope == "operator" {
			list = "entries"
		}
		page, _ := d[list].([]any)
		items = append(items, page...)
		if !f.asJSON {
			for _, it := range page {
				it := it.(map[string]any)
				if f.scope == "operator" {
					fmt.Fprintf(stdout, "%s\t%s%s\n", field(it, "name"), valueText(it), expiryText(it))
					continue
				}
				for _, e := range it["entries"].([]any) {
					e := e.(map[string]any)
					fmt.Fprintf(stdout, "%s\t%s\t%s%s\n", field(it, "key"), field(e, "name"), valueText(e), expiryText(e))
				}
			}
		}
		next, _ = d["next_cursor"].(string)
		if next == "" || !*all {
			break
		}
	}
	if f.asJSON {
		list := "keys"
		if f.scope == "operator" {
			list = "entries"
		}
		merged[list] = items
		if *all {
			delete(merged, "next_cursor")
		} else if next != "" {
			merged["next_cursor"] = next
		}
		return printJSON(stdout, stderr, merged)
	}
	if next != "" && !f.quiet {
		fmt.Fprintf(stderr, "wasmstream: more keys: --cursor %s (or --all)\n", next)
	}
	return exitOK
}

func printJSON(stdout, stderr io.Writer, d map[string]any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	return exitOK
}

// field shows a bytes field of an answer: its text, Go-quoted when it is
// empty, has a tab, newline or other unprintable character, or could be
// mistaken for a quoted or base64 field; or base64: and the bytes.
func field(d map[string]any, name string) string {
	if s, ok := d[name].(string); ok {
		if s == "" || strings.HasPrefix(s, "\"") || strings.HasPrefix(s, "base64:") ||
			strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) >= 0 {
			return strconv.Quote(s)
		}
		return s
	}
	if s, ok := d[name+"_base64"].(string); ok {
		return "base64:" + s
	}
	return ""
}

// valueText shows a value as the answer decoded it: a float counter, else
// text (the server sends text only when it is printable), else a counter,
// else the list, else base64.
func valueText(d map[string]any) string {
	if e, ok := d["error"].(string); ok {
		return field(d, "value") + " (" + e + ")"
	}
	if n, ok := d["float"].(json.Number); ok {
		return floatText(n)
	}
	if _, ok := d["value"].(string); ok { // printable text, even if 8 bytes long
		return field(d, "value")
	}
	if n, ok := d["counter"].(json.Number); ok {
		return n.String()
	}
	if l, ok := d["list"].([]any); ok {
		items := make([]string, len(l))
		for i, it := range l {
			items[i] = field(it.(map[string]any), "value")
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return field(d, "value")
}

// floatText shows a float counter as a float even when it is whole
// ("3.0", not "3"), so it reads apart from an int counter.
func floatText(n json.Number) string {
	s := n.String()
	if strings.ContainsAny(s, ".eE") {
		return s
	}
	return s + ".0"
}

func expiryText(d map[string]any) string {
	if e, ok := d["expiry"].(string); ok {
		return "\texpires " + e
	}
	return ""
}
