package guesttest

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

// MaxValue is state.max_value in the state tests.
const MaxValue = 1 << 20

// StateGuest runs a state test operator: its records are state commands
// (see guest-sdk/zig/testdata/state.zig), on a store of its own.
type StateGuest struct {
	t     testing.TB
	m     *host.Module
	store *state.Store
	inst  *host.Instance
}

// newState runs m on a new, empty store.
func newState(t testing.TB, m *host.Module) *StateGuest {
	t.Helper()
	g := &StateGuest{t: t, m: m}
	s, _, err := state.Open(state.Options{Dir: t.TempDir(), MaxValue: MaxValue})
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
func (g *StateGuest) restart() {
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
func (g *StateGuest) run(cmds ...string) ([]string, error) {
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

func (g *StateGuest) Want(want string, cmds ...string) {
	g.t.Helper()
	got, err := g.run(cmds...)
	if err != nil {
		g.t.Fatalf("%q: %v", cmds, err)
	}
	if s := strings.Join(got, ","); s != want {
		g.t.Fatalf("%q: got %q, want %q", cmds, s, want)
	}
}

func (g *StateGuest) WantError(msg string, cmds ...string) {
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
func (g *StateGuest) value(scope int, key, name string) string {
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

// StateTests says what an SDK's state test operator adds to the common
// tests.
type StateTests struct {
	API        func(t *testing.T, g *StateGuest) // more API checks, after the common ones
	Throughput func(t *testing.T, g *StateGuest) // more measurements
}

// State builds the SDK's "state" test operator once and runs the state
// tests on it: counters, get/put/delete, values larger than get's buffer,
// lists, maps, too-large and not-a-counter errors, dropped writes of a
// failed or trapped call, TTLs, an instance without a store, and reads and
// additions per second.
func (s SDK) State(t *testing.T, extra StateTests) {
	m := s.Load(t, "state").M
	t.Run("API", func(t *testing.T) {
		g := newState(t, m)
		testStateAPI(t, g)
		if extra.API != nil {
			extra.API(t, g)
		}
	})
	t.Run("TTL", func(t *testing.T) { testStateTTL(t, newState(t, m)) })
	t.Run("Throughput", func(t *testing.T) {
		g := newState(t, m)
		testStateThroughput(t, g)
		if extra.Throughput != nil {
			extra.Throughput(t, g)
		}
	})
	t.Run("NoStore", func(t *testing.T) {
		// An instance without a store: the host fails every state call
		// with status -1 and its own message, which the SDK keeps.
		g := &StateGuest{t: t, m: m}
		var err error
		if g.inst, err = m.Instantiate(t.Context(), host.InstanceConfig{Operator: "op"}); err != nil {
			t.Fatal(err)
		}
		defer g.inst.Close(t.Context())
		g.WantError("state: this operator has no state store", "add c 1")
		g.WantError("state: this operator has no state store", "get c")
	})
}

func testStateAPI(t *testing.T, g *StateGuest) {

	// Counters: keyed, per key, and operator-wide.
	g.Want("5,3,10", "add c 5", "add c -2", "other|add c 10")
	g.Want("4,11,7,8", "add c 1", "key=other add c 1", "op add c 7", "z|op add c 1")
	if v := g.value(state.ScopeKey, "k", "c"); v != counter(4) {
		t.Fatalf("stored counter %x", v)
	}
	if v := g.value(state.ScopeOperator, "", "c"); v != counter(8) {
		t.Fatalf("stored operator counter %x", v)
	}

	// Get, put, delete, an empty value.
	g.Want("<nil>,hello,<nil>,", "get x", "put x hello", "get x", "del x", "get x", "put e ", "get e")

	// Values larger than get's buffer.
	for _, n := range []int{256, 257, 5000, 70000, MaxValue} {
		g.Want("", fmt.Sprintf("big b%d %d", n, n))
		g.Want(strings.Repeat("x", n)+",<nil>", fmt.Sprintf("get b%d", n), "get none")
	}

	// Lists: bin8, bin16 and bin32 elements, stored as msgpack bin items.
	g.Want("", "list l")
	g.Want("a,bc", "app l a", "app l bc", "list l")
	g.Want("", "bigapp l 300", "bigapp l 70000", "app l z")
	g.Want(strings.Join([]string{"a", "bc", strings.Repeat("y", 300), strings.Repeat("y", 70000), "z"}, ","), "list l")
	if v := g.value(state.ScopeKey, "k", "l"); !strings.HasPrefix(v, "\xc4\x01a\xc4\x02bc\xc5\x01\x2c") {
		t.Fatalf("stored list starts %x", v[:10])
	}
	g.WantError(`wasmstream: state "notlist" is not a list`, "put notlist abc", "list notlist")

	// Maps: entries named "map\x00key".
	g.Want("5,1,2,<nil>", "mput m a 1", "mput m b 2", "madd m n 5", "mget m a", "mget m b", "mget m c")
	if v := g.value(state.ScopeKey, "k", "m\x00a"); v != "1" {
		t.Fatalf("map entry %q", v)
	}
	g.Want("<nil>,2,9,<nil>", "mdel m a", "mget m a", "mget m b", "op mput m a 9", "op mget m a", "mget m a")

	// Too large, not a counter.
	g.WantError(`wasmstream: state value too large: put "b"`, fmt.Sprintf("big b %d", MaxValue+1))
	g.WantError(`wasmstream: state value too large: append "l"`, "bigapp l 1000000")
	g.WantError(`wasmstream: state value is not a counter: add "s"`, "put s abc", "add s 1")
	g.WantError(`wasmstream: state value is not a counter: add "m\x00k"`, "mput m k abc", "madd m k 1")
	if v := g.value(state.ScopeKey, "k", "s"); v != "<none>" {
		t.Fatalf("a failed call's put was kept: %q", v)
	}

	// A failed call's writes are dropped, whether the operator fails it or
	// it traps.
	g.Want("1", "add f 1", "put x 1")
	g.WantError("boom", "add f 1", "put x 2", "app fl a", "del x", "fail boom")
	g.Want("1,1", "add f 0", "get x", "list fl")
	if _, err := g.run("add f 1", "get"); !errors.Is(err, host.ErrTrap) {
		t.Fatalf("a bad command: %v, want a trap", err)
	}
	g.restart()
	g.Want("1,1", "add f 0", "get x")
}

func testStateTTL(t *testing.T, g *StateGuest) {
	g.Want("v,v", "put t v 300", "put p v", "get t", "get p")
	time.Sleep(100 * time.Millisecond)
	g.Want("v", "get t")
	time.Sleep(300 * time.Millisecond)
	g.Want("<nil>,v", "get t", "get p")
	if v := g.value(state.ScopeKey, "k", "t"); v != "<none>" {
		t.Fatalf("expired value still read: %q", v)
	}
	// A map entry with a TTL; a counter added to keeps its expiry.
	g.Want("0,1", "put c abcdefgh 300", "add c -7523094288207667809", "add c 1")
	time.Sleep(400 * time.Millisecond)
	g.Want("1", "add c 1")
}

// testStateThroughput reports state reads and counter additions per second
// through the host (go test -run State/Throughput -v).
func testStateThroughput(t *testing.T, g *StateGuest) {
	if testing.Short() {
		t.Skip("throughput in -short mode")
	}
	g.Want("", "put v "+strings.Repeat("x", 100))
	const reads = 200000
	start := time.Now()
	g.Want(strconv.Itoa(100*reads), fmt.Sprintf("reads %d v", reads))
	d := time.Since(start)
	t.Logf("%d reads of a 100-byte value in one call: %.2f M reads/s (%.0f ns each)", reads, reads/d.Seconds()/1e6, float64(d.Nanoseconds())/reads)

	start = time.Now()
	g.Want(strconv.Itoa(reads), fmt.Sprintf("adds %d n", reads))
	d = time.Since(start)
	t.Logf("%d additions to one counter in one call: %.2f M adds/s (%.0f ns each)", reads, reads/d.Seconds()/1e6, float64(d.Nanoseconds())/reads)
}
