package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// withCustomSection returns module with a custom section appended: the
// same code under another digest, so a second version of a module.
func withCustomSection(module []byte, name, payload string) []byte {
	body := append(uleb(nil, uint64(len(name))), name...)
	body = append(body, payload...)
	out := append(bytes.Clone(module), 0)
	out = uleb(out, uint64(len(body)))
	return append(out, body...)
}

func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// replaceFile writes data to path the way a build tool should: a
// temporary file renamed over it.
func replaceFile(t *testing.T, path string, data []byte) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRunWatchSwapsModules: run --watch swaps the word count's module
// when its file changes, while records flow: a file that is not a module
// is refused and the running one kept; a new version takes over with the
// counts kept, so every key's counts arrive as 1, 2, … n, each once.
func TestRunWatchSwapsModules(t *testing.T) {
	dir := t.TempDir()
	module := filepath.Join(dir, "count.wasm")
	if err := guestbuild.Build(filepath.Join("..", "..", "examples", "wasm", "wordcount", "go"), module); err != nil {
		t.Fatal(err)
	}
	v1, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	// 8s of records at 2000/s: room for a swap whose compile takes seconds on a loaded machine.
	const records, keys = 16000, 20
	pipeline := filepath.Join(dir, "watch.yaml")
	if err := os.WriteFile(pipeline, []byte(fmt.Sprintf(`pipeline: watch
data_dir: %q
source: {generator: {count: %d, rate: 2000, keys: %d}}
batch: {size: 50, linger: 5ms}
operators:
  - name: count
    wasm: {module: %q, params: {stage: count, emit: true}}
sink: {stdout: {}}
state: {checkpoint_interval: 1s, query: "off"}
`, filepath.Join(dir, "data"), records, keys, module)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "run", "--watch", "--canary", "3", pipeline)
	var stderr bytes.Buffer
	errw := &lockedWriter{w: &stderr}
	cmd.Stderr = errw
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var mu sync.Mutex
	var lines []string
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(lines)
	}
	logged := func(s string) func() bool {
		return func() bool {
			errw.mu.Lock()
			defer errw.mu.Unlock()
			return strings.Contains(stderr.String(), s)
		}
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("the first counts", func() bool { return count() >= 500 })
	replaceFile(t, module, []byte("not a module"))
	wait("the broken file to be refused", logged("swap failed; the running module is kept"))
	replaceFile(t, module, withCustomSection(v1, "wasmstream.test.version", "2"))
	wait("the swap", logged("module swapped"))
	if at := count(); at >= records {
		t.Fatalf("the swap landed after every record was out (%d)", at)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	<-readDone
	seen := map[string][]int{}
	for _, l := range lines {
		k, n, ok := strings.Cut(l, " ")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			t.Fatalf("output line %q", l)
		}
		seen[k] = append(seen[k], v)
	}
	total := 0
	for k, ns := range seen {
		for i, n := range ns {
			if n != i+1 {
				t.Fatalf("key %s: counts %v: want 1..%d once each, in order", k, ns, len(ns))
			}
		}
		total += len(ns)
	}
	if total != records || len(seen) != keys {
		t.Fatalf("%d counts over %d keys, want %d over %d", total, len(seen), records, keys)
	}
}
