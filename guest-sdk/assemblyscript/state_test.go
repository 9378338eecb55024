package assemblyscript_test

// The state API through the real host: tests/state.ts, whose records are
// state commands (see the file), runs in an instance whose state imports
// work on a runtime/state transaction, committed by Instance.Process when a
// call succeeds, over a Pebble store in a temporary directory.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime/state"
)

const maxValue = 1 << 20

type stateGuest struct {
	t     testing.TB
	m     *host.Module
	store *state.Store
	inst  *host.Instance
}

// newState runs m on a new, empty store.
func newState(t testing.TB, m *host.Module) *stateGuest {
	t.Helper()
	g := &stateGuest{t: t, m: m}
	s, _, err := state.Open(state.Options{Dir: t.TempDir(), MaxValue: maxValue})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	g.store = s
	g.restart()
	return g
}

// restart replaces the instance with a new one on a new transaction over
// the same store, as the runtime does after a failure.
func (g *stateGuest) restart() {
	g.t.Helper()
	if g.inst != nil {
		g.inst.Close(g.t.Context())
	}
	var err error
	g.inst, err = g.m.Instantiate(g.t.Context(), host.InstanceConfig{
		Operator: "op", MemoryLimit: 256 << 20, Deadline: 10 * time.Second, State: g.store.NewTxn("op"),
	})
	if err != nil {
		g.t.Fatal(err)
	}
}

// run processes one batch of commands, each "CMD ..." on key "k" or
// "KEY|CMD ...", and returns the emitted values ("<nil>" for nil).
func (g *stateGuest) run(cmds ...string) ([]string, error) {
	in := make([]abi.Record, len(cmds))
	for i, c := range cmds {
		key, cmd, ok := strings.Cut(c, "|")
		if !ok {
			key, cmd = "k", c
		}
		in[i] = abi.Record{Key: []byte(key), Value: []byte(cmd)}
	}
	out, err := g.inst.Process(g.t.Context(), in)
	if err != nil {
		return nil, err
	}
	vals := make([]string, len(out))
	for i, r := range out {
		if r.Value == nil {
			vals[i] = "<nil>"
		} else {
			vals[i] = string(r.Value)
		}
	}
	return vals, nil
}

func (g *stateGuest) want(want string, cmds ...string) {
	g.t.Helper()
	got, err := g.run(cmds...)
	if err != nil {
		g.t.Fatalf("%q: %v", cmds, err)
	}
	if s := strings.Join(got, ","); s != want {
		g.t.Fatalf("%q: got %q, want %q", cmds, s, want)
	}
}

func (g *stateGuest) wantError(msg string, cmds ...string) {
	g.t.Helper()
	_, err := g.run(cmds...)
	if !errors.Is(err, host.ErrOperator) || !strings.HasSuffix(err.Error(), ": "+msg) {
		g.t.Fatalf("%q: got error %v, want an operator error %q", cmds, err, msg)
	}
	if g.inst.Broken() {
		g.t.Fatalf("%q: the instance is broken after an operator error", cmds)
	}
}

// value is what the store holds, or "<none>".
func (g *stateGuest) value(scope int, key, name string) string {
	g.t.Helper()
	v, _, ok, err := g.store.Lookup("op", scope, []byte(key), []byte(name), true)
	if err != nil {
		g.t.Fatal(err)
	}
	if !ok {
		return "<none>"
	}
	return string(v)
}

func counter(n int64) string { return string(binary.LittleEndian.AppendUint64(nil, uint64(n))) }

// TestState builds tests/state.ts once and runs the state tests on it.
func TestState(t *testing.T) {
	m := load(t, "state").m
	t.Run("API", func(t *testing.T) { testStateAPI(t, newState(t, m)) })
	t.Run("TTL", func(t *testing.T) { testStateTTL(t, newState(t, m)) })
	t.Run("Throughput", func(t *testing.T) { testStateThroughput(t, newState(t, m)) })
	t.Run("NoStore", func(t *testing.T) {
		// An instance without a store: the host fails every state call
		// with status -1 and its own message, which the SDK keeps.
		g := &stateGuest{t: t, m: m}
		var err error
		if g.inst, err = m.Instantiate(t.Context(), host.InstanceConfig{Operator: "op"}); err != nil {
			t.Fatal(err)
		}
		defer g.inst.Close(t.Context())
		g.wantError("state: this operator has no state store", "add c 1")
		g.wantError("state: this operator has no state store", "get c")
	})
}

func testStateAPI(t *testing.T, g *stateGuest) {

	// Counters: keyed, per key, and operator-wide.
	g.want("5,3,10", "add c 5", "add c -2", "other|add c 10")
	g.want("4,11,7,8", "add c 1", "key=other add c 1", "op add c 7", "z|op add c 1")
	if v := g.value(state.ScopeKey, "k", "c"); v != counter(4) {
		t.Fatalf("stored counter %x", v)
	}
	if v := g.value(state.ScopeOperator, "", "c"); v != counter(8) {
		t.Fatalf("stored operator counter %x", v)
	}

	// Get, put, delete, the last status, an empty value.
	g.want("<nil>,-2,hello,0,<nil>,,0", "get x", "status", "put x hello", "get x", "status", "del x", "get x", "put e ", "get e", "status")

	// Values larger than get's buffer.
	for _, n := range []int{256, 257, 5000, 70000, maxValue} {
		g.want("", fmt.Sprintf("big b%d %d", n, n))
		g.want(strings.Repeat("x", n)+",<nil>", fmt.Sprintf("get b%d", n), "get none")
	}

	// Lists: bin8, bin16 and bin32 elements, stored as msgpack bin items.
	g.want("", "list l")
	g.want("a,bc", "app l a", "app l bc", "list l")
	g.want("", "bigapp l 300", "bigapp l 70000", "app l z")
	g.want(strings.Join([]string{"a", "bc", strings.Repeat("y", 300), strings.Repeat("y", 70000), "z"}, ","), "list l")
	if v := g.value(state.ScopeKey, "k", "l"); !strings.HasPrefix(v, "\xc4\x01a\xc4\x02bc\xc5\x01\x2c") {
		t.Fatalf("stored list starts %x", v[:10])
	}
	g.wantError(`wasmstream: state "notlist" is not a list`, "put notlist abc", "list notlist")

	// Maps: entries named "map\x00key".
	g.want("5,1,2,<nil>", "mput m a 1", "mput m b 2", "madd m n 5", "mget m a", "mget m b", "mget m c")
	if v := g.value(state.ScopeKey, "k", "m\x00a"); v != "1" {
		t.Fatalf("map entry %q", v)
	}
	g.want("<nil>,2,9,<nil>", "mdel m a", "mget m a", "mget m b", "op mput m a 9", "op mget m a", "mget m a")

	// Too large, not a counter.
	g.wantError(`wasmstream: state value too large: put "b"`, fmt.Sprintf("big b %d", maxValue+1))
	g.wantError(`wasmstream: state value too large: append "l"`, "bigapp l 1000000")
	g.wantError(`wasmstream: state value is not a counter: add "s"`, "put s abc", "add s 1")
	g.wantError(`wasmstream: state value is not a counter: add "m\x00k"`, "mput m k abc", "madd m k 1")
	if v := g.value(state.ScopeKey, "k", "s"); v != "<none>" {
		t.Fatalf("a failed call's put was kept: %q", v)
	}

	// A failed call's writes are dropped, whether the operator fails it or
	// it traps.
	g.want("1", "add f 1", "put x 1")
	g.wantError("boom", "add f 1", "put x 2", "app fl a", "del x", "fail boom")
	g.want("1,1", "add f 0", "get x", "list fl")
	if _, err := g.run("add f 1", "get"); !errors.Is(err, host.ErrTrap) {
		t.Fatalf("a bad command: %v, want a trap", err)
	}
	g.restart()
	g.want("1,1", "add f 0", "get x")
}

func testStateTTL(t *testing.T, g *stateGuest) {
	g.want("v,v", "put t v 300", "put p v", "get t", "get p")
	time.Sleep(100 * time.Millisecond)
	g.want("v", "get t")
	time.Sleep(300 * time.Millisecond)
	g.want("<nil>,v", "get t", "get p")
	if v := g.value(state.ScopeKey, "k", "t"); v != "<none>" {
		t.Fatalf("expired value still read: %q", v)
	}
	// A map entry with a TTL; a counter added to keeps its expiry.
	g.want("0,1", "put c abcdefgh 300", "add c -7523094288207667809", "add c 1")
	time.Sleep(400 * time.Millisecond)
	g.want("1", "add c 1")
}

// testStateThroughput reports state reads and counter additions per second
// through the host (go test -run State/Throughput -v).
func testStateThroughput(t *testing.T, g *stateGuest) {
	if testing.Short() {
		t.Skip("throughput in -short mode")
	}
	g.want("", "put v "+strings.Repeat("x", 100))
	const reads = 200000
	start := time.Now()
	g.want(strconv.Itoa(100*reads), fmt.Sprintf("reads %d v", reads))
	d := time.Since(start)
	t.Logf("%d reads of a 100-byte value in one call: %.2f M reads/s (%.0f ns each)", reads, reads/d.Seconds()/1e6, float64(d.Nanoseconds())/reads)

	start = time.Now()
	g.want(strconv.Itoa(reads), fmt.Sprintf("adds %d n", reads))
	d = time.Since(start)
	t.Logf("%d additions to one counter in one call: %.2f M adds/s (%.0f ns each)", reads, reads/d.Seconds()/1e6, float64(d.Nanoseconds())/reads)

	start = time.Now()
	g.want(strconv.Itoa(reads), fmt.Sprintf("counts %d", reads))
	d = time.Since(start)
	t.Logf("%d additions to a counter named by a string literal: %.2f M adds/s (%.0f ns each)", reads, reads/d.Seconds()/1e6, float64(d.Nanoseconds())/reads)
}
