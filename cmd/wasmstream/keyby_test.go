package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyByCLI guards issue #9 item 4 from the command line: `run` keys
// unkeyed JSON lines by key_by: {json: user.name} before the wordcount
// example's counting stage (parallelism 2), and `state list` then shows one
// exact counter per user; `validate` reports a key_by without a path at its
// line and field path.
func TestKeyByCLI(t *testing.T) {
	mod := wordcount(t)
	dir := t.TempDir()
	var in strings.Builder
	want := map[string]int64{}
	for i := range 2000 {
		name := fmt.Sprintf("user%d", i*7%23)
		want[name]++
		fmt.Fprintf(&in, `{"id":%d,"user":{"name":%q}}`+"\n", i, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pipeline(t, fmt.Sprintf(`
source: {file: {path: %q, format: lines}}
operators:
  - name: count
    wasm: {module: %q, parallelism: 2, key_by: {json: user.name}, params: {stage: count}}
sink: {stdout: {}}
`, filepath.Join(dir, "in.jsonl"), mod))
	if r := runCLI(t, "run", "--quiet", p); r.code != exitOK {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	r := runCLI(t, "state", "list", "--all", p, "--operator", "count")
	if r.code != exitOK {
		t.Fatalf("state list: exit %d\n%s", r.code, r.stderr)
	}
	sameCounts(t, "per-user counts", parseList(t, r.stdout), want)

	bad := pipeline(t, fmt.Sprintf(`
source: {collection: {values: [a]}}
operators:
  - wasm: {module: %q, key_by: {json: ""}}
sink: {stdout: {}}
`, mod))
	r = runCLI(t, "validate", bad)
	if r.code != exitConfig || !strings.Contains(r.stdout+r.stderr, "line 6: operators[0].wasm.key_by.json: empty path") {
		t.Errorf("validate: exit %d, want %d and the empty path at its line:\n%s%s", r.code, exitConfig, r.stdout, r.stderr)
	}
}
