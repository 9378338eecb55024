package file

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// TestPipeline runs the file source into the file sink through the
// runtime, twice: the second run finds nothing new to read.
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	content, values := numbered("line-", 2500)
	in := writeFile(t, dir, "in.txt", content)
	out := filepath.Join(dir, "out")
	pipeline := fmt.Sprintf(`
pipeline: copy
data_dir: %q
batch: {size: 100}
source: {file: {path: %q}}
sink: {file: {path: %q, suffix: .txt, max_size: 10KiB}}
`, filepath.Join(dir, "data"), in, out)
	reg := runtime.NewRegistry()
	Register(reg)
	for run := range 2 {
		spec, err := runtime.Parse([]byte(pipeline), reg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := runtime.Build(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(t.Context()); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		final, hidden := listDir(t, out)
		if len(hidden) != 0 || len(final) < 2 {
			t.Fatalf("run %d: files %q, hidden %q", run, final, hidden)
		}
		if got := readBack(t, out, "text"); len(got) != len(values) {
			t.Fatalf("run %d: %d records in the output, want %d", run, len(got), len(values))
		}
	}
	got := readBack(t, out, "text")
	var b strings.Builder
	for _, r := range got {
		b.Write(r.Value)
		b.WriteByte('\n')
	}
	if b.String() != content {
		t.Error("output differs from input")
	}
}
