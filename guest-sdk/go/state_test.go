package wasmstream_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

// The state API on its native stand-in, which has the host's semantics.
// The Wasm path is checked by the state conformance vectors in the host.

func TestStateNative(t *testing.T) {
	wasmstream.Reset()
	t.Cleanup(wasmstream.Reset)
	a, b := wasmstream.KeyState([]byte("a")), wasmstream.KeyState([]byte("b"))

	// Counter only reads: an absent counter is 0 and stays absent.
	if n, err := a.Counter("n"); n != 0 || err != nil {
		t.Fatalf("Counter of nothing: %d, %v", n, err)
	}
	if _, ok, _ := a.Get("n"); ok {
		t.Fatal("Counter created the counter")
	}
	a.Add("n", 2)
	b.Add("n", 5)
	if n, _ := a.Add("n", 1); n != 3 {
		t.Fatalf("a's counter %d, want 3 (keys are separate)", n)
	}
	if n, _ := wasmstream.StateOf(wasmstream.Record{Key: []byte("b")}).Counter("n"); n != 5 {
		t.Fatalf("StateOf: %d, want b's 5", n)
	}
	if n, _ := wasmstream.OperatorState().Counter("n"); n != 0 {
		t.Fatalf("operator state sees a key's counter: %d", n)
	}

	// Not a counter, too large.
	a.Put("s", []byte("text"))
	if _, err := a.Add("s", 1); !errors.Is(err, wasmstream.ErrNotCounter) {
		t.Fatalf("Add to text: %v", err)
	}
	if _, err := a.Counter("s"); !errors.Is(err, wasmstream.ErrNotCounter) {
		t.Fatalf("Counter of text: %v", err)
	}
	if err := a.Put("big", make([]byte, 1<<20+1)); !errors.Is(err, wasmstream.ErrStateTooLarge) {
		t.Fatalf("Put over 1 MiB: %v", err)
	}

	// Lists and maps.
	for _, e := range []string{"x", "", strings.Repeat("y", 300)} {
		if err := a.Append("l", []byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	items, err := a.List("l")
	if err != nil || len(items) != 3 || string(items[0]) != "x" || len(items[1]) != 0 || len(items[2]) != 300 {
		t.Fatalf("List: %q, %v", items, err)
	}
	if _, err := a.List("s"); err == nil {
		t.Fatal("List of a text value did not fail")
	}
	m := a.Map("m")
	m.Put("k", []byte("v"))
	m.Add("c", 4)
	if v, ok, _ := m.Get("k"); !ok || string(v) != "v" {
		t.Fatalf("map get: %q %v", v, ok)
	}
	if v, ok, _ := a.Get("m\x00k"); !ok || string(v) != "v" {
		t.Fatalf("map entries are named name\\0key: %q %v", v, ok)
	}
	m.Delete("k")
	if _, ok, _ := m.Get("k"); ok {
		t.Fatal("deleted map entry still there")
	}

	// A TTL under a millisecond still expires.
	if err := a.PutTTL("t", []byte("v"), 100*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the value must outlive its TTL; nothing to wait on
	if _, ok, _ := a.Get("t"); ok {
		t.Fatal("a value with a 100µs TTL did not expire")
	}
}
