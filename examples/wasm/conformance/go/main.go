// Command conformance is the Go guest SDK's conformance operator: it
// implements abi.ConformanceProcess's reference semantics so the host's
// conformance test can run the golden vectors in abi/testdata/conformance
// through a real Go Wasm module. By the prefix of each record's value:
//
//	"drop"         no output
//	"dup"          the record, value upper-cased, emitted twice
//	"route:NAME:"  the record unchanged, routed to output NAME
//	"error:MSG"    the whole call fails with the message MSG
//	"trap"         the module traps (executes unreachable)
//	"state:..."    a state operation (abi/conformance_state.go); the output
//	               value is its result
//	"async:...", "async-sql:...", "async-redis:..."
//	               an async request (abi/conformance_async.go), and for
//	               each result delivered, a record describing it
//	anything else  the record with its value's ASCII letters upper-cased
//
// Build it from the repository root with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o examples/wasm/conformance/go/conformance.wasm ./examples/wasm/conformance/go
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

func init() {
	wasmstream.FlatMap(process)
	wasmstream.OnResult(result)
}

var (
	prefixDrop  = []byte("drop")
	prefixDup   = []byte("dup")
	prefixRoute = []byte("route:")
	prefixError = []byte("error:")
	prefixTrap  = []byte("trap")
	prefixState = []byte("state:")
	prefixAsync = []byte("async")
)

func process(r wasmstream.Record, out *wasmstream.Emitter) error {
	v := r.Value
	switch {
	case bytes.HasPrefix(v, prefixDrop):
	case bytes.HasPrefix(v, prefixDup):
		upper(v)
		out.Emit(r)
		out.Emit(r)
	case bytes.HasPrefix(v, prefixRoute):
		name, _, ok := bytes.Cut(v[len(prefixRoute):], []byte(":"))
		if !ok || len(name) == 0 {
			return fmt.Errorf("bad route record %q", v)
		}
		out.EmitTo(string(name), r)
	case bytes.HasPrefix(v, prefixError):
		return errors.New(string(v[len(prefixError):]))
	case bytes.HasPrefix(v, prefixTrap):
		trap()
	case bytes.HasPrefix(v, prefixAsync) && submit(v):
	case bytes.HasPrefix(v, prefixState):
		val, err := stateOp(r, string(v[len(prefixState):]))
		if err != nil {
			return err
		}
		r.Value = val
		out.Emit(r)
	default:
		upper(v)
		out.Emit(r)
	}
	return nil
}

// submit sends the request an async record asks for and reports whether
// v was one.
func submit(v []byte) bool {
	s := string(v)
	ctx := bytes.Clone(v)
	var req *wasmstream.AsyncRequest
	switch {
	case strings.HasPrefix(s, "async:"):
		target, path, ok := strings.Cut(s[len("async:"):], ":")
		if !ok {
			return false
		}
		req = wasmstream.HTTP(target, "GET", path, ctx)
	case strings.HasPrefix(s, "async-sql:"):
		parts := strings.SplitN(s[len("async-sql:"):], ":", 3)
		if len(parts) != 3 {
			return false
		}
		req = wasmstream.SQL(parts[0], parts[1], ctx, parts[2], 7)
	case strings.HasPrefix(s, "async-redis:"):
		target, key, ok := strings.Cut(s[len("async-redis:"):], ":")
		if !ok {
			return false
		}
		req = wasmstream.Redis(target, ctx, "GET", key)
	default:
		return false
	}
	if _, err := wasmstream.Submit(req); err != nil {
		panic(err) // the conformance vectors submit nothing a host refuses
	}
	return true
}

// result emits the record describing r.
func result(r *wasmstream.Result, out *wasmstream.Emitter) error {
	orNil := func(b []byte) []byte {
		if b == nil {
			return []byte("nil")
		}
		return b
	}
	v := []byte("result:")
	v = strconv.AppendUint(v, r.Ticket, 10)
	v = append(v, ':')
	v = strconv.AppendInt(v, int64(r.Status), 10)
	v = append(v, ':')
	v = strconv.AppendInt(v, r.Code, 10)
	v = append(v, ':')
	v = append(v, orNil(r.Body)...)
	v = append(v, ':')
	if r.Error == "" {
		v = append(v, "nil"...)
	} else {
		v = append(v, r.Error...)
	}
	v = append(v, ':')
	v = append(v, orNil(r.Context)...)
	out.Emit(wasmstream.Record{Value: v})
	return nil
}

// upper upper-cases v's ASCII letters in place.
func upper(v []byte) {
	for i, c := range v {
		if 'a' <= c && c <= 'z' {
			v[i] = c - ('a' - 'A')
		}
	}
}

// stateOp runs one of the conformance operator's state operations.
func stateOp(r wasmstream.Record, op string) ([]byte, error) {
	st := wasmstream.StateOf(r)
	get := func() ([]byte, error) {
		v, ok, err := st.Get("v")
		if !ok || err != nil {
			return []byte("none"), err
		}
		return v, nil
	}
	switch {
	case op == "add" || op == "op":
		if op == "op" {
			st = wasmstream.OperatorState()
		}
		n, err := st.Add("n", 1)
		return strconv.AppendInt(nil, n, 10), err
	case strings.HasPrefix(op, "put:"):
		if err := st.Put("v", []byte(op[4:])); err != nil {
			return nil, err
		}
		return get()
	case op == "get":
		return get()
	case op == "del":
		if err := st.Delete("v"); err != nil {
			return nil, err
		}
		return get()
	case strings.HasPrefix(op, "append:"):
		if err := st.Append("l", []byte(op[7:])); err != nil {
			return nil, err
		}
		items, err := st.List("l")
		return bytes.Join(items, []byte(",")), err
	case op == "addf":
		f, err := st.AddFloat("f", 0.1)
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)), err
	case op == "big":
		err := st.Put("b", bytes.Repeat([]byte("x"), 1<<20+1))
		if errors.Is(err, wasmstream.ErrStateTooLarge) {
			return []byte("too large"), nil
		}
		return []byte("stored"), err
	}
	return nil, fmt.Errorf("unknown state operation %q", op)
}

func main() {}
