// Package uppercase_test checks that the uppercase operator, written in
// every guest language (examples/wasm/uppercase/<language>), gives the same
// pipeline output, record for record, from the same input file.
package uppercase_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// render prints a record's key, value and headers, for comparison.
func render(r runtime.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "key=%q value=%q", r.Key, r.Value)
	for _, h := range r.Headers {
		fmt.Fprintf(&b, " %s=%q", h.Name, h.Value)
	}
	return b.String()
}

func TestSameOutputInEveryLanguage(t *testing.T) {
	guests := guestbuild.Guests(".")
	if len(guests) < 2 {
		t.Fatalf("found %d uppercase guests", len(guests))
	}
	input, err := os.ReadFile("input.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Only ASCII letters change; bytes.ToUpper would change é too.
	upper := bytes.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 32
		}
		return r
	}, input)
	want := bytes.Split(bytes.TrimSuffix(upper, []byte("\n")), []byte("\n"))
	ctx := context.Background()
	e, err := host.NewEngine(ctx, host.WithCacheDir(filepath.Join(t.TempDir(), "cache")))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	outputs := map[string][]string{}
	for _, g := range guests {
		mod := filepath.Join(t.TempDir(), g.Lang+".wasm")
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
		spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: uppercase-%s
data_dir: %q
batch: {size: 7}
source: {file: {path: input.txt, format: lines}}
operators: [{wasm: {module: %q, parallelism: 2}}]
sink: {file: {path: unused}}
`, g.Lang, t.TempDir(), mod)), reg)
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
		var got []string
		var values [][]byte
		for _, r := range sink.Records() {
			got = append(got, render(r))
			values = append(values, r.Value)
		}
		// Instances run in parallel: compare as sorted sets.
		slices.Sort(got)
		slices.SortFunc(values, bytes.Compare)
		w := slices.Clone(want)
		slices.SortFunc(w, bytes.Compare)
		if !slices.EqualFunc(values, w, bytes.Equal) {
			t.Errorf("%s: values are not the upper-cased input lines", g.Lang)
		}
		outputs[g.Lang] = got
	}
	for lang, got := range outputs {
		if !slices.Equal(got, outputs["go"]) {
			t.Errorf("%s output differs from Go's:\n%s\nvs\n%s", lang, strings.Join(got, "\n"), strings.Join(outputs["go"], "\n"))
		}
	}
	t.Logf("identical output from %d languages", len(outputs))
}
