package wordcount_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/connectors/file"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// The input of the languages test: fewer lines than the crash test's, but
// every kind of separator and case the operators must agree on.
const (
	languageLines   = 6000
	languagePerLine = 8
)

// separators between words: punctuation, whitespace, underscores,
// apostrophes, UTF-8 letters and invalid UTF-8, none of them part of a word.
var separators = []string{" ", ", ", "\t", "; ", "_", "'", "-", " é ", "\xff", " (", ") ", "ü", "...", "  "}

// writeLanguageInput writes lines of words in mixed case between varied
// separators, with some long words, and returns the counts of the
// lower-cased words, computed independently of the operators.
func writeLanguageInput(t *testing.T, path string, rng *rand.Rand) map[string]int64 {
	var b bytes.Buffer
	for i := 0; i < languageLines; i++ {
		if i%500 == 0 {
			b.WriteString("\n") // an empty line
		}
		for j := 0; j < languagePerLine; j++ {
			n := int(float64(vocabulary) * rng.Float64() * rng.Float64())
			word := fmt.Sprintf("w%d", n)
			switch rng.IntN(10) {
			case 0:
				word = strings.ToUpper(word)
			case 1:
				word = "Mixed" + word + "CASE"
			case 2:
				word = strings.Repeat("long", 30) + word // longer than any fixed buffer of 64 bytes
			}
			if j > 0 || rng.IntN(4) == 0 {
				b.WriteString(separators[rng.IntN(len(separators))])
			}
			b.WriteString(word)
		}
		if rng.IntN(4) == 0 {
			b.WriteString(separators[rng.IntN(len(separators))])
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, line := range bytes.Split(b.Bytes(), []byte("\n")) {
		lower := bytes.Clone(line)
		for i, c := range lower {
			if 'A' <= c && c <= 'Z' {
				lower[i] = c + 'a' - 'A'
			}
		}
		for _, w := range bytes.FieldsFunc(lower, func(r rune) bool {
			return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
		}) {
			want[string(w)]++
		}
	}
	return want
}

// rendered renders the records a sink was given, sorted, for comparison.
func rendered(c *connectortest.Collector) []string {
	var out []string
	for _, r := range c.Records() {
		out = append(out, fmt.Sprintf("key=%q value=%q ts=%d headers=%d", r.Key, r.Value, r.Timestamp, len(r.Headers)))
	}
	slices.Sort(out)
	return out
}

// TestSameCountsInEveryLanguage runs the word count pipeline with each
// language's module over the same input: the final state (read from the
// store, as the crash test reads it) must be identical across languages and
// equal to the counts computed here, and so must the emitted "word count"
// records.
func TestSameCountsInEveryLanguage(t *testing.T) {
	guests := guestbuild.Guests(".")
	if len(guests) < 2 {
		t.Fatalf("found %d word count guests", len(guests))
	}
	dir := t.TempDir()
	input := filepath.Join(dir, "input.txt")
	want := writeLanguageInput(t, input, rand.New(rand.NewPCG(4, 1)))
	var wantOut []string
	for w, n := range want {
		for i := int64(1); i <= n; i++ {
			wantOut = append(wantOut, fmt.Sprintf("key=%q value=%q ts=0 headers=0", w, fmt.Sprintf("%s %d", w, i)))
		}
	}
	slices.Sort(wantOut)

	ctx := context.Background()
	e, err := host.NewEngine(ctx, host.WithCacheDir(filepath.Join(dir, "cache")))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	results := map[string]map[string]int64{}
	for _, g := range guests {
		mod := filepath.Join(dir, g.Lang+".wasm")
		err := guestbuild.Build(g.Dir, mod)
		if errors.Is(err, guestbuild.ErrNoToolchain) && !guestbuild.Required() {
			t.Logf("skipping %s: %v", g.Lang, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		reg := runtime.NewRegistry()
		host.Register(reg, e)
		file.Register(reg)
		dataDir := filepath.Join(dir, "data-"+g.Lang)
		spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: wordcount-%s
data_dir: %q
batch: {size: 500}
source: {file: {path: %q, format: lines}}
operators:
  - name: split
    wasm: {module: %q, params: {stage: split}}
  - name: count
    wasm: {module: %q, parallelism: 2, params: {stage: count, emit: true}}
sink: {file: {path: unused}}
state: {checkpoint_interval: 100ms, query: "off"}
`, g.Lang, dataDir, input, mod, mod)), reg)
		if err != nil {
			t.Fatal(err)
		}
		sink := &connectortest.Collector{}
		p, err := runtime.Build(spec, runtime.WithSink(sink))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(ctx); err != nil {
			t.Fatalf("%s: %v", g.Lang, err)
		}
		got := counts(t, dataDir)
		diff(t, g.Lang, got, want)
		results[g.Lang] = got
		emitted := rendered(sink)
		if !slices.Equal(emitted, wantOut) {
			t.Errorf("%s: %d records emitted, want %d, or they differ", g.Lang, len(emitted), len(wantOut))
			for i := 0; i < min(len(emitted), len(wantOut)); i++ {
				if emitted[i] != wantOut[i] {
					t.Errorf("%s: first difference: %s, want %s", g.Lang, emitted[i], wantOut[i])
					break
				}
			}
		}
	}
	if results["go"] == nil {
		t.Fatal("the Go word count did not run")
	}
	for lang, got := range results {
		if !maps.Equal(got, results["go"]) {
			t.Errorf("%s: final state differs from Go's", lang)
		}
	}
	t.Logf("identical state (%d words, %d occurrences) from %d languages: %v", len(want), len(wantOut),
		len(results), slices.Sorted(maps.Keys(results)))
}
