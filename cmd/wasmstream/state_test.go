package main

import (
	"bytes"
	encbin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/generator"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// The state tests run the word count's counting stage over generated
// records keyed key-0 … key-<keys-1>: the count of a key after n records is
// known exactly (generator.AppendKey), so every answer can be checked.

var (
	wordcountOnce sync.Once
	wordcountWasm string
	wordcountErr  error
)

// wordcount builds examples/wasm/wordcount/go once, beside the binary.
func wordcount(t *testing.T) string {
	t.Helper()
	wordcountOnce.Do(func() {
		wordcountWasm = filepath.Join(filepath.Dir(binary), "wordcount.wasm")
		wordcountErr = guestbuild.Build(filepath.Join("..", "..", "examples", "wasm", "wordcount", "go"), wordcountWasm)
	})
	if wordcountErr != nil {
		t.Fatal(wordcountErr)
	}
	return wordcountWasm
}

const stateKeys = 30

// countPipeline writes a pipeline counting generated records per key.
// count 0 generates until stopped; rate 0 as fast as the pipeline goes;
// stateExtra is added to the state settings.
func countPipeline(t *testing.T, dataDir string, count, rate int, stateExtra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	text := fmt.Sprintf(`pipeline: counts
data_dir: %q
batch: {size: 50, linger: 10ms}
source: {generator: {count: %d, rate: %d, keys: %d, value_size: 8}}
operators:
  - name: count
    wasm: {module: %q, parallelism: 2, params: {stage: count}}
sink: {stdout: {}}
state: {checkpoint_interval: 100ms%s}
`, dataDir, count, rate, stateKeys, wordcount(t), stateExtra)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// expected is every key's count after the first n records.
func expected(n int64) map[string]int64 {
	want := map[string]int64{}
	for i := int64(0); i < n; i++ {
		want[string(generator.AppendKey(nil, 0, i, stateKeys))]++
	}
	return want
}

// proc is a running `wasmstream run`.
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

func startRun(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"run"}, args...)...)
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = io.Discard, &lockedWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		p.cmd.Process.Kill()
		t.Fatalf("the pipeline did not stop\n%s", p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// eventually polls cond until it holds, failing after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getJSON sends a GET and decodes the JSON answer.
func getJSON(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return resp.StatusCode, d
}

// counterAt reads a key's counter over HTTP; absent is 0, and -1 means
// the store is not open yet.
func counterAt(t *testing.T, base, key, consistency string) int64 {
	t.Helper()
	status, d := getJSON(t, base+"/v1/state/count/keys/"+segment(key)+"/count?as=counter&consistency="+consistency)
	switch status {
	case http.StatusOK:
		return int64(d["counter"].(float64))
	case http.StatusNotFound:
		return 0
	case http.StatusServiceUnavailable:
		return -1
	}
	t.Fatalf("reading %s (%s): %d %v", key, consistency, status, d)
	return 0
}

// parseList reads `state list` output into counts, failing on a key seen
// twice.
func parseList(t *testing.T, out string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[1] != "count" {
			t.Fatalf("list line %q", line)
		}
		if _, dup := got[f[0]]; dup {
			t.Fatalf("key %s listed twice:\n%s", f[0], out)
		}
		n, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("list line %q: %v", line, err)
		}
		got[f[0]] = n
	}
	return got
}

func sameCounts(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %s = %d, want %d", what, k, got[k], n)
		}
	}
}

// TestQueryWhileRunning runs a rate-limited counting pipeline and, while it
// runs, reads state over HTTP and through the CLI, pages through every
// key, and takes a savepoint; after SIGINT it reads the store directly;
// then a run in a fresh data directory from the savepoint ends with the
// counts of a run that never stopped.
func TestQueryWhileRunning(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	pipe := countPipeline(t, dataDir, 0, 400, "")
	run := startRun(t, pipe)

	addrFile := filepath.Join(dataDir, "query.addr")
	var base string
	eventually(t, "query.addr", func() bool {
		b, err := os.ReadFile(addrFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			base = "http://" + strings.TrimSpace(string(b))
		}
		return base != "" || !run.running()
	})
	if !run.running() {
		t.Fatalf("the pipeline stopped: %s", run.stderr)
	}

	// Counts grow, and never go back; a checkpoint read never exceeds the
	// live read that follows it.
	var prev, first int64 = 0, -1
	eventually(t, "key-1 to grow", func() bool {
		ckpt := counterAt(t, base, "key-1", "checkpoint")
		live := counterAt(t, base, "key-1", "live")
		if ckpt < 0 || live < 0 {
			return false
		}
		if ckpt > live {
			t.Fatalf("checkpoint read %d exceeds the live read after it, %d", ckpt, live)
		}
		if live < prev {
			t.Fatalf("key-1 went from %d to %d", prev, live)
		}
		prev = live
		if first < 0 && live > 0 {
			first = live
		}
		return first > 0 && live > first+5
	})
	_, st := getJSON(t, base+"/v1/status")
	if st["running"] != true || st["store"] != "open" || st["records_in"].(float64) == 0 {
		t.Errorf("status %v", st)
	}

	// Pages of 7 keys cover every key exactly once, in order.
	eventually(t, "every key to be counted", func() bool {
		_, d := getJSON(t, base+"/v1/state/count/keys?limit=100")
		return len(d["keys"].([]any)) == stateKeys
	})
	var keys []string
	cursor := ""
	for pages := 0; pages < 20; pages++ {
		u := base + "/v1/state/count/keys?limit=7"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		status, d := getJSON(t, u)
		if status != http.StatusOK {
			t.Fatalf("page %d: %d %v", pages, status, d)
		}
		for _, k := range d["keys"].([]any) {
			keys = append(keys, k.(map[string]any)["key"].(string))
		}
		cursor, _ = d["next_cursor"].(string)
		if cursor == "" {
			break
		}
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	if len(keys) != stateKeys || !slices.Equal(keys, slices.Compact(sorted)) {
		t.Fatalf("paged keys %q: want each of %d keys once, in order", keys, stateKeys)
	}

	// The CLI finds the running pipeline and says so.
	r := runCLI(t, "state", "list", pipe, "--operator", "count", "--all", "--limit", "4")
	if r.code != exitOK || !strings.Contains(r.stderr, "running pipeline") {
		t.Fatalf("state list: exit %d\n%s", r.code, r.stderr)
	}
	if got := parseList(t, r.stdout); len(got) != stateKeys {
		t.Fatalf("state list --all: %d keys", len(got))
	}
	r = runCLI(t, "state", "get", pipe, "--operator", "count", "key-2", "count", "--consistency", "checkpoint")
	if r.code != exitOK || !strings.Contains(r.stderr, "as of the last checkpoint") {
		t.Fatalf("state get: exit %d\n%s", r.code, r.stderr)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(r.stdout)); err != nil || n <= 0 {
		t.Fatalf("state get: %q", r.stdout)
	}

	// A savepoint while running.
	sp := filepath.Join(t.TempDir(), "sp")
	r = runCLI(t, "savepoint", pipe, "--dir", sp, "--json")
	if r.code != exitOK {
		t.Fatalf("savepoint: exit %d\n%s", r.code, r.stderr)
	}
	var spDoc struct {
		Savepoint struct {
			ID  int64  `json:"id"`
			Dir string `json:"dir"`
		} `json:"savepoint"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &spDoc); err != nil || spDoc.Savepoint.ID == 0 || spDoc.Savepoint.Dir != sp {
		t.Fatalf("savepoint answer %q: %v", r.stdout, err)
	}
	if !run.running() {
		t.Fatal("the pipeline stopped before the test stopped it")
	}

	// Stop it; it drains, checkpoints and removes query.addr.
	run.cmd.Process.Signal(syscall.SIGINT)
	if code := run.wait(t); code != exitInterrupted {
		t.Fatalf("exit %d\n%s", code, run.stderr)
	}
	if _, err := os.Stat(addrFile); !os.IsNotExist(err) {
		t.Errorf("query.addr left behind: %v", err)
	}
	m := summaryRE.FindStringSubmatch(run.stderr.String())
	if m == nil {
		t.Fatalf("no summary:\n%s", run.stderr)
	}
	read := int64(atoi(t, m[1]))

	// Not running: the CLI reads the store directly, and it holds exactly
	// the records read.
	r = runCLI(t, "state", "list", pipe, "--operator", "count", "--all")
	if r.code != exitOK || !strings.Contains(r.stderr, "not running") {
		t.Fatalf("state list after exit: %d\n%s", r.code, r.stderr)
	}
	want := expected(read)
	sameCounts(t, "after the run", parseList(t, r.stdout), want)
	r = runCLI(t, "state", "get", pipe, "--operator", "count", "key-7", "--json")
	var got struct {
		Running bool `json:"running"`
		Entries []struct {
			Name    string `json:"name"`
			Counter int64  `json:"counter"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != exitOK {
		t.Fatalf("state get --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if got.Running || len(got.Entries) != 1 || got.Entries[0].Counter != want["key-7"] {
		t.Errorf("state get --json after exit: %+v, want key-7 = %d", got, want["key-7"])
	}

	// The savepoint holds counts and the source position of one moment.
	saved, _, pos := savepointCounts(t, sp)
	var sum int64
	for _, n := range saved {
		sum += n
	}
	if sum != pos || pos == 0 || pos > read {
		t.Fatalf("savepoint: counts add up to %d, position %d, records read %d", sum, pos, read)
	}
	sameCounts(t, "savepoint", saved, expected(pos))

	// A fresh data directory started from the savepoint resumes there: it
	// reads only what follows the position, and ends with every count.
	const total = 20000
	fresh := filepath.Join(t.TempDir(), "data2")
	pipe2 := countPipeline(t, fresh, total, 0, "")
	r = runCLI(t, "run", "--from-savepoint", sp, pipe2)
	if r.code != exitOK {
		t.Fatalf("run --from-savepoint: exit %d\n%s", r.code, r.stderr)
	}
	m = summaryRE.FindStringSubmatch(r.stderr)
	if m == nil || int64(atoi(t, m[1])) != total-pos {
		t.Fatalf("run --from-savepoint read %v records, want %d (the savepoint was at %d)\n%s", m, total-pos, pos, r.stderr)
	}
	r = runCLI(t, "state", "list", pipe2, "--operator", "count", "--all", "--quiet")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("state list: exit %d\n%s", r.code, r.stderr)
	}
	sameCounts(t, "from the savepoint", parseList(t, r.stdout), expected(total))
}

// savepointCounts opens a copy of a savepoint and returns its counts, its
// id and the source position it holds.
func savepointCounts(t *testing.T, dir string) (map[string]int64, uint64, int64) {
	t.Helper()
	st, pos, err := state.Open(state.Options{Dir: t.TempDir(), FromSavepoint: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := map[string]int64{}
	var cursor []byte
	for {
		page, next, err := st.List("count", state.ScopeKey, nil, cursor, 1000, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			got[string(e.Key)] = int64(encbin.LittleEndian.Uint64(e.Value))
		}
		if next == nil {
			break
		}
		cursor = next
	}
	if len(pos) != 8 {
		t.Fatalf("savepoint position %x", pos)
	}
	return got, st.LastCheckpoint().ID, int64(encbin.BigEndian.Uint64(pos))
}

// TestStateAfterKill: a pipeline killed with SIGKILL leaves query.addr
// behind; the CLI finds nobody answering there and reads the store
// directly, which holds the last checkpoint.
func TestStateAfterKill(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	pipe := countPipeline(t, dataDir, 0, 400, "")
	run := startRun(t, pipe)
	var base string
	eventually(t, "a checkpoint", func() bool {
		if base == "" {
			if b, err := os.ReadFile(filepath.Join(dataDir, "query.addr")); err == nil && strings.HasSuffix(string(b), "\n") {
				base = "http://" + strings.TrimSpace(string(b))
			}
			return false
		}
		_, d := getJSON(t, base+"/v1/status")
		return d["last_checkpoint"] != nil
	})
	run.cmd.Process.Kill()
	run.wait(t)
	r := runCLI(t, "state", "list", pipe, "--operator", "count", "--all")
	if r.code != exitOK || !strings.Contains(r.stderr, "ignoring") || !strings.Contains(r.stderr, "not running") {
		t.Fatalf("state list after SIGKILL: exit %d\n%s", r.code, r.stderr)
	}
	got := parseList(t, r.stdout)
	var sum int64
	for _, n := range got {
		sum += n
	}
	if sum == 0 {
		t.Fatal("no counts after a checkpoint")
	}
	sameCounts(t, "after SIGKILL", got, expected(sum))

	// A savepoint of a stopped pipeline copies its last checkpoint.
	sp := filepath.Join(t.TempDir(), "sp")
	r = runCLI(t, "savepoint", pipe, "--dir", sp)
	if r.code != exitOK || !strings.Contains(r.stdout, "copied from the last checkpoint") {
		t.Fatalf("savepoint: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	saved, _, pos := savepointCounts(t, sp)
	if pos != sum {
		t.Fatalf("savepoint position %d, want %d", pos, sum)
	}
	sameCounts(t, "savepoint after SIGKILL", saved, got)
}

// TestStateLockedStore: with the query server off, the running pipeline's
// store is locked, and the CLI says so rather than reading it: exit 8,
// naming the pipeline's pid.
func TestStateLockedStore(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	pipe := countPipeline(t, dataDir, 0, 200, `, query: "off"`)
	run := startRun(t, pipe)
	eventually(t, "the store to exist", func() bool {
		_, err := os.Stat(filepath.Join(dataDir, "state", "checkpoints"))
		return err == nil || !run.running()
	})
	if _, err := os.Stat(filepath.Join(dataDir, "query.addr")); err == nil {
		t.Fatal("query.addr written with state.query off")
	}
	r := runCLI(t, "state", "get", pipe, "--operator", "count", "key-1")
	want := fmt.Sprintf("pipeline already running, pid %d", run.cmd.Process.Pid)
	if r.code != exitLocked || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "state.query: off") {
		t.Fatalf("exit %d, want %d saying %q\n%s", r.code, exitLocked, want, r.stderr)
	}
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.wait(t)
}

func TestStateExitCodes(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	pipe := countPipeline(t, dataDir, 500, 0, "")
	empty := countPipeline(t, filepath.Join(t.TempDir(), "never-run"), 10, 0, "")
	if r := runCLI(t, "run", "--quiet", pipe); r.code != exitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	cases := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"state alone", []string{"state"}, exitConfig, "Usage"},
		{"state --help", []string{"state", "--help"}, exitOK, "state get"},
		{"get --help", []string{"state", "get", "--help"}, exitOK, "Usage: wasmstream state get"},
		{"list --help", []string{"state", "list", "--help"}, exitOK, "Usage: wasmstream state list"},
		{"savepoint --help", []string{"savepoint", "--help"}, exitOK, "Usage: wasmstream savepoint"},
		{"no operator", []string{"state", "get", pipe, "key-1"}, exitConfig, "--operator is required"},
		{"unknown operator", []string{"state", "get", pipe, "--operator", "nope", "key-1"}, exitConfig, `no operator "nope"`},
		{"missing key", []string{"state", "get", pipe, "--operator", "count", "key-999"}, exitNotFound, "no state for key"},
		{"missing name", []string{"state", "get", pipe, "--operator", "count", "key-1", "nope"}, exitNotFound, "no value"},
		{"bad consistency", []string{"state", "get", pipe, "--operator", "count", "key-1", "--consistency", "eventual"}, exitConfig, "consistency"},
		{"not a counter", []string{"state", "list", pipe, "--operator", "count", "--as", "text"}, exitOK, "count"},
		{"never run", []string{"state", "list", empty, "--operator", "count"}, exitNotFound, "has not run"},
		{"savepoint never run", []string{"savepoint", empty}, exitNotFound, "has not run"},
		{"not a savepoint", []string{"run", "--from-savepoint", t.TempDir(), pipe}, exitConfig, "not a savepoint"},
		{"value", []string{"state", "get", pipe, "--operator", "count", "key-3", "count", "--quiet"}, exitOK, strconv.FormatInt(expected(500)["key-3"], 10)},
		{"prefix", []string{"state", "list", pipe, "--operator", "count", "--prefix", "key-2", "--quiet"}, exitOK, "key-29\tcount"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, c.contains) {
				t.Errorf("output does not contain %q\nstdout: %s\nstderr: %s", c.contains, r.stdout, r.stderr)
			}
		})
	}
}

// TestSecondRunIsLockedNotCorrupt guards issue #8 item 5: a second run of
// a running pipeline reported "state store corrupt: lock held", and with
// on_corrupt: empty moved the live store aside under the first run, which
// went on writing into the moved directory. The second run exits 8 naming
// the first's pid, touches nothing, and the first run's state is whole.
func TestSecondRunIsLockedNotCorrupt(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	pipe := countPipeline(t, dataDir, 0, 400, `, on_corrupt: empty`)
	first := startRun(t, pipe)
	eventually(t, "a checkpoint", func() bool {
		names, _ := filepath.Glob(filepath.Join(dataDir, "state", "checkpoints", "0*"))
		return len(names) > 0 || !first.running()
	})
	if !first.running() {
		t.Fatalf("the first run stopped: %s", first.stderr)
	}
	r := runCLI(t, "run", "--quiet", pipe)
	want := fmt.Sprintf("pipeline already running, pid %d", first.cmd.Process.Pid)
	if r.code != exitLocked || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "corrupt") {
		t.Fatalf("second run: exit %d, want %d saying %q\n%s", r.code, exitLocked, want, r.stderr)
	}
	if aside, _ := filepath.Glob(filepath.Join(dataDir, "state", "live.corrupt-*")); len(aside) > 0 {
		t.Fatalf("the live store was moved aside: %v", aside)
	}
	if !first.running() {
		t.Fatalf("the first run stopped: %s", first.stderr)
	}
	first.cmd.Process.Signal(syscall.SIGTERM)
	if code := first.wait(t); code != exitInterrupted {
		t.Fatalf("first run: exit %d\n%s", code, first.stderr)
	}
	r = runCLI(t, "state", "list", pipe, "--operator", "count", "--all", "--quiet")
	if r.code != exitOK {
		t.Fatalf("state list: exit %d\n%s", r.code, r.stderr)
	}
	got := parseList(t, r.stdout)
	var sum int64
	for _, n := range got {
		sum += n
	}
	if sum == 0 {
		t.Fatal("no counts")
	}
	sameCounts(t, "after the refused second run", got, expected(sum))
}

// TestDamagedStoreRefused guards issue #8 item 8 at the command line: a
// truncated live MANIFEST, or one flipped byte in a table, must end run
// and state list with exit 7 naming the store, never a panic (exit 2) or
// a run that succeeds on wrong counts; on_corrupt: checkpoint then starts
// from a checkpoint whose counts match its position, or, when every
// retained checkpoint shares the damaged table, refuses too.
func TestDamagedStoreRefused(t *testing.T) {
	const damagedRecords, damagedKeys = 60_000, 20_000
	truncate := func(t *testing.T, live string) {
		ms, _ := filepath.Glob(filepath.Join(live, "MANIFEST-*"))
		for _, m := range ms {
			fi, err := os.Stat(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(m, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}
	}
	flip := func(t *testing.T, live string) {
		ssts, _ := filepath.Glob(filepath.Join(live, "*.sst"))
		if len(ssts) == 0 {
			t.Fatal("no table")
		}
		for _, f := range ssts {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name   string
		damage func(*testing.T, string)
		cmd    []string // before the pipeline file
		args   []string // after it
		shared bool     // the damage may reach every retained checkpoint
	}{
		{"truncated MANIFEST, run", truncate, []string{"run", "--quiet"}, nil, false},
		{"truncated MANIFEST, state list", truncate, []string{"state", "list"}, []string{"--operator", "count", "--all"}, false},
		{"flipped table byte, run", flip, []string{"run", "--quiet"}, nil, true},
		{"flipped table byte, state list", flip, []string{"state", "list"}, []string{"--operator", "count", "--all"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			// Several checkpoints, the store flushed to tables between
			// them by a small write cache.
			pipe := filepath.Join(t.TempDir(), "pipeline.yaml")
			text := fmt.Sprintf(`pipeline: counts
data_dir: %q
batch: {size: 500, linger: 10ms}
source: {generator: {count: %d, keys: %d, value_size: 8}}
operators:
  - name: count
    wasm: {module: %q, params: {stage: count}}
sink: {stdout: {}}
state: {checkpoint_interval: 1h, write_cache: 256KiB, query: "off"}
`, dataDir, damagedRecords, damagedKeys, wordcount(t))
			if err := os.WriteFile(pipe, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if r := runCLI(t, "run", "--quiet", pipe); r.code != exitOK {
				t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
			}
			live := filepath.Join(dataDir, "state", "live")
			ckpts, _ := filepath.Glob(filepath.Join(dataDir, "state", "checkpoints", "0*"))
			ssts, _ := filepath.Glob(filepath.Join(live, "*.sst"))
			if len(ckpts) < 2 || len(ssts) == 0 {
				t.Fatalf("the first run left %d checkpoints and %d tables: too few to damage", len(ckpts), len(ssts))
			}
			c.damage(t, live)
			args := append(append(slices.Clone(c.cmd), pipe), c.args...)
			r := runCLI(t, args...)
			if r.code != exitState || !strings.Contains(r.stderr, live) || strings.Contains(r.stderr, "panic") {
				t.Fatalf("%v on a damaged store: exit %d, want %d naming %s\n%s", args, r.code, exitState, live, r.stderr)
			}
			os.WriteFile(pipe, []byte(strings.Replace(string(must(os.ReadFile(pipe))), `query: "off"`, `query: "off", on_corrupt: checkpoint`, 1)), 0o644)
			r = runCLI(t, "run", "--quiet", pipe)
			if r.code == exitState && c.shared && strings.Contains(r.stderr, "no valid checkpoint to restore") {
				// Every retained checkpoint holds the damaged table (they
				// are hard links to the live store's tables): refused, not
				// restored from a damaged copy.
				return
			}
			if r.code != exitOK {
				t.Fatalf("with on_corrupt: checkpoint: exit %d\n%s", r.code, r.stderr)
			}
			r = runCLI(t, "state", "list", pipe, "--operator", "count", "--all", "--quiet")
			if r.code != exitOK {
				t.Fatalf("state list after the restore: exit %d\n%s", r.code, r.stderr)
			}
			want := map[string]int64{}
			for i := int64(0); i < damagedRecords; i++ {
				want[string(generator.AppendKey(nil, 0, i, damagedKeys))]++
			}
			sameCounts(t, "after the restore", parseList(t, r.stdout), want)
		})
	}
}
