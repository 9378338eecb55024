package runtime_test

import (
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// TestConfigCaps guards issue #8 (bad configuration must not crash the
// process): parallelism up to key_groups' 32,768 was accepted and every
// instance was created at start, so 4,096 instances ran the machine out of
// memory. A pipeline's operators may run at most runtime.MaxInstances
// instances together; queue_max_bytes must be positive.
func TestConfigCaps(t *testing.T) {
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"within the cap", `
key_groups: 2048
operators: [{func: {fn: upper, parallelism: 1000}}, {func: {fn: upper, parallelism: 24}}]`, ""},
		{"one operator past the cap", `
key_groups: 32768
operators: [{func: {fn: upper, parallelism: 4096}}]`, "operators: the operators' parallelism adds up to 4096 instances, more than the 1024"},
		{"operators together past the cap", `
key_groups: 2048
operators: [{func: {fn: upper, parallelism: 600}}, {func: {fn: upper, parallelism: 600}}]`, "adds up to 1200 instances"},
		{"parallelism past key_groups", `
operators: [{func: {fn: upper, parallelism: 129}}]`, "parallelism: must be between 1 and key_groups (128)"},
		{"queue_max_bytes zero", `
queue_max_bytes: 0
operators: [{func: {fn: upper}}]`, "queue_max_bytes: must be at least 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runtime.Parse([]byte("pipeline: caps\nsource: {test: {}}\nsink: {test: {}}"+c.yaml+"\n"), testRegistry(nil))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Parse = %v, want no problem", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Parse = %v, want a problem with %q", err, c.want)
			}
		})
	}
}

// TestBatchLargerThanQueueBytesPasses guards issue #8 item 3 (queues
// bounded in bytes): with queue_max_bytes far below one batch, every batch
// still passes on its own, so the pipeline neither deadlocks nor loses or
// reorders a record.
func TestBatchLargerThanQueueBytesPasses(t *testing.T) {
	checkNoLeaks(t)
	spec := parse(t, testRegistry(nil), `
pipeline: tiny-queues
queue_max_bytes: 1
batch: {size: 50, linger: 1ms}
source: {test: {}}
operators:
  - func: {fn: upper, parallelism: 2}
  - func: {fn: upper}
sink: {test: {}}
`)
	src := &memSource{recs: keyed(3000, 13), chunk: 100}
	sink := &memSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := sink.records()
	if len(got) != 3000 {
		t.Fatalf("sink got %d records, want 3000", len(got))
	}
	checkKeyOrder(t, got)
	if reads, acked, nacked := src.counts(); acked != reads || nacked != 0 {
		t.Fatalf("acked %d of %d reads, nacked %d", acked, reads, nacked)
	}
}
