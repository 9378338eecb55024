package host_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/collection"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
	"github.com/wasmstream/wasmstream/runtime"
)

// TestKeyByWordcount guards issue #9 item 4 end to end: the wordcount
// example's keyed counting stage, at parallelism 2 behind key_by: {json:
// user.name}, counts unkeyed JSON records per user exactly, each user on
// one instance (the guest's state writes are checked against the key
// groups its instance owns). Without key_by the records would all share
// the nil key's counter; an empty key_by path is a config problem of the
// wasm operator.
func TestKeyByWordcount(t *testing.T) {
	e := newEngine(t)
	mod := buildGuest(t, guestbuild.Guest{Lang: "go", Dir: filepath.Join("..", "examples", "wasm", "wordcount", "go")})
	const users = 7
	want := map[string]int64{}
	var recs strings.Builder
	for i := range 300 {
		name := fmt.Sprintf("user%d", i*i%users)
		want[name]++
		fmt.Fprintf(&recs, `{value: '{"id":%d,"user":{"name":"%s"}}'}, `, i, name)
	}
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	collection.Register(reg)
	sink := &connectortest.Collector{}
	runtime.AddSink(reg, "capture", "test sink", func(c *captureConfig) (runtime.Sink, error) { return sink, nil })
	// The wasm operator's own Validate checks key_by too.
	_, err := runtime.Parse(fmt.Appendf(nil, `
pipeline: bad
source: {collection: {values: [a]}}
operators: [{wasm: {module: %q, key_by: {json: ""}}}]
sink: {capture: {name: main}}
`, mod), reg)
	if err == nil || !strings.Contains(err.Error(), "operators[0].wasm.key_by.json: empty path") {
		t.Fatalf("Parse = %v, want the empty key_by path refused", err)
	}
	spec, err := runtime.Parse(fmt.Appendf(nil, `
pipeline: keyby
data_dir: %q
batch: {size: 16, linger: 1ms}
source: {collection: {records: [%s]}}
operators:
  - name: count
    wasm: {module: %q, parallelism: 2, key_by: {json: user.name}, params: {stage: count, emit: true}}
sink: {capture: {name: main}}
state: {query: "off"}
`, t.TempDir(), recs.String(), mod), reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtime.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range sink.Records() {
		word, n, ok := strings.Cut(string(r.Value), " ")
		c, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || word != string(r.Key) {
			t.Fatalf("output %q keyed %q, want \"USER COUNT\" keyed by the user", r.Value, r.Key)
		}
		got[word] = max(got[word], c)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}
