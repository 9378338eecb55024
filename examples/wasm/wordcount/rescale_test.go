package wordcount_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/file"
	"github.com/wasmstream/wasmstream/connectors/stdio"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// TestParallelismChangeKeepsState counts part of the input with one
// counting instance, then appends to the input and carries on with three:
// state follows the keys to their new instances, and the counts are those
// of the whole input.
func TestParallelismChangeKeepsState(t *testing.T) {
	dir := t.TempDir()
	module := filepath.Join(dir, "wordcount.wasm")
	if err := guestbuild.Build("go", module); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "input.txt")
	rng := rand.New(rand.NewPCG(7, 7))
	want := map[string]int64{}
	appendLines := func(n int) {
		f, err := os.OpenFile(input, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i := 0; i < n; i++ {
			for j := 0; j < 5; j++ {
				w := fmt.Sprintf("w%d", rng.IntN(500))
				want[w]++
				fmt.Fprintf(&b, "%s ", w)
			}
			b.WriteByte('\n')
		}
		f.WriteString(b.String())
		f.Close()
	}
	ctx := context.Background()
	e, err := host.NewEngine(ctx, host.WithCacheDir(filepath.Join(dir, "cache")))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	file.Register(reg)
	stdio.Register(reg)
	run := func(parallelism int) {
		spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: wordcount
data_dir: %q
source: {file: {path: %q}}
operators:
  - name: split
    wasm: {module: %q, params: {stage: split}}
  - name: count
    wasm: {module: %q, parallelism: %d, params: {stage: count}}
sink: {stdout: {}}
`, filepath.Join(dir, "data"), input, module, module, parallelism)), reg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := runtime.Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if p.Stats().Checkpoints == 0 {
			t.Fatal("no checkpoint taken")
		}
	}
	appendLines(3000)
	run(1)
	diff(t, "after the first run", counts(t, filepath.Join(dir, "data")), want)
	appendLines(3000)
	run(3)
	diff(t, "after rescaling to 3", counts(t, filepath.Join(dir, "data")), want)
}
