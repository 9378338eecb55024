// Package wordcount_test is the crash test of keyed state: the word count
// runs as a child process, is killed with SIGKILL at random moments and
// restarted each time; its final state must equal a clean run's, and both
// must equal the counts computed here directly.
package wordcount_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/internal/guesttest"
)

// words of the input, and how many lines.
const (
	vocabulary = 3000
	lines      = 60000
	perLine    = 8
)

func writeInput(t *testing.T, path string, rng *rand.Rand) map[string]int64 {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	want := map[string]int64{}
	for i := 0; i < lines; i++ {
		for j := 0; j < perLine; j++ {
			// Zipf-like: low indexes are frequent.
			n := int(float64(vocabulary) * rng.Float64() * rng.Float64())
			word := fmt.Sprintf("w%d", n)
			want[word]++
			if j%3 == 0 {
				word = strings.ToUpper(word) // the operator lower-cases
			}
			if j > 0 {
				w.WriteString(", ")
			}
			w.WriteString(word)
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return want
}

type env struct {
	bin, module, input string
}

func (e env) pipeline(t *testing.T, dir string) string {
	p := filepath.Join(dir, "pipeline.yaml")
	text := fmt.Sprintf(`pipeline: wordcount
data_dir: %q
batch: {size: 500}
source: {file: {path: %q, format: lines}}
operators:
  - name: split
    wasm: {module: %q, params: {stage: split}}
  - name: count
    wasm: {module: %q, parallelism: 2, params: {stage: count}}
sink: {stdout: {}}
state: {checkpoint_interval: 100ms}
`, filepath.Join(dir, "data"), e.input, e.module, e.module)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e env) start(t *testing.T, pipeline string) *exec.Cmd {
	cmd := exec.Command(e.bin, "run", "--quiet", pipeline)
	var stderr strings.Builder
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
	return cmd
}

func TestCrashRecoveryGivesExactCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test runs the word count several times")
	}
	dir := t.TempDir()
	e := env{bin: filepath.Join(dir, "wasmstream"), module: filepath.Join(dir, "wordcount.wasm"), input: filepath.Join(dir, "input.txt")}
	root, _ := guestbuild.Root()
	if out, err := exec.Command("go", "build", "-o", e.bin, filepath.Join(root, "cmd", "wasmstream")).CombinedOutput(); err != nil {
		t.Fatalf("building wasmstream: %v\n%s", err, out)
	}
	if err := guestbuild.Build("go", e.module); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	want := writeInput(t, e.input, rng)

	// A clean run.
	cleanDir := t.TempDir()
	began := time.Now()
	clean := e.start(t, e.pipeline(t, cleanDir))
	if err := clean.Wait(); err != nil {
		t.Fatalf("clean run: %v", err)
	}
	cleanTime := time.Since(began)
	cleanCounts := counts(t, filepath.Join(cleanDir, "data"))
	diff(t, "clean run", cleanCounts, want)

	// Killed at random moments, restarted each time, then run to the end.
	crashDir := t.TempDir()
	p := e.pipeline(t, crashDir)
	// Each run is killed after 5% to 15% of a clean run's time (start-up
	// included), so at least five kills land before the input is done.
	kills := 0
	for attempt := 0; (kills < 5 || rng.IntN(2) == 0) && attempt < 12; attempt++ {
		cmd := e.start(t, p)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d failed: %v", attempt+1, err)
			}
			t.Fatalf("run %d finished before it was killed (a clean run takes %v)", attempt+1, cleanTime)
		case <-time.After(time.Duration(float64(cleanTime) * (0.05 + 0.1*rng.Float64()))):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
	}
	final := e.start(t, p)
	if err := final.Wait(); err != nil {
		t.Fatalf("final run: %v", err)
	}
	t.Logf("killed %d times", kills)
	diff(t, "after crashes", counts(t, filepath.Join(crashDir, "data")), cleanCounts)
}

// counts reads the word counts the count operator keeps.
func counts(t *testing.T, dataDir string) map[string]int64 {
	t.Helper()
	return guesttest.Counters(t, dataDir, "count", "count")
}

func diff(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	guesttest.DiffCounts(t, what, got, want)
}
