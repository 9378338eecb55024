package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/wasmstream/wasmstream/connectors/collection"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
)

// cmdTest runs a module over input records and prints what comes out, or
// runs the cases of a pipeline test file and reports pass or fail.
func cmdTest(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("test", "MODULE.wasm | PIPELINE_TEST.yaml",
		"With a module, runs it over the input records (--input, one record a line) and prints what comes out on each output, with any error; exit 3 when the module fails.\n"+
			"With a test file (YAML: a pipeline file or operators, and cases of input records with the records expected on each output), runs every case on a fresh, empty state store and prints pass or fail per case with a diff; exit 1 when a case fails.", stderr)
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level of the pipeline's and the modules' logs on stderr: debug, info, warn or error")
	var params, input, format string
	var outputs stringList
	fs.StringVar(&params, "params", "", "module mode: the params passed to the module's init, as a JSON object")
	fs.StringVar(&input, "input", "-", "module mode: the file of input records, or - for stdin")
	fs.StringVar(&format, "format", "lines", "module mode: lines (each line is a record's value) or json (each line is an object with value and optional key and headers); output is printed the same way")
	fs.Var(&outputs, "output", "module mode: a named output the module routes records to (repeatable); records routed to another output fail the run")
	path, code, ok := parseArgs(fs, args, stdout)
	if !ok {
		return code
	}
	logger, err := c.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	ctx := context.Background()
	if strings.HasSuffix(path, ".wasm") || isWasm(path) {
		return testModule(ctx, path, params, input, format, outputs, logger, stdout, stderr)
	}
	return testFile(ctx, path, logger, stdout, stderr)
}

// isWasm reports whether the file at path starts with the Wasm binary
// magic number, so a module named otherwise is still run as a module.
func isWasm(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "\x00asm"
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// testRecord is one input or expected record of a test.
type testRecord struct {
	Key     *string           `yaml:"key" json:"key,omitempty"`
	Value   string            `yaml:"value" json:"value"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
}

// testFileSpec is a pipeline test file.
type testFileSpec struct {
	Pipeline  string      `yaml:"pipeline"`
	Operators []yaml.Node `yaml:"operators"`
	Cases     []testCase  `yaml:"cases"`
}

// testCase is one case of a test file: its input and the records expected
// on each output ("default" for the default output).
type testCase struct {
	Name   string                  `yaml:"name"`
	Input  []testRecord            `yaml:"input"`
	Expect map[string][]testRecord `yaml:"expect"`
	line   int
}

// capture is a sink that keeps what is written to it.
type capture struct {
	mu   sync.Mutex
	recs []runtime.Record
}

func (c *capture) Open(context.Context, runtime.Env) error { return nil }
func (c *capture) Close(context.Context) error             { return nil }
func (c *capture) Write(_ context.Context, recs []runtime.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		c.recs = append(c.recs, r.Clone())
	}
	return nil
}

// runSpec runs spec over in on a fresh data directory and returns what
// each output received ("" is the default output).
func runSpec(ctx context.Context, spec *runtime.Spec, in []testRecord, outputs []string, logger *slog.Logger) (map[string][]runtime.Record, error) {
	dir, err := os.MkdirTemp("", "wasmstream-test")
	if err != nil {
		return nil, fmt.Errorf("creating a data directory: %w", err)
	}
	defer os.RemoveAll(dir)
	spec.DataDir = dir
	spec.State.Query = "off"
	cfg := &collection.SourceConfig{Repeat: 1}
	for _, r := range in {
		cfg.Records = append(cfg.Records, collection.RecordConfig{Key: r.Key, Value: r.Value, Headers: r.Headers})
	}
	caps := map[string]*capture{"": {}}
	opts := []runtime.Option{runtime.WithLogger(logger), runtime.WithSink(caps[""])}
	for _, name := range outputs {
		caps[name] = &capture{}
		opts = append(opts, runtime.WithOutput(name, caps[name]))
	}
	if spec.DeadLetter != nil {
		caps[deadLetter] = &capture{}
		opts = append(opts, runtime.WithDeadLetter(caps[deadLetter]))
	}
	if len(in) > 0 {
		src, err := collection.NewSource(cfg)
		if err != nil {
			return nil, fmt.Errorf("reading the input records: %w", err)
		}
		opts = append(opts, runtime.WithSource(src))
	} else {
		opts = append(opts, runtime.WithSource(emptySource{}))
	}
	p, err := runtime.Build(spec, opts...)
	if err != nil {
		return nil, err
	}
	runErr := p.Run(ctx)
	got := map[string][]runtime.Record{}
	for name, c := range caps {
		got[name] = c.recs
	}
	return got, runErr
}

// deadLetter is the name under which a test sees the records the
// pipeline's failure policy dead-letters (on_error.dead_letter).
const deadLetter = "dead_letter"

// emptySource ends at once.
type emptySource struct{}

func (emptySource) Open(context.Context, runtime.Env) error { return nil }
func (emptySource) Read(context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	return nil, nil, io.EOF
}
func (emptySource) Close(context.Context) error { return nil }

// testModule runs the module at path over the records read from input.
func testModule(ctx context.Context, path, params, input, format string, outputs []string, logger *slog.Logger, stdout, stderr io.Writer) int {
	if format != "lines" && format != "json" {
		fmt.Fprintf(stderr, "wasmstream: --format %q: want lines or json\n", format)
		return exitConfig
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: resolving %s: %v\n", path, err)
		return exitConfig
	}
	if _, err := os.Stat(abs); err != nil {
		fmt.Fprintf(stderr, "wasmstream: loading module: %v\n", err)
		return exitConfig
	}
	op := map[string]any{"module": abs}
	if params != "" {
		var p map[string]any
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			fmt.Fprintf(stderr, "wasmstream: --params: want a JSON object: %v\n", err)
			return exitConfig
		}
		op["params"] = p
	}
	doc := map[string]any{
		"pipeline":  "test",
		"source":    map[string]any{"collection": map[string]any{"values": []string{""}}},
		"operators": []any{map[string]any{"name": strings.TrimSuffix(filepath.Base(path), ".wasm"), "wasm": op}},
		"sink":      map[string]any{"stdout": map[string]any{}},
	}
	recs, err := readInput(input, format)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: %v\n", err)
		return exitConfig
	}
	reg, engine, err := newRegistry(ctx, logger)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: %v\n", err)
		return exitFailure
	}
	defer engine.Close(ctx)
	b, _ := yaml.Marshal(doc)
	spec, err := runtime.Parse(b, reg)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: loading module %s: %v\n", path, err)
		return exitConfig
	}
	got, runErr := runSpec(ctx, spec, recs, outputs, logger)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range got {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		label := name
		if label == "" {
			label = "default"
		}
		fmt.Fprintf(stdout, "== output %s: %d record(s)\n", label, len(got[name]))
		for _, r := range got[name] {
			fmt.Fprintln(stdout, formatRecord(r, format))
		}
	}
	if runErr != nil {
		fmt.Fprintf(stdout, "== error: %v\n", runErr)
		return exitOperator
	}
	return exitOK
}

// readInput reads the records of file (- for stdin) in format.
func readInput(file, format string) ([]testRecord, error) {
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("opening the input: %w", err)
		}
		defer f.Close()
		r = f
	}
	var recs []testRecord
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if format == "lines" {
			recs = append(recs, testRecord{Value: line})
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		var rec testRecord
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("reading input line %d: want {\"value\": ..., \"key\": ..., \"headers\": {...}}: %w", n, err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the input: %w", err)
	}
	return recs, nil
}

// formatRecord prints r as a line: its value, or with json a JSON object.
func formatRecord(r runtime.Record, format string) string {
	if format == "lines" {
		if r.Key != nil {
			return fmt.Sprintf("%s\t(key %q)", r.Value, r.Key)
		}
		return string(r.Value)
	}
	tr := toTestRecord(r)
	b, _ := json.Marshal(tr)
	return string(b)
}

func toTestRecord(r runtime.Record) testRecord {
	tr := testRecord{Value: string(r.Value)}
	if r.Key != nil {
		k := string(r.Key)
		tr.Key = &k
	}
	for _, h := range r.Headers {
		if tr.Headers == nil {
			tr.Headers = map[string]string{}
		}
		tr.Headers[h.Name] = string(h.Value)
	}
	return tr
}

// loadTestFile reads and checks the test file at path.
func loadTestFile(path string) (*testFileSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading test file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: parsing test file: %w", path, err)
	}
	var tf testFileSpec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return nil, fmt.Errorf("%s: decoding test file: %w", path, err)
	}
	// Line numbers of the cases, for messages.
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "cases" && m.Content[i+1].Kind == yaml.SequenceNode {
				for j, n := range m.Content[i+1].Content {
					if j < len(tf.Cases) {
						tf.Cases[j].line = n.Line
					}
				}
			}
		}
	}
	var errs []error
	switch {
	case tf.Pipeline == "" && len(tf.Operators) == 0:
		errs = append(errs, fmt.Errorf("%s: give pipeline (a pipeline file) or operators", path))
	case tf.Pipeline != "" && len(tf.Operators) > 0:
		errs = append(errs, fmt.Errorf("%s: give pipeline or operators, not both", path))
	}
	if len(tf.Cases) == 0 {
		errs = append(errs, fmt.Errorf("%s: no cases", path))
	}
	for i, tc := range tf.Cases {
		if tc.Name == "" {
			errs = append(errs, fmt.Errorf("%s:%d: cases[%d]: no name", path, tc.line, i))
		}
		if len(tc.Expect) == 0 {
			errs = append(errs, fmt.Errorf("%s:%d: cases[%d] (%s): no expect (the records expected per output, \"default\" for the default output)", path, tc.line, i, tc.Name))
		}
	}
	return &tf, errors.Join(errs...)
}

// testFile runs the cases of the test file at path.
func testFile(ctx context.Context, path string, logger *slog.Logger, stdout, stderr io.Writer) int {
	tf, err := loadTestFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: %v\n", err)
		return exitConfig
	}
	reg, engine, err := newRegistry(ctx, logger)
	if err != nil {
		fmt.Fprintf(stderr, "wasmstream: %v\n", err)
		return exitFailure
	}
	defer engine.Close(ctx)
	dir := filepath.Dir(path)
	for i := range tf.Operators {
		resolveModule(&tf.Operators[i], dir)
	}
	load := func() (*runtime.Spec, error) {
		if tf.Pipeline != "" {
			p := tf.Pipeline
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			return runtime.Load(p, reg)
		}
		b, err := yaml.Marshal(map[string]any{
			"pipeline":  "test",
			"source":    map[string]any{"collection": map[string]any{"values": []string{""}}},
			"operators": tf.Operators,
			"sink":      map[string]any{"stdout": map[string]any{}},
		})
		if err != nil {
			return nil, err
		}
		spec, err := runtime.Parse(b, reg)
		return spec, problemLines(err, tf.Operators)
	}
	failed := 0
	for _, tc := range tf.Cases {
		// Each case gets its own spec: Build takes it over.
		spec, err := load()
		if err == nil {
			err = modulesExist(spec)
		}
		if err != nil {
			fmt.Fprintf(stderr, "wasmstream: %s: loading the pipeline: %v\n", path, err)
			return exitConfig
		}
		var outputs []string
		for name := range tc.Expect {
			if name != "default" && (name != deadLetter || spec.DeadLetter == nil) {
				outputs = append(outputs, name)
			}
		}
		for name := range spec.Outputs {
			if _, ok := tc.Expect[name]; !ok {
				outputs = append(outputs, name)
			}
		}
		got, runErr := runSpec(ctx, spec, tc.Input, outputs, logger)
		diff := compareOutputs(tc.Expect, got)
		if runErr != nil {
			diff = append([]string{"  error: " + runErr.Error()}, diff...)
		}
		if len(diff) == 0 {
			fmt.Fprintf(stdout, "PASS %s\n", tc.Name)
			continue
		}
		failed++
		fmt.Fprintf(stdout, "FAIL %s (%s:%d)\n", tc.Name, path, tc.line)
		for _, d := range diff {
			fmt.Fprintln(stdout, d)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d case(s) failed\n", failed, len(tf.Cases))
		return exitFailure
	}
	fmt.Fprintf(stdout, "%d case(s) passed\n", len(tf.Cases))
	return exitOK
}

// modulesExist checks that the module files of spec's wasm operators
// exist, so a missing one is a usage error rather than a failing case.
func modulesExist(spec *runtime.Spec) error {
	var errs []error
	for _, c := range spec.Operators {
		if oc, ok := c.Config.(*host.OperatorConfig); ok {
			if _, err := os.Stat(oc.Module); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): reading module: %w", c.Path, c.Label, err))
			}
		}
	}
	return errors.Join(errs...)
}

// problemLines points the problems of a pipeline generated from a test
// file's operators at the lines of the test file.
func problemLines(err error, ops []yaml.Node) error {
	var ce *runtime.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	ce.File = "operators"
	for i := range ce.Problems {
		p := &ce.Problems[i]
		p.Line, p.Col = 0, 0
		var idx int
		if n, _ := fmt.Sscanf(p.Path, "operators[%d]", &idx); n != 1 || idx < 0 || idx >= len(ops) {
			continue
		}
		n := &ops[idx]
		p.Line = n.Line
		_, rest, _ := strings.Cut(p.Path, "]")
		for _, part := range strings.Split(strings.TrimPrefix(rest, "."), ".") {
			if part == "" || n.Kind != yaml.MappingNode {
				break
			}
			found := false
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == part {
					p.Line, n, found = n.Content[j].Line, n.Content[j+1], true
					break
				}
			}
			if !found {
				break
			}
		}
	}
	return ce
}

// resolveModule makes a relative wasm module path in an operator node
// relative to dir.
func resolveModule(n *yaml.Node, dir string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "wasm" || n.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		m := n.Content[i+1]
		for j := 0; j+1 < len(m.Content); j += 2 {
			if v := m.Content[j+1]; m.Content[j].Value == "module" && v.Kind == yaml.ScalarNode && !filepath.IsAbs(v.Value) {
				v.Value = filepath.Join(dir, v.Value)
			}
		}
	}
}

// compareOutputs compares what each output received with what was
// expected and returns the differences, one line each. Records are
// grouped by key: the records of one key must arrive in the order
// expected; records without a key may arrive in any order, as the runtime
// spreads them over an operator's instances.
func compareOutputs(expect map[string][]testRecord, got map[string][]runtime.Record) []string {
	names := map[string]bool{}
	for n := range expect {
		names[n] = true
	}
	for n, recs := range got {
		if n == "" {
			n = "default"
		}
		if len(recs) > 0 {
			names[n] = true
		}
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var diff []string
	for _, name := range sorted {
		want := expect[name]
		have := got[name]
		if name == "default" {
			have = got[""]
		}
		if lines := diffKeyed(want, have); len(lines) > 0 {
			diff = append(diff, fmt.Sprintf("  output %s: want %d record(s), got %d", name, len(want), len(have)))
			diff = append(diff, lines...)
		}
	}
	return diff
}

// matches reports whether r is the expected record w.
func matches(w testRecord, r runtime.Record) bool {
	if w.Value != string(r.Value) {
		return false
	}
	if (w.Key == nil) != (r.Key == nil) || w.Key != nil && *w.Key != string(r.Key) {
		return false
	}
	if w.Headers != nil {
		h := toTestRecord(r).Headers
		for k, v := range w.Headers {
			if h[k] != v {
				return false
			}
		}
	}
	return true
}

func show(r testRecord) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// diffSeq compares two sequences in order.
func diffSeq(want []testRecord, have []runtime.Record) []string {
	var lines []string
	for i := 0; i < max(len(want), len(have)); i++ {
		switch {
		case i >= len(want):
			lines = append(lines, fmt.Sprintf("    + [%d] %s", i, show(toTestRecord(have[i]))))
		case i >= len(have):
			lines = append(lines, fmt.Sprintf("    - [%d] %s", i, show(want[i])))
		case !matches(want[i], have[i]):
			lines = append(lines, fmt.Sprintf("    - [%d] %s", i, show(want[i])), fmt.Sprintf("    + [%d] %s", i, show(toTestRecord(have[i]))))
		}
	}
	return lines
}

// noKey names the group of records without a key in a diff.
const noKey = "(none)"

// diffSet compares two collections in any order: it lists the expected
// records missing (-) and the records not expected (+).
func diffSet(want []testRecord, have []runtime.Record) []string {
	used := make([]bool, len(have))
	var lines []string
	for _, w := range want {
		found := false
		for i, r := range have {
			if !used[i] && matches(w, r) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			lines = append(lines, "    - "+show(w))
		}
	}
	for i, r := range have {
		if !used[i] {
			lines = append(lines, "    + "+show(toTestRecord(r)))
		}
	}
	return lines
}

// diffKeyed compares the records of each key in order.
func diffKeyed(want []testRecord, have []runtime.Record) []string {
	wantBy := map[string][]testRecord{}
	haveBy := map[string][]runtime.Record{}
	keyName := func(k []byte) string {
		if k == nil {
			return noKey
		}
		return fmt.Sprintf("%q", k)
	}
	for _, w := range want {
		var kb []byte
		if w.Key != nil {
			kb = []byte(*w.Key)
		}
		k := keyName(kb)
		wantBy[k] = append(wantBy[k], w)
	}
	for _, r := range have {
		k := keyName(r.Key)
		haveBy[k] = append(haveBy[k], r)
	}
	keys := map[string]bool{}
	for k := range wantBy {
		keys[k] = true
	}
	for k := range haveBy {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var lines []string
	for _, k := range sorted {
		var d []string
		if k == noKey {
			d = diffSet(wantBy[k], haveBy[k])
		} else {
			d = diffSeq(wantBy[k], haveBy[k])
		}
		if len(d) > 0 {
			lines = append(lines, "    key "+k+":")
			lines = append(lines, d...)
		}
	}
	return lines
}
