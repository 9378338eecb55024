package kafka_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// kcat returns the path of Debian's kcat (librdkafka), the client we did
// not write that produces the input and reads the output here. The test
// command installs it; a plain go test without it skips.
func kcat(t *testing.T) string {
	path, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kcat is not installed (the test command installs it)")
		}
		t.Skip("kcat is not installed")
	}
	return path
}

// TestExactlyOnceThroughCrashes runs Kafka → Wasm word count with keyed
// state → Kafka with exactly_once as a child process, kills it with
// SIGKILL at random moments at least five times, restarts it each time,
// and then lets it finish. kcat produces the input and reads the output
// with isolation.level=read_committed: every word's counts must arrive
// once each, 1, 2, … n with none missing or repeated, and the keyed state
// must hold the exact counts.
func TestExactlyOnceThroughCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test runs the pipeline several times")
	}
	kc := kcat(t)
	c := newCluster(t)
	in, out := c.topic("in", 4, nil), c.topic("out", 4, nil)
	dir := t.TempDir()
	bin, module := filepath.Join(dir, "wasmstream"), filepath.Join(dir, "wordcount.wasm")
	root, err := guestbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "cmd", "wasmstream")).CombinedOutput(); err != nil {
		t.Fatalf("building wasmstream: %v\n%s", err, out)
	}
	if err := guestbuild.Build(filepath.Join(root, "examples", "wasm", "wordcount", "go"), module); err != nil {
		t.Fatal(err)
	}

	// The input: lines of words, produced by kcat with keys.
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	const lines, perLine, vocabulary = 200000, 4, 500
	want := map[string]int64{}
	var input bytes.Buffer
	for i := range lines {
		fmt.Fprintf(&input, "line%d\t", i)
		for j := range perLine {
			w := fmt.Sprintf("w%d", int(float64(vocabulary)*rng.Float64()*rng.Float64()))
			want[w]++
			if j > 0 {
				input.WriteString(", ")
			}
			input.WriteString(w)
		}
		input.WriteByte('\n')
	}
	inputFile := filepath.Join(dir, "input.txt")
	if err := os.WriteFile(inputFile, input.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(kc, "-b", strings.Join(c.brokers, ","), "-t", in, "-P", "-K", "\t", "-l", inputFile).CombinedOutput(); err != nil {
		t.Fatalf("kcat producing: %v\n%s", err, out)
	}
	total := int64(lines * perLine)

	pipeline := filepath.Join(dir, "pipeline.yaml")
	dataDir := filepath.Join(dir, "data")
	if err := os.WriteFile(pipeline, []byte(fmt.Sprintf(`pipeline: eos
data_dir: %q
batch: {size: 500, linger: 5ms}
source:
  kafka: {brokers: [%q], topics: [%q], group: eos, instance_id: eos-1, session_timeout: 6s, start: earliest}
operators:
  - name: split
    wasm: {module: %q, params: {stage: split}}
  - name: count
    wasm: {module: %q, parallelism: 2, params: {stage: count, emit: true}}
sink:
  kafka: {brokers: [%q], topic: %q, delivery: exactly_once, transaction_timeout: 2m}
state: {checkpoint_interval: 200ms, query: "off"}
`, dataDir, c.brokers[0], in, module, module, c.brokers[1], out)), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, "run", pipeline)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		return cmd, &stderr
	}

	// Killed at random moments, each run given 0.5 to 2 seconds.
	kills := 0
	for attempt := 0; kills < 5 && attempt < 12; attempt++ {
		cmd, stderr := start()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			t.Fatalf("run %d ended on its own: %v\n%s", attempt+1, err, stderr)
		case <-time.After(time.Duration(500+rng.IntN(1500)) * time.Millisecond):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
		n := 0
		for _, v := range readCounts(t, kc, c.brokers, out, -1, 0) {
			n += len(v)
		}
		t.Logf("killed run %d: %d of %d counts out", attempt+1, n, total)
		if attempt == 0 && int64(n) >= total {
			t.Fatalf("the first run finished before it was killed: make the input larger")
		}
		if attempt == 0 && !strings.Contains(stderr.String(), "guarantee=exactly-once") {
			t.Errorf("the first run did not print the guarantee in force:\n%s", stderr)
		}
	}
	t.Logf("killed %d times", kills)

	// The last run goes on until every count is out, then stops.
	cmd, stderr := start()
	got := readCounts(t, kc, c.brokers, out, total, 120*time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil && cmd.ProcessState.ExitCode() != 130 { // 130: stopped by a signal, as asked
		t.Fatalf("final run: %v\n%s", err, stderr)
	}
	got = readCounts(t, kc, c.brokers, out, -1, 0) // everything, after the stop

	// Exactly once: each word's emitted counts are 1..n, once each.
	bad := 0
	var n int64
	for w, seen := range got {
		sort.Slice(seen, func(i, j int) bool { return seen[i] < seen[j] })
		ok := int64(len(seen)) == want[w]
		for i, v := range seen {
			if v != int64(i+1) {
				ok = false
			}
		}
		if !ok && bad < 5 {
			t.Errorf("word %s: counts %v, want 1..%d once each", w, short(seen), want[w])
		}
		if !ok {
			bad++
		}
		n += int64(len(seen))
	}
	if len(got) != len(want) {
		t.Errorf("%d words in the output, want %d", len(got), len(want))
	}
	if n != total || bad > 0 {
		t.Fatalf("%d records read_committed, want %d; %d words wrong", n, total, bad)
	}
	// The keyed state is exact.
	st, _, err := state.Open(state.Options{Dir: filepath.Join(dataDir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for w, cnt := range want {
		v, _, ok, err := st.Lookup("count", state.ScopeKey, []byte(w), []byte("count"), false)
		if err != nil || !ok || len(v) != 8 || int64(binary.LittleEndian.Uint64(v)) != cnt {
			t.Fatalf("state of %s: %x %v %v, want %d", w, v, ok, err, cnt)
		}
	}
}

func short(v []int64) string {
	if len(v) > 12 {
		return fmt.Sprint(v[:6], "…", v[len(v)-6:])
	}
	return fmt.Sprint(v)
}

// readCounts reads topic with kcat, read_committed, until want records
// arrived (or, with want < 0, to the end as it stands), and returns each
// word's emitted counts. The word count emits "word n" records.
func readCounts(t *testing.T, kc string, brokers []string, topic string, want int64, timeout time.Duration) map[string][]int64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		cmd := exec.CommandContext(ctx, kc, "-b", strings.Join(brokers, ","), "-C", "-t", topic, "-o", "beginning", "-e", "-q",
			"-X", "isolation.level=read_committed", "-f", "%s\n")
		outp, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("kcat consuming: %v", err)
		}
		got := map[string][]int64{}
		var n int64
		sc := bufio.NewScanner(bytes.NewReader(outp))
		for sc.Scan() {
			word, num, ok := strings.Cut(sc.Text(), " ")
			v, err := strconv.ParseInt(num, 10, 64)
			if !ok || err != nil {
				t.Fatalf("output record %q is not \"word count\"", sc.Text())
			}
			got[word] = append(got[word], v)
			n++
		}
		if want < 0 || n >= want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records out after %v", n, want, timeout)
		}
		time.Sleep(500 * time.Millisecond) // kcat reads to the end and exits: poll again
	}
}
