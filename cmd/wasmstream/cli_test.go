package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// The CLI tests run the real binary as a child process, the way users and
// scripts do: exit codes, stdout and stderr are what is checked.
var (
	binary      string
	upperWasm   string
	conformWasm string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmstream-cli")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "wasmstream")
		if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building wasmstream: %v\n%s", err, out)
			return 1
		}
		upperWasm = filepath.Join(dir, "uppercase.wasm")
		conformWasm = filepath.Join(dir, "conformance.wasm")
		for dst, src := range map[string]string{upperWasm: "uppercase/go", conformWasm: "conformance/go"} {
			if err := guestbuild.Build(filepath.Join("..", "..", "examples", "wasm", src), dst); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

// pipeline writes a pipeline file with a fresh data directory.
func pipeline(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pipeline.yaml")
	text := fmt.Sprintf("pipeline: test\ndata_dir: %q\n%s", filepath.Join(dir, "data"), body)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunSucceeds(t *testing.T) {
	p := pipeline(t, fmt.Sprintf(`
source: {collection: {values: [hello, wasm, "stream é"]}}
operators: [{wasm: {module: %q}}]
sink: {stdout: {}}
`, upperWasm))
	r := runCLI(t, "run", p)
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if r.stdout != "HELLO\nWASM\nSTREAM é\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "3 records in, 3 out") {
		t.Errorf("no summary on stderr: %q", r.stderr)
	}
	q := runCLI(t, "run", "--quiet", p)
	if q.code != exitOK || q.stdout != r.stdout || q.stderr != "" {
		t.Errorf("--quiet: exit %d, stdout %q, stderr %q", q.code, q.stdout, q.stderr)
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		name     string
		args     func(t *testing.T) []string
		code     int
		contains string
	}{
		{"no command", func(t *testing.T) []string { return nil }, exitConfig, "Usage"},
		{"unknown command", func(t *testing.T) []string { return []string{"frobnicate"} }, exitConfig, `unknown command "frobnicate"`},
		{"missing file", func(t *testing.T) []string { return []string{"run", filepath.Join(t.TempDir(), "nope.yaml")} }, exitConfig, "nope.yaml"},
		{"unknown field", func(t *testing.T) []string {
			return []string{"run", pipeline(t, "source: {collection: {valuez: [a]}}\nsink: {stdout: {}}\n")}
		}, exitConfig, `did you mean "values"`},
		{"module refused", func(t *testing.T) []string {
			bad := filepath.Join(t.TempDir(), "bad.wasm")
			os.WriteFile(bad, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
			return []string{"run", pipeline(t, fmt.Sprintf("source: {collection: {values: [a]}}\noperators: [{wasm: {module: %q}}]\nsink: {stdout: {}}\n", bad))}
		}, exitConfig, "missing required export"},
		{"operator stops the pipeline", func(t *testing.T) []string {
			return []string{"run", pipeline(t, fmt.Sprintf(`
source: {collection: {values: [a, "error:out of cheese"]}}
operators: [{wasm: {module: %q}}]
sink: {stdout: {}}
on_error: {retries: 1, backoff: 1ms, action: stop}
`, conformWasm))}
		}, exitOperator, "out of cheese"},
		{"source fails", func(t *testing.T) []string {
			return []string{"run", pipeline(t, `
source: {socket: {address: "127.0.0.1:1", max_retries: 1, reconnect_backoff: 1ms}}
sink: {stdout: {}}
`)}
		}, exitConnector, "127.0.0.1:1"},
		{"validate ok", func(t *testing.T) []string {
			return []string{"validate", pipeline(t, fmt.Sprintf("source: {collection: {values: [a]}}\noperators: [{wasm: {module: %q}}]\nsink: {stdout: {}}\n", upperWasm))}
		}, exitOK, "is valid"},
		{"run --help", func(t *testing.T) []string { return []string{"run", "--help"} }, exitOK, "Usage: wasmstream run"},
		{"validate --help", func(t *testing.T) []string { return []string{"validate", "--help"} }, exitOK, "Usage: wasmstream validate"},
		{"inspect --help", func(t *testing.T) []string { return []string{"inspect", "--help"} }, exitOK, "Usage: wasmstream inspect"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, c.args(t)...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, c.contains) {
				t.Errorf("output does not contain %q\nstdout: %s\nstderr: %s", c.contains, r.stdout, r.stderr)
			}
		})
	}
}

func TestInspect(t *testing.T) {
	r := runCLI(t, "inspect", "--json", upperWasm)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	if info["abi_version"] != float64(1) || info["language"] != "Go" {
		t.Errorf("inspect --json: %v", info)
	}
	text := runCLI(t, "inspect", upperWasm)
	for _, want := range []string{"abi version  1", "language     Go", "process", "memory"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text.stdout)
		}
	}
}

var summaryRE = regexp.MustCompile(`([\d,]+) records in, ([\d,]+) out`)

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInterruptDrains sends SIGINT to a pipeline reading an endless source
// through a Wasm operator: it stops reading, drains what is in flight and
// exits 130, and every record it read reached stdout.
func TestInterruptDrains(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := pipeline(t, fmt.Sprintf(`
batch: {size: 100, linger: 50ms}
source: {generator: {rate: 5000, value_size: 20}}
operators: [{wasm: {module: %q, parallelism: 2}}]
sink: {stdout: {}}
`, upperWasm))
			cmd := exec.Command(binary, "run", p)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			lines := 0
			for lines < 300 && sc.Scan() {
				lines++
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			for sc.Scan() {
				if strings.ToUpper(sc.Text()) != sc.Text() {
					t.Fatalf("line %q not upper-cased", sc.Text())
				}
				lines++
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("did not exit after %v\n%s", sig, errb.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
				t.Fatalf("exit %d, want %d\n%s", code, exitInterrupted, errb.String())
			}
			m := summaryRE.FindStringSubmatch(errb.String())
			if m == nil {
				t.Fatalf("no summary:\n%s", errb.String())
			}
			in, out := atoi(t, m[1]), atoi(t, m[2])
			if in != out || out != lines {
				t.Fatalf("read %d, wrote %d, stdout has %d lines: records were lost\n%s", in, out, lines, errb.String())
			}
		})
	}
}

// TestProgressLine forces the live progress line (a terminal gets it by
// default) and checks it is redrawn in place with the counts and the rate,
// then cleared before the summary.
func TestProgressLine(t *testing.T) {
	p := pipeline(t, fmt.Sprintf(`
source: {generator: {count: 3000, rate: 2000, value_size: 10}}
operators: [{wasm: {module: %q}}]
sink: {stdout: {}}
`, upperWasm))
	r := runCLI(t, "run", "--progress", "always", p)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	line := regexp.MustCompile(`\r\x1b\[K00:00:0\d  in [\d,]+  out [\d,]+  dead 0  [\d,]+ rec/s in`)
	if !line.MatchString(r.stderr) {
		t.Fatalf("no progress line in stderr: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, "\r\x1b[K"+"test: 3,000 records in, 3,000 out") {
		t.Fatalf("the progress line is not cleared before the summary: %q", r.stderr)
	}
	if q := runCLI(t, "run", "--progress", "never", p); strings.Contains(q.stderr, "\r") {
		t.Fatalf("--progress never drew a line: %q", q.stderr)
	}
}

// TestCorruptStateRefusesToStart: a data directory whose state store is
// corrupt stops run with exit 7 and the store's path, rather than starting
// empty; state.on_corrupt: checkpoint restores the newest valid checkpoint.
func TestCorruptStateRefusesToStart(t *testing.T) {
	body := fmt.Sprintf(`
source: {collection: {records: [{key: a, value: a}, {key: b, value: b}, {key: a, value: a}]}}
operators: [{name: count, wasm: {module: %q, params: {stage: count}}}]
sink: {stdout: {}}
state: {query: "off"}
`, wordcount(t))
	p := pipeline(t, body)
	if r := runCLI(t, "run", "--quiet", p); r.code != exitOK {
		t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
	}
	live := filepath.Join(filepath.Dir(p), "data", "state", "live")
	manifests, _ := filepath.Glob(filepath.Join(live, "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatalf("no store manifest in %s", live)
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, []byte("not a manifest"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, "run", "--quiet", p)
	if r.code != exitState || !strings.Contains(r.stderr, live) || !strings.Contains(r.stderr, "on_corrupt") {
		t.Fatalf("corrupt store: exit %d, want %d naming %s: %s", r.code, exitState, live, r.stderr)
	}
	// Told to, it restores the checkpoint the first run retained: the
	// counts of a, b, a are there, and the collection is not read again.
	os.WriteFile(p, []byte(strings.Replace(string(must(os.ReadFile(p))), `state: {query: "off"}`, `state: {query: "off", on_corrupt: checkpoint}`, 1)), 0o644)
	if r := runCLI(t, "run", "--quiet", p); r.code != exitOK {
		t.Fatalf("with on_corrupt checkpoint: exit %d: %s", r.code, r.stderr)
	}
	if g := runCLI(t, "state", "get", "--quiet", p, "--operator", "count", "a", "count", "--as", "counter"); g.code != exitOK || strings.TrimSpace(g.stdout) != "2" {
		t.Fatalf("state get after restoring: exit %d: %s %s", g.code, g.stdout, g.stderr)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestStateExitCodeMapping guards issue #8 items 5 and 6: a failed
// checkpoint reached through the source's reader exited 4 (a source
// failure), and a held lock exited 7 (corruption). A checkpoint failure
// exits 7 whichever stage reports it; a held lock exits 8.
func TestStateExitCodeMapping(t *testing.T) {
	locked := &state.LockedError{Dir: "/d/state", PID: 42, Holder: state.HolderRun}
	cases := []struct {
		name string
		err  error
		code int
	}{
		{"checkpoint failed in the reader", &runtime.StageError{Kind: runtime.KindSource, Component: "src", Err: fmt.Errorf("checkpoint: %w", fmt.Errorf("%w: reading the source position: boom", runtime.ErrCheckpoint))}, exitState},
		{"store failed", &runtime.StageError{Kind: runtime.KindState, Component: "state", Err: state.ErrFailed}, exitState},
		{"locked", &runtime.StageError{Kind: runtime.KindState, Component: "state", Err: fmt.Errorf("opening the state store: %w", locked)}, exitLocked},
		{"a real source failure", &runtime.StageError{Kind: runtime.KindSource, Component: "src", Err: errors.New("connection refused")}, exitConnector},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := exitCode(c.err, false, io.Discard); got != c.code {
				t.Fatalf("exit %d, want %d for %v", got, c.code, c.err)
			}
		})
	}
}
