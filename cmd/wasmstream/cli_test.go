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

// runCLIEnv is runCLI with extra environment variables.
func runCLIEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

// TestSecondRunSaysWhy guards issue #9 item 1: a second run of a pipeline
// whose source resumes from saved progress printed only "0 records in, 0
// out". It now says once that the source had nothing new, naming the data
// directory and --from-beginning; --from-beginning names what it removes,
// then reads everything again (and, with keyed state, starts the counts
// afresh).
func TestSecondRunSaysWhy(t *testing.T) {
	cases := []struct {
		name    string
		source  func(t *testing.T, dir string) string // the source: line
		op      func(t *testing.T) string             // the operators: line
		removes []string                              // data_dir subdirectories --from-beginning names
		records int
		counted string // with keyed state: a key counted twice by one run
	}{
		{"file path", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "in.txt"), []byte("a\nb\nc\n"), 0o644)
			return fmt.Sprintf("{file: {path: %q}}", filepath.Join(dir, "in.txt"))
		}, func(t *testing.T) string { return fmt.Sprintf("[{wasm: {module: %q}}]", upperWasm) }, []string{"source"}, 3, ""},
		{"file dir", func(t *testing.T, dir string) string {
			in := filepath.Join(dir, "in")
			os.Mkdir(in, 0o755)
			os.WriteFile(filepath.Join(in, "1.txt"), []byte("a\nb\n"), 0o644)
			os.WriteFile(filepath.Join(in, "2.txt"), []byte("c\nd\n"), 0o644)
			return fmt.Sprintf("{file: {dir: %q, watch: false, min_age: 0s}}", in)
		}, func(t *testing.T) string { return fmt.Sprintf("[{wasm: {module: %q}}]", upperWasm) }, []string{"source"}, 4, ""},
		{"collection with keyed state", func(t *testing.T, dir string) string {
			return "{collection: {records: [{key: a, value: a}, {key: b, value: b}, {key: a, value: a}]}}"
		}, func(t *testing.T) string {
			return fmt.Sprintf("[{name: count, wasm: {module: %q, params: {stage: count}}}]", wordcount(t))
		}, []string{"state"}, 3, "a"},
		{"generator with keyed state", func(t *testing.T, dir string) string {
			return "{generator: {count: 40, keys: 1, value_size: 4}}"
		}, func(t *testing.T) string {
			return fmt.Sprintf("[{name: count, wasm: {module: %q, params: {stage: count}}}]", wordcount(t))
		}, []string{"state"}, 40, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := pipeline(t, fmt.Sprintf("source: %s\noperators: %s\nsink: {stdout: {}}\nstate: {query: \"off\"}\n", c.source(t, dir), c.op(t)))
			data := filepath.Join(filepath.Dir(p), "data")
			first := runCLI(t, "run", p)
			if first.code != exitOK || !strings.Contains(first.stderr, fmt.Sprintf("%d records in", c.records)) {
				t.Fatalf("first run: exit %d\n%s", first.code, first.stderr)
			}
			if strings.Contains(first.stderr, "nothing new") {
				t.Fatalf("the first run says nothing was new:\n%s", first.stderr)
			}
			second := runCLI(t, "run", p)
			if second.code != exitOK || second.stdout != "" || !strings.Contains(second.stderr, "0 records in") {
				t.Fatalf("second run: exit %d, stdout %q\n%s", second.code, second.stdout, second.stderr)
			}
			if n := strings.Count(second.stderr, "nothing new to read"); n != 1 {
				t.Fatalf("second run says %d times that nothing was new, want once:\n%s", n, second.stderr)
			}
			for _, want := range []string{data, "--from-beginning", "already read by an earlier run"} {
				if !strings.Contains(second.stderr, want) {
					t.Errorf("second run does not say %q:\n%s", want, second.stderr)
				}
			}
			if q := runCLI(t, "run", "--quiet", p); q.code != exitOK || q.stderr != "" {
				t.Errorf("--quiet: exit %d, stderr %q", q.code, q.stderr)
			}
			again := runCLI(t, "run", "--from-beginning", p)
			if again.code != exitOK || !strings.Contains(again.stderr, fmt.Sprintf("%d records in", c.records)) || strings.Contains(again.stderr, "nothing new") {
				t.Fatalf("--from-beginning: exit %d\n%s", again.code, again.stderr)
			}
			if again.stdout != first.stdout {
				t.Errorf("--from-beginning wrote %q, the first run %q", again.stdout, first.stdout)
			}
			for _, sub := range c.removes {
				want := "removing "
				line := ""
				for _, l := range strings.Split(again.stderr, "\n") {
					if strings.Contains(l, want) && strings.HasSuffix(l, filepath.Join(data, sub)) {
						line = l
					}
				}
				if line == "" {
					t.Errorf("--from-beginning does not name %s before removing it:\n%s", filepath.Join(data, sub), again.stderr)
				}
			}
			if c.counted != "" {
				g := runCLI(t, "state", "get", "--quiet", p, "--operator", "count", c.counted, "count", "--as", "counter")
				if g.code != exitOK || strings.TrimSpace(g.stdout) != "2" {
					t.Fatalf("after --from-beginning the count of a is %q (exit %d, %s), want 2: the state was not discarded", g.stdout, g.code, g.stderr)
				}
			}
		})
	}
}

// TestFromBeginningRefusedWhileRunning guards issue #9 item 1: run
// --from-beginning must not remove the state of a pipeline that is running
// (it holds the state lock): it exits 8, removes nothing, and the running
// pipeline goes on.
func TestFromBeginningRefusedWhileRunning(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	pipe := countPipeline(t, dataDir, 0, 400, `, query: "off"`)
	first := startRun(t, pipe)
	eventually(t, "a checkpoint", func() bool {
		names, _ := filepath.Glob(filepath.Join(dataDir, "state", "checkpoints", "0*"))
		return len(names) > 0 || !first.running()
	})
	if !first.running() {
		t.Fatalf("the first run stopped: %s", first.stderr)
	}
	r := runCLI(t, "run", "--from-beginning", "--quiet", pipe)
	if r.code != exitLocked || !strings.Contains(r.stderr, "not removing anything") || !strings.Contains(r.stderr, "already running") {
		t.Fatalf("--from-beginning while running: exit %d, want %d\n%s", r.code, exitLocked, r.stderr)
	}
	if strings.Contains(r.stderr, "removing keyed state") {
		t.Fatalf("it announced a removal it must not do:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "state", "live")); err != nil {
		t.Fatalf("the running pipeline's store is gone: %v", err)
	}
	if !first.running() {
		t.Fatalf("the first run stopped: %s", first.stderr)
	}
	first.cmd.Process.Signal(syscall.SIGTERM)
	if code := first.wait(t); code != exitInterrupted {
		t.Fatalf("first run: exit %d\n%s", code, first.stderr)
	}
	if r := runCLI(t, "run", "--from-beginning", "--from-savepoint", dataDir, pipe); r.code != exitConfig || !strings.Contains(r.stderr, "exclude each other") {
		t.Fatalf("--from-beginning with --from-savepoint: exit %d\n%s", r.code, r.stderr)
	}
}

// TestSecondSignalExitsAborted guards issue #9 item 9: a second SIGINT
// exited 130, the code the README gives a run that drained. It exits 131.
// The run's stdout is never read, so the drain cannot finish before the
// second signal.
func TestSecondSignalExitsAborted(t *testing.T) {
	p := pipeline(t, `
batch: {size: 10, linger: 1ms}
source: {generator: {value_size: 1KiB}}
sink: {stdout: {}}
`)
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	cmd := exec.Command(binary, "run", "--progress", "always", p)
	var errb bytes.Buffer
	stderr := &lockedWriter{w: &errb}
	cmd.Stdout, cmd.Stderr = wr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wr.Close()
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
	// More than a pipe's 64KiB read: the sink is blocked on stdout.
	read := regexp.MustCompile(`  in (\d{3,}|\d{1,3},[\d,]+)  `)
	eventually(t, "the sink blocked on a full stdout", func() bool { return read.MatchString(text()) })
	cmd.Process.Signal(syscall.SIGINT)
	eventually(t, "the drain to start", func() bool { return strings.Contains(text(), "draining in-flight records") })
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("no exit after the second SIGINT\n%s", text())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitAborted {
		t.Fatalf("exit %d after a second SIGINT, want %d\n%s", code, exitAborted, text())
	}
	if !strings.Contains(text(), "second interrupt: exiting without draining") {
		t.Errorf("stderr does not say it exits without draining:\n%s", text())
	}
}

// TestDumbTerminalProgress guards issue #9 item 9: with TERM=dumb the
// progress line used ANSI escape codes, which such a terminal prints as
// garbage. It is redrawn with carriage returns and spaces only.
func TestDumbTerminalProgress(t *testing.T) {
	p := pipeline(t, fmt.Sprintf(`
source: {generator: {count: 3000, rate: 2000, value_size: 10}}
operators: [{wasm: {module: %q}}]
sink: {stdout: {}}
`, upperWasm))
	r := runCLIEnv(t, []string{"TERM=dumb"}, "run", "--progress", "always", p)
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "\x1b") {
		t.Fatalf("escape codes on a dumb terminal: %q", r.stderr)
	}
	line := regexp.MustCompile(`\r00:00:0\d  in [\d,]+  out [\d,]+  dead 0  [\d,]+ rec/s in`)
	if !line.MatchString(r.stderr) {
		t.Fatalf("no progress line in stderr: %q", r.stderr)
	}
	if !regexp.MustCompile(`\r +\rtest: 3,000 records in, 3,000 out`).MatchString(r.stderr) {
		t.Fatalf("the progress line is not blanked before the summary: %q", r.stderr)
	}
}

// TestSmallCommands guards issue #9 item 9: --version did not exist,
// components NAME listed everything, components --help exited 2, validate
// --quiet still printed the summary, and a .wat module got "not a
// WebAssembly binary" without saying what to do.
func TestSmallCommands(t *testing.T) {
	wat := filepath.Join(t.TempDir(), "op.wat")
	os.WriteFile(wat, []byte("(module\n  (func (export \"process\")))\n"), 0o644)
	watNoExt := filepath.Join(t.TempDir(), "op.wasm")
	os.WriteFile(watNoExt, []byte(";; an operator\n(module)\n"), 0o644)
	valid := func(t *testing.T) string {
		return pipeline(t, fmt.Sprintf("source: {collection: {values: [a]}}\noperators: [{wasm: {module: %q}}]\nsink: {stdout: {}}\n", upperWasm))
	}
	cases := []struct {
		name     string
		args     func(t *testing.T) []string
		code     int
		stdout   *regexp.Regexp // nil: must be empty
		contains string         // in stdout or stderr
		absent   string
	}{
		{"--version", func(*testing.T) []string { return []string{"--version"} }, exitOK, regexp.MustCompile(`^wasmstream (devel|v\S+)( \([0-9a-f]{12}\))? go\S+\n$`), "wasmstream", ""},
		{"components NAME", func(*testing.T) []string { return []string{"components", "generator"} }, exitOK, regexp.MustCompile("^### source `generator`"), "value_size", "### sink"},
		{"components NAME of a source and a sink", func(*testing.T) []string { return []string{"components", "file"} }, exitOK, regexp.MustCompile("(?s)^### source `file`.*### sink `file`"), "max_line", "generator"},
		{"components unknown NAME", func(*testing.T) []string { return []string{"components", "pulsar"} }, exitConfig, nil, `no component named "pulsar"; there are: collection, file, generator, http, kafka`, ""},
		{"components --help", func(*testing.T) []string { return []string{"components", "--help"} }, exitOK, nil, "Usage: wasmstream components", ""},
		{"validate --quiet valid", func(t *testing.T) []string { return []string{"validate", "--quiet", valid(t)} }, exitOK, nil, "", "valid"},
		{"validate --quiet invalid", func(t *testing.T) []string {
			return []string{"validate", "--quiet", pipeline(t, "source: {collection: {valuez: [a]}}\nsink: {stdout: {}}\n")}
		}, exitConfig, nil, `did you mean "values"`, ""},
		{"inspect .wat", func(*testing.T) []string { return []string{"inspect", wat} }, exitConfig, nil, "this is WebAssembly text: assemble it with wat2wasm", ""},
		{"text named .wasm", func(*testing.T) []string { return []string{"inspect", watNoExt} }, exitConfig, nil, "this is WebAssembly text: assemble it with wat2wasm", ""},
		{"run with a .wat operator", func(t *testing.T) []string {
			return []string{"run", pipeline(t, fmt.Sprintf("source: {collection: {values: [a]}}\noperators: [{wasm: {module: %q}}]\nsink: {stdout: {}}\n", wat))}
		}, exitConfig, nil, "this is WebAssembly text: assemble it with wat2wasm", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, c.args(t)...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			if c.stdout == nil && r.stdout != "" {
				t.Errorf("stdout %q, want none", r.stdout)
			}
			if c.stdout != nil && !c.stdout.MatchString(r.stdout) {
				t.Errorf("stdout %q does not match %s", r.stdout, c.stdout)
			}
			if !strings.Contains(r.stdout+r.stderr, c.contains) {
				t.Errorf("output does not contain %q\nstdout: %s\nstderr: %s", c.contains, r.stdout, r.stderr)
			}
			if c.absent != "" && strings.Contains(r.stdout, c.absent) {
				t.Errorf("stdout contains %q:\n%s", c.absent, r.stdout)
			}
		})
	}
}

// TestFromBeginningRemovesWhatACrashLeft guards issue #9 item 1: run
// --from-beginning renames each directory aside before removing it, so a
// crash in between leaves a "*.removing-PID" directory; the next
// --from-beginning names it and removes it too, and reads everything.
func TestFromBeginningRemovesWhatACrashLeft(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("a\nb\n"), 0o644)
	p := pipeline(t, fmt.Sprintf("source: {file: {path: %q}}\nsink: {stdout: {}}\n", in))
	data := filepath.Join(filepath.Dir(p), "data")
	left := filepath.Join(data, "source.removing-12345")
	if err := os.MkdirAll(filepath.Join(left, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "run", "--from-beginning", p)
	if r.code != exitOK || r.stdout != "a\nb\n" {
		t.Fatalf("exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "removing what an interrupted --from-beginning left: "+left+"\n") {
		t.Errorf("the leftover is not named:\n%s", r.stderr)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover is still there: %v", err)
	}
}
