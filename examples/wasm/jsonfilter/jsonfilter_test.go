// Package jsonfilter_test checks that the jsonfilter operator, written in
// every guest language with that language's SDK JSON reader
// (examples/wasm/jsonfilter/<language>), keeps the same records with the
// same keys as encoding/json says it should, from the same input file.
package jsonfilter_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/connectors/file"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// expected applies the operator's rule with encoding/json: keep records
// whose event is "click", keyed by user.name when it is a string.
func expected(t *testing.T) []string {
	data, err := os.ReadFile("input.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v struct {
			Event any `json:"event"`
			User  struct {
				Name any `json:"name"`
			} `json:"user"`
		}
		if json.Unmarshal(sc.Bytes(), &v) != nil || v.Event != "click" || depth(sc.Bytes()) > 128 {
			continue
		}
		key, _ := v.User.Name.(string)
		out = append(out, fmt.Sprintf("key=%q value=%q", key, sc.Bytes()))
	}
	slices.Sort(out)
	return out
}

// depth returns how deep a valid document's arrays and objects nest: the
// SDKs refuse more than 128 levels, encoding/json allows 10,000.
func depth(doc []byte) int {
	d, most, inString := 0, 0, false
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			d++
			most = max(most, d)
		case c == ']' || c == '}':
			d--
		}
	}
	return most
}

// TestSameOutputInEveryLanguage guards issue #9 item 3: each SDK's JSON
// reader, run in the host, filters and keys records as encoding/json reads
// them, escapes and all, and none is stopped by nesting 100,000 deep.
func TestSameOutputInEveryLanguage(t *testing.T) {
	want := expected(t)
	if len(want) < 4 {
		t.Fatalf("only %d expected records", len(want))
	}
	guests := guestbuild.Guests(".")
	if len(guests) < 5 {
		t.Fatalf("found %d jsonfilter guests", len(guests))
	}
	ctx := t.Context()
	e, err := host.NewEngine(context.WithoutCancel(ctx), host.WithCacheDir(filepath.Join(t.TempDir(), "cache")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.WithoutCancel(ctx)) })
	for _, g := range guests {
		t.Run(g.Lang, func(t *testing.T) {
			mod := filepath.Join(t.TempDir(), g.Lang+".wasm")
			err := guestbuild.Build(g.Dir, mod)
			if errors.Is(err, guestbuild.ErrNoToolchain) && !guestbuild.Required() {
				t.Skipf("%s: %v", g.Lang, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			reg := runtime.NewRegistry()
			host.Register(reg, e)
			file.Register(reg)
			spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: jsonfilter-%s
data_dir: %q
batch: {size: 5}
source: {file: {path: input.jsonl, format: lines}}
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
				t.Fatal(err)
			}
			var got []string
			for _, r := range sink.Records() {
				got = append(got, fmt.Sprintf("key=%q value=%q", r.Key, r.Value))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", join(got), join(want))
			}
		})
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for _, l := range s {
		b.WriteString(l + "\n")
	}
	return b.String()
}
