package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// examples is the directory of the example guests, built by make wasm.
var examples = filepath.Join("..", "..", "examples", "wasm")

// writeFile writes body to name under a new temporary directory and
// returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// absExample is the absolute path of an example file.
func absExample(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(examples, rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTestModule guards issue #9 item 6: test MODULE.wasm runs a module
// over input records through the host and prints what each output gets.
func TestTestModule(t *testing.T) {
	tests := []struct {
		name   string
		module string
		input  string
		args   []string
		code   int
		want   []string // lines expected in stdout, in order
		absent []string
		copyAs string // run a copy of the module under this name
	}{
		{
			name:   "uppercase lines",
			module: "uppercase/go/uppercase.wasm",
			input:  "hello\nwasm\n",
			want:   []string{"== output default: 2 record(s)", "HELLO", "WASM"},
		},
		{
			name:   "uppercase json keeps keys and headers",
			module: "uppercase/go/uppercase.wasm",
			input:  `{"key":"k1","value":"abc","headers":{"h":"v"}}` + "\n",
			args:   []string{"--format", "json"},
			want:   []string{"== output default: 1 record(s)", `{"key":"k1","value":"ABC","headers":{"h":"v"}}`},
		},
		{
			name:   "a module is known by its magic number, whatever its name",
			module: "uppercase/go/uppercase.wasm",
			copyAs: "uppercase.module",
			input:  "hi\n",
			want:   []string{"== output default: 1 record(s)", "HI"},
		},
		{
			name:   "router routes to a named output and takes params",
			module: "router/router.wasm",
			input:  "t INFO up\nt ERROR down\nt DEBUG noise\n",
			args:   []string{"--output", "alerts", "--params", `{"drop_debug": true}`},
			want:   []string{"== output default: 1 record(s)", "t INFO up", "== output alerts: 1 record(s)", "t ERROR down"},
			absent: []string{"noise"},
		},
		{
			name:   "router params reach init",
			module: "router/router.wasm",
			input:  "t DEBUG noise\n",
			args:   []string{"--params", `{"drop_debug": false}`},
			want:   []string{"== output default: 1 record(s)", "t DEBUG noise"},
		},
		{
			name:   "an output not connected is an error",
			module: "router/router.wasm",
			input:  "t ERROR down\n",
			code:   exitOperator,
			want:   []string{"== error:", `routed to output "alerts"`},
		},
		{
			name:   "jsonfilter keys kept records",
			module: "jsonfilter/go/jsonfilter.wasm",
			input:  `{"event":"click","user":{"name":"ada"}}` + "\n" + `{"event":"view","user":{"name":"bob"}}` + "\n",
			want:   []string{"== output default: 1 record(s)", `(key "ada")`},
			absent: []string{"bob"},
		},
		{
			name:   "wordcount count keeps state over the input",
			module: "wordcount/go/wordcount.wasm",
			input:  `{"key":"a","value":"a"}` + "\n" + `{"key":"b","value":"b"}` + "\n" + `{"key":"a","value":"a"}` + "\n",
			args:   []string{"--format", "json", "--params", `{"stage":"count","emit":true}`},
			want:   []string{"== output default: 3 record(s)", `{"key":"a","value":"a 1"}`, `{"key":"a","value":"a 2"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := writeFile(t, "input", tt.input)
			module := absExample(t, tt.module)
			if tt.copyAs != "" {
				b, err := os.ReadFile(module)
				if err != nil {
					t.Fatal(err)
				}
				module = writeFile(t, tt.copyAs, string(b))
			}
			args := append([]string{"test", module, "--input", in}, tt.args...)
			r := runCLI(t, args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			rest := r.stdout
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order)\nstdout:\n%s", w, r.stdout)
				}
				rest = rest[i+len(w):]
			}
			for _, a := range tt.absent {
				if strings.Contains(r.stdout, a) {
					t.Errorf("stdout has %q\nstdout:\n%s", a, r.stdout)
				}
			}
		})
	}
}

// TestTestExampleFiles guards issue #9 item 6: the example test files
// beside the examples pass, run from any working directory.
func TestTestExampleFiles(t *testing.T) {
	for _, f := range []string{"uppercase/uppercase.test.yaml", "wordcount/wordcount.test.yaml"} {
		t.Run(f, func(t *testing.T) {
			r := runCLI(t, "test", absExample(t, f))
			if r.code != exitOK || !strings.Contains(r.stdout, "case(s) passed") || strings.Contains(r.stdout, "FAIL") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestTestFile guards issue #9 item 6: a pipeline test file's cases pass
// or fail on what each output receives, with a diff and a non-zero exit.
func TestTestFile(t *testing.T) {
	router := absExample(t, "router/router.wasm")
	words := absExample(t, "wordcount/go/wordcount.wasm")
	tests := []struct {
		name string
		body string
		code int
		want []string
	}{
		{
			name: "named and default outputs pass",
			body: `
operators:
  - wasm: {module: ` + router + `, params: {drop_debug: true}}
cases:
  - name: routes
    input:
      - value: t INFO up
      - value: t ERROR down
      - value: t DEBUG noise
    expect:
      default:
        - {value: t INFO up, headers: {level: INFO}}
      alerts:
        - value: t ERROR down
`,
			want: []string{"PASS routes", "1 case(s) passed"},
		},
		{
			name: "a wrong value fails with a diff",
			body: `
operators:
  - wasm: {module: ` + router + `}
cases:
  - name: good
    input: [{value: t INFO a}]
    expect: {default: [{value: t INFO a}]}
  - name: bad
    input:
      - value: t ERROR down
    expect:
      alerts:
        - value: t ERROR up
`,
			code: exitFailure,
			want: []string{"PASS good", "FAIL bad", "output alerts: want 1 record(s), got 1",
				`- {"value":"t ERROR up"}`, `+ {"value":"t ERROR down"}`, "1 of 2 case(s) failed"},
		},
		{
			name: "a record routed to an output not expected fails",
			body: `
operators:
  - wasm: {module: ` + router + `}
cases:
  - name: unexpected alert
    input: [{value: t ERROR down}, {value: t INFO up}]
    expect: {default: [{value: t INFO up}]}
`,
			code: exitFailure,
			want: []string{"FAIL unexpected alert", `error: operator wasm-0 (operators[0].wasm): routed to output "alerts", which the pipeline does not connect`},
		},
		{
			name: "order within a key is checked",
			body: `
operators:
  - name: count
    wasm: {module: ` + words + `, parallelism: 2, params: {stage: count, emit: true}}
cases:
  - name: swapped
    input: [{key: a, value: a}, {key: a, value: a}]
    expect:
      default:
        - {key: a, value: a 2}
        - {key: a, value: a 1}
`,
			code: exitFailure,
			want: []string{"FAIL swapped", `key "a":`, `- [0] {"key":"a","value":"a 2"}`, `+ [0] {"key":"a","value":"a 1"}`},
		},
		{
			name: "a missing key fails",
			body: `
operators:
  - wasm: {module: ` + words + `, params: {stage: count, emit: true}}
cases:
  - name: no key expected
    input: [{key: a, value: a}]
    expect: {default: [{value: a 1}]}
`,
			code: exitFailure,
			want: []string{"FAIL no key expected", `key "a":`, `+ [0] {"key":"a","value":"a 1"}`, `key (none):`, `- {"value":"a 1"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "test", writeFile(t, "x.test.yaml", tt.body))
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			rest := r.stdout
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order)\nstdout:\n%s", w, r.stdout)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// TestTestDeadLetter guards issue #9 item 6: with a pipeline file whose
// failure policy dead-letters, a test sees the dead-lettered records as the
// output dead_letter, and the pipeline's dead-letter sink writes nothing.
func TestTestDeadLetter(t *testing.T) {
	dir := t.TempDir()
	pipe := `pipeline: dl
source:
  collection: {values: [x]}
operators:
  - name: conf
    wasm: {module: ` + conformWasm + `}
sink:
  stdout: {}
on_error:
  action: dead_letter
  retries: 0
  dead_letter:
    file: {path: dlq}
`
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(pipe), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		expect string
		code   int
		want   []string
	}{
		{"expected", "default: [{value: ABC}]\n      dead_letter: [{value: trap}]", exitOK, []string{"PASS c"}},
		{"not expected", "default: [{value: ABC}]", exitFailure, []string{"FAIL c", "output dead_letter: want 0 record(s), got 1", `+ {"value":"trap","headers":{`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := filepath.Join(dir, "t.test.yaml")
			body := "pipeline: p.yaml\ncases:\n  - name: c\n    input: [{value: abc}, {value: trap}]\n    expect:\n      " + tt.expect + "\n"
			if err := os.WriteFile(tf, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, "test", tf)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q\nstdout:\n%s", w, r.stdout)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "dlq")); !os.IsNotExist(err) {
				t.Errorf("the pipeline's dead-letter sink was written: %v", err)
			}
		})
	}
}

// TestTestBadInput guards issue #9 item 6: a missing module, a malformed
// or incomplete test file and bad flags are refused with exit 2 and a
// message naming the file and line.
func TestTestBadInput(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.wasm")
	in := writeFile(t, "in", "x\n")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"missing module", []string{"test", missing, "--input", in}, []string{"loading module", "missing.wasm", "no such file"}},
		{"params not JSON", []string{"test", absExample(t, "uppercase/go/uppercase.wasm"), "--input", in, "--params", "{drop"}, []string{"--params: want a JSON object"}},
		{"input not JSON", []string{"test", absExample(t, "uppercase/go/uppercase.wasm"), "--input", in, "--format", "json"}, []string{"reading input line 1"}},
		{"bad format", []string{"test", absExample(t, "uppercase/go/uppercase.wasm"), "--format", "xml"}, []string{`--format "xml": want lines or json`}},
		{"missing test file", []string{"test", filepath.Join(dir, "nope.test.yaml")}, []string{"reading test file", "nope.test.yaml"}},
		{"malformed YAML", []string{"test", writeFile(t, "bad.test.yaml", "pipeline: p.yaml\ncases:\n\t- name: a\n")}, []string{"bad.test.yaml", "line 3"}},
		{"unknown field", []string{"test", writeFile(t, "f.test.yaml", "pipeline: p.yaml\ncases:\n  - name: a\n    inputs: []\n")}, []string{"f.test.yaml", "line 4", "field inputs not found"}},
		{"no expect", []string{"test", writeFile(t, "e.test.yaml", "pipeline: p.yaml\ncases:\n  - name: a\n    input: [{value: x}]\n")}, []string{"e.test.yaml:3", "no expect"}},
		{"neither pipeline nor operators", []string{"test", writeFile(t, "n.test.yaml", "cases:\n  - {name: a, expect: {default: []}}\n")}, []string{"give pipeline (a pipeline file) or operators"}},
		{"pipeline file missing", []string{"test", writeFile(t, "m.test.yaml", "pipeline: gone.yaml\ncases:\n  - {name: a, expect: {default: []}}\n")}, []string{"loading the pipeline", "gone.yaml"}},
		{"operator setting unknown", []string{"test", writeFile(t, "u.test.yaml", "# c\n\ncases:\n  - {name: a, expect: {default: []}}\noperators:\n  - wasm:\n      module: x.wasm\n      bogus: 1\n")}, []string{"u.test.yaml: loading the pipeline", "line 8: operators[0].wasm.bogus: unknown field"}},
		{"module in test file missing", []string{"test", writeFile(t, "o.test.yaml", "operators:\n  - wasm: {module: gone.wasm}\ncases:\n  - {name: a, expect: {default: []}}\n")}, []string{"loading the pipeline", "gone.wasm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != exitConfig {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitConfig, r.stdout, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q\nstderr:\n%s", w, r.stderr)
				}
			}
		})
	}
}
