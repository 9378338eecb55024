// Package lookup_test is the crash test of async I/O with keyed state: the
// lookup operator (examples/wasm/lookup/go) asks a local HTTP service about
// every word of a file and counts the answers per word in keyed state. The
// pipeline runs as a child process, is killed with SIGKILL at random
// moments, with requests in flight, and restarted each time; its final
// counts must equal the words' occurrences exactly: no answer counted
// twice, none lost.
package lookup_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/internal/guesttest"
)

func TestAsyncCrashRecoveryGivesExactCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test runs the pipeline several times")
	}
	dir := t.TempDir()
	bin, module := filepath.Join(dir, "wasmstream"), filepath.Join(dir, "lookup.wasm")
	root, _ := guestbuild.Root()
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "cmd", "wasmstream")).CombinedOutput(); err != nil {
		t.Fatalf("building wasmstream: %v\n%s", err, out)
	}
	if err := guestbuild.Build("go", module); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))

	// The service answers each word with itself after up to 2ms.
	var served atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		served.Add(1)
		io.WriteString(w, strings.TrimPrefix(r.URL.Path, "/v/"))
	})}
	go srv.Serve(l)
	defer srv.Close()

	input := filepath.Join(dir, "input.txt")
	want := map[string]int64{}
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	const lines = 20000
	for range lines {
		word := fmt.Sprintf("w%d", int(500*rng.Float64()*rng.Float64()))
		want[word]++
		fmt.Fprintln(w, word)
	}
	w.Flush()
	f.Close()

	pipeline := func(dir string) string {
		p := filepath.Join(dir, "pipeline.yaml")
		text := fmt.Sprintf(`pipeline: lookup-crash
data_dir: %q
batch: {size: 200}
source: {file: {path: %q, format: lines}}
operators:
  - name: lookup
    wasm:
      module: %q
      params: {kind: http, count: true}
      async:
        mode: unordered
        capacity: 64
        targets:
          svc: {http: {url: "http://%s"}}
sink: {stdout: {}}
state: {checkpoint_interval: 100ms}
`, filepath.Join(dir, "data"), input, module, l.Addr())
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	start := func(p string) *exec.Cmd {
		cmd := exec.Command(bin, "run", "--quiet", p)
		cmd.Stdout = io.Discard
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

	cleanDir := t.TempDir()
	began := time.Now()
	if err := start(pipeline(cleanDir)).Wait(); err != nil {
		t.Fatalf("clean run: %v", err)
	}
	cleanTime := time.Since(began)
	guesttest.DiffCounts(t, "clean run", guesttest.Counters(t, filepath.Join(cleanDir, "data"), "lookup", "count"), want)
	t.Logf("a clean run took %v", cleanTime)

	crashDir := t.TempDir()
	p := pipeline(crashDir)
	kills := 0
	for attempt := 0; (kills < 5 || rng.IntN(2) == 0) && attempt < 12; attempt++ {
		cmd := start(p)
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
	if err := start(p).Wait(); err != nil {
		t.Fatalf("the last run: %v", err)
	}
	guesttest.DiffCounts(t, fmt.Sprintf("after %d kills", kills), guesttest.Counters(t, filepath.Join(crashDir, "data"), "lookup", "count"), want)
	t.Logf("%d kills; the service answered %d requests for %d words in both runs (lookups of the records since each checkpoint were made again)", kills, served.Load(), 2*lines)
}
