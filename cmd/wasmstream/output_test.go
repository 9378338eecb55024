package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// TestLogLinesClearTheProgressLine guards issue #9 item 9: a log line
// written while the progress line was shown was glued onto its end
// ("... rec/s intime=... level=WARN ..."). The line is cleared before a log
// line and drawn again after it, with escape codes or, on a dumb terminal,
// with spaces.
func TestLogLinesClearTheProgressLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		term  string
		clear string // what must come right before the log line
	}{
		{"ansi", "TERM=xterm", `\r\x1b\[K`},
		{"dumb", "TERM=dumb", `\r +\r`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pipeline(t, `
source: {generator: {rate: 2000, value_size: 10}}
sink: {stdout: {}}
`)
			cmd := exec.Command(binary, "run", "--progress", "always", p)
			cmd.Env = append(os.Environ(), tc.term)
			var errb bytes.Buffer
			stderr := &lockedWriter{w: &errb}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			t.Cleanup(func() {
				select {
				case <-done:
				default:
					cmd.Process.Kill()
					<-done
				}
			})
			text := func() string {
				stderr.mu.Lock()
				defer stderr.mu.Unlock()
				return errb.String()
			}
			eventually(t, "the progress line", func() bool { return strings.Contains(text(), " rec/s in") })
			cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatalf("no exit after SIGINT\n%q", text())
			}
			out := text()
			i := strings.Index(out, "time=")
			if i < 0 {
				t.Fatalf("no log line for the signal: %q", out)
			}
			if !regexp.MustCompile(`rec/s in *` + tc.clear + `$`).MatchString(out[:i]) {
				t.Fatalf("the log line does not start on a cleared line: %q", out)
			}
			if !strings.Contains(out[i:], "\n") || strings.Contains(out[i:strings.Index(out[i:], "\n")+i], "rec/s") {
				t.Fatalf("the log line is not a line of its own: %q", out)
			}
		})
	}
}

// TestInspectStateAndImports guards issue #9 item 9: inspect did not say
// whether a module keeps keyed state, listed fd_write twice for a Go module
// (which imports it twice) and printed "->" as "-\u003e" in JSON.
func TestInspectStateAndImports(t *testing.T) {
	wordcount := filepath.Join(t.TempDir(), "wordcount.wasm")
	if err := guestbuild.Build(filepath.Join("..", "..", "examples", "wasm", "wordcount", "go"), wordcount); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		module    string
		usesState bool
		text      string
	}{
		{upperWasm, false, "state        none (imports no state function)"},
		{wordcount, true, "state        uses keyed state (imports state functions)"},
	} {
		t.Run(filepath.Base(tc.module), func(t *testing.T) {
			r := runCLI(t, "inspect", "--json", tc.module)
			if r.code != exitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if strings.Contains(r.stdout, `\u003e`) || !strings.Contains(r.stdout, ") -> (") {
				t.Errorf("signatures are not printed as written:\n%s", r.stdout)
			}
			var info struct {
				UsesState *bool `json:"uses_state"`
				Imports   []struct{ Module, Name string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
				t.Fatal(err)
			}
			if info.UsesState == nil || *info.UsesState != tc.usesState {
				t.Errorf("uses_state = %v, want %v", info.UsesState, tc.usesState)
			}
			seen := map[string]bool{}
			for _, imp := range info.Imports {
				name := imp.Module + "." + imp.Name
				if seen[name] {
					t.Errorf("import %s listed twice", name)
				}
				seen[name] = true
			}
			if !seen["wasi_snapshot_preview1.fd_write"] {
				t.Errorf("fd_write not listed: %v", info.Imports)
			}
			text := runCLI(t, "inspect", tc.module).stdout
			if !strings.Contains(text, tc.text) {
				t.Errorf("inspect does not say %q:\n%s", tc.text, text)
			}
			if n := strings.Count(text, "wasi_snapshot_preview1.fd_write "); n != 1 {
				t.Errorf("fd_write listed %d times:\n%s", n, text)
			}
		})
	}
}

// TestRunErrorNamesTheOperator guards issue #9 item 9: the error a run
// ended with named a failing operator by its place in the file only
// ("operator operators[0].wasm: ..."), not by the name: the user gave it.
func TestRunErrorNamesTheOperator(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("hello\nerror:boom\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pipeline(t, fmt.Sprintf(`
on_error: {retries: 0}
source: {file: {path: %q}}
operators:
  - {name: checker, wasm: {module: %q}}
  - {name: upper, wasm: {module: %q}}
sink: {stdout: {}}
`, in, conformWasm, upperWasm))
	r := runCLI(t, "run", "--progress", "never", p)
	if r.code != exitOperator {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitOperator, r.stderr)
	}
	if want := "wasmstream: operator checker (operators[0].wasm): "; !strings.Contains(r.stderr, want) {
		t.Fatalf("the error does not name the operator as %q:\n%s", want, r.stderr)
	}
}

// TestLogAttributesOnce guards issue #9 item 9: a guest's log line carried
// its instance twice ("component=greet instance=0 operator=greet
// instance=0"): the runtime's logger for the operator named it, and the
// host added the same attributes again.
func TestLogAttributesOnce(t *testing.T) {
	dir := t.TempDir()
	wat, module := filepath.Join(dir, "greet.wat"), filepath.Join(dir, "greet.wasm")
	// init logs a line; process is never called (the input is empty).
	if err := os.WriteFile(wat, []byte(`(module
  (import "wasmstream" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from init")
  (func (export "wasmstream_abi_version") (result i32) (i32.const 1))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "init") (param i32 i32) (result i32)
    (call $log (i32.const 1) (i32.const 16) (i32.const 15))
    (i32.const 0))
  (func (export "process") (param i32 i32) (result i64) (i64.const -1)))
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("wat2wasm", wat, "-o", module).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, out)
	}
	in := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(in, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := pipeline(t, fmt.Sprintf(`
source: {file: {path: %q}}
operators: [{name: greet, wasm: {module: %q, parallelism: 2}}]
sink: {stdout: {}}
`, in, module))
	r := runCLI(t, "run", "--progress", "never", p)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var line string
	for l := range strings.Lines(r.stderr) {
		if strings.Contains(l, `msg="hello from init"`) {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no log line from the guest:\n%s", r.stderr)
	}
	for _, want := range []string{"pipeline=test", "instance=0"} {
		if !strings.Contains(line, want) {
			t.Errorf("the log line lacks %s: %s", want, line)
		}
	}
	if !strings.Contains(line, "=greet") {
		t.Errorf("the log line does not name the operator: %s", line)
	}
	seen := map[string]bool{}
	for _, f := range strings.Fields(line) {
		k, _, ok := strings.Cut(f, "=")
		if !ok || strings.Contains(k, `"`) {
			continue
		}
		if seen[k] {
			t.Errorf("attribute %s repeated: %s", k, line)
		}
		seen[k] = true
	}
	if strings.Count(line, "=greet") != 1 {
		t.Errorf("the operator is named more than once: %s", line)
	}
}
