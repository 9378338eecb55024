package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// runCLIIn runs the binary with dir as its working directory.
func runCLIIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

var (
	routerOnce sync.Once
	routerWasm string
	routerErr  error
)

// router builds examples/wasm/router once, beside the binary: its init
// refuses a drop_debug param that is not a boolean.
func router(t *testing.T) string {
	t.Helper()
	routerOnce.Do(func() {
		routerWasm = filepath.Join(filepath.Dir(binary), "router.wasm")
		routerErr = guestbuild.Build(filepath.Join("..", "..", "examples", "wasm", "router"), routerWasm)
	})
	if routerErr != nil {
		t.Fatal(routerErr)
	}
	return routerWasm
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestValidateOnePass guards issue #9: validate found a pipeline's mistakes
// in several passes (a config's Validate ran only when the rest had no
// problem, module errors came from a later step without file or line, a
// missing source file and bad params passed validate and failed run). Every
// mistake below is reported by one validate, each with its line and field
// path, run from another working directory with paths relative to the file.
func TestValidateOnePass(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, router(t), filepath.Join(dir, "router.wasm"))
	for name, content := range map[string]string{"input.log": "a\n", "text.wasm": "(module)\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := `pipeline: many-mistakes
batch: {size: 0}
source:
  file: {path: inptu.log, format: lines}
operators:
  - name: route
    wasm: {module: routr.wasm, deadline: 0s}
  - name: route
    wasm: {module: router.wasm, parallelizm: 2}
  - name: strict
    wasm: {module: router.wasm, params: {drop_debug: "yes"}}
  - name: text
    wasm: {module: text.wasm}
sink:
  stdout: {format: jsn}
`
	path := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mistake string
		want    string
	}{
		{"a setting out of range", "line 2: batch.size: must be at least 1"},
		{"a missing source file, relative to the pipeline file", fmt.Sprintf("line 4: source.file.path: %s does not exist (did you mean %q?)", filepath.Join(dir, "inptu.log"), filepath.Join(dir, "input.log"))},
		{"a Validate problem beside another problem of the same operator", "line 7: operators[0].wasm.deadline: must be more than 0"},
		{"a missing module", fmt.Sprintf("line 7: operators[0].wasm.module: %s does not exist (did you mean %q?)", filepath.Join(dir, "routr.wasm"), filepath.Join(dir, "router.wasm"))},
		{"a duplicate operator name", `line 8: operators[1].name: "route" is already the name of operators[0]`},
		{"an unknown setting", `line 9: operators[1].wasm.parallelizm: unknown field (did you mean "parallelism"?)`},
		{"params init refuses", "line 11: operators[2].wasm.params: init failed with these params: "},
		{"a module that does not load", "line 13: operators[3].wasm.module: "},
		{"a value not among those allowed", `line 15: sink.stdout.format: "jsn" is not one of text, json (did you mean "json"?)`},
	}
	r := runCLIIn(t, t.TempDir(), "validate", path)
	if r.code != exitConfig {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitConfig, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if want := fmt.Sprintf("%s: %d problems", path, len(tests)); lines[0] != want {
		t.Errorf("first line %q, want %q\n%s", lines[0], want, r.stderr)
	}
	for _, tt := range tests {
		t.Run(tt.mistake, func(t *testing.T) {
			found := false
			for _, l := range lines[1:] {
				found = found || strings.HasPrefix(strings.TrimSpace(l), tt.want)
			}
			if !found {
				t.Errorf("no line starting with %q in\n%s", tt.want, r.stderr)
			}
		})
	}
	if !strings.Contains(r.stderr, "drop_debug") {
		t.Errorf("the init problem does not name the param:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "WebAssembly text") {
		t.Errorf("the module problem does not say what is wrong with it:\n%s", r.stderr)
	}
}

// TestValidateRelativeToPipelineFile guards issue #9: relative paths in a
// pipeline file resolve against the file's directory, whatever the working
// directory and however the file is named.
func TestValidateRelativeToPipelineFile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "project", "pipelines")
	if err := os.MkdirAll(filepath.Join(dir, "modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, upperWasm, filepath.Join(dir, "modules", "upper.wasm"))
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(p, []byte("pipeline: rel\ndata_dir: data\nsource: {file: {path: in.txt}}\noperators: [{wasm: {module: modules/upper.wasm}}]\nsink: {stdout: {}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cwd, arg string
	}{
		{root, filepath.Join("project", "pipelines", "pipeline.yaml")},
		{filepath.Join(root, "project"), filepath.Join("pipelines", "pipeline.yaml")},
		{dir, "pipeline.yaml"},
		{t.TempDir(), p},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			if r := runCLIIn(t, tt.cwd, "validate", tt.arg); r.code != exitOK {
				t.Fatalf("validate: exit %d\n%s", r.code, r.stderr)
			}
			r := runCLIIn(t, tt.cwd, "run", "--quiet", "--from-beginning", tt.arg)
			if r.code != exitOK || r.stdout != "A\nB\n" {
				t.Fatalf("run: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Errorf("data_dir: data is not beside the pipeline file: %v", err)
	}
}

// TestExamplePipelinesFromAnotherDirectory guards issue #9: the example
// pipelines name their files relative to themselves, so they validate and
// run from any working directory.
func TestExamplePipelinesFromAnotherDirectory(t *testing.T) {
	examples := filepath.Join("..", "..", "examples", "wasm")
	tests := []struct {
		example, guest, module string
		want                   string // a line of the run's stdout; "" skips the run (it writes files)
	}{
		{"uppercase", "go", "go/uppercase.wasm", "HELLO"},
		{"jsonfilter", "go", "go/jsonfilter.wasm", ""},
		{"router", ".", "router.wasm", ""},
		{"wordcount", "go", "go/wordcount.wasm", ""},
	}
	for _, tt := range tests {
		t.Run(tt.example, func(t *testing.T) {
			dir, err := filepath.Abs(filepath.Join(examples, tt.example))
			if err != nil {
				t.Fatal(err)
			}
			if err := guestbuild.Build(filepath.Join(dir, tt.guest), filepath.Join(dir, tt.module)); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "pipeline.yaml")
			cwd := t.TempDir()
			if r := runCLIIn(t, cwd, "validate", p); r.code != exitOK {
				t.Fatalf("validate: exit %d\n%s", r.code, r.stderr)
			}
			if tt.want == "" {
				return
			}
			r := runCLIIn(t, cwd, "run", "--quiet", "--data-dir", t.TempDir(), p)
			if r.code != exitOK || !strings.Contains(r.stdout, tt.want) {
				t.Fatalf("run: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
