//go:build !wasip1

package wasmstream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/wasmstream/wasmstream/abi"
)

// Native stand-ins for the host functions, so operators build and test on
// the host platform. State lives in local (local.go).

func hostLog(level abi.LogLevel, msg string) { local.log(level, msg) }

func hostMetricAdd(name string, delta int64) { local.add(name, delta) }

func (l *localHost) log(level LogLevel, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A log line that cannot be written has nowhere else to go.
	_, _ = fmt.Fprintf(l.out, "wasmstream %s: %s\n", levelName(level), msg)
}

func (l *localHost) add(name string, delta int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.metrics[name] += delta
}

func levelName(l LogLevel) string {
	switch l {
	case LogDebug:
		return "DEBUG"
	case LogInfo:
		return "INFO"
	case LogWarn:
		return "WARN"
	case LogError:
		return "ERROR"
	}
	return fmt.Sprintf("LEVEL(%d)", int32(l))
}

// Native state: a map, shared by all Run calls until Reset, with the host's
// semantics (counters as 8 little-endian bytes, lists as msgpack bin items,
// TTLs by wall clock). As on the host, the writes of an Init, Run or
// RunFrame call that fails are dropped (local.go).
func localStateKey(scope int32, key []byte, name string) string {
	return fmt.Sprintf("%d\x00%s\x00%s", scope, key, name)
}

func (l *localHost) lookup(k string) ([]byte, bool) {
	e, ok := l.state[k]
	if !ok || (!e.expiry.IsZero() && time.Now().After(e.expiry)) {
		return nil, false
	}
	return e.val, true
}

func hostStateGet(scope int32, key []byte, name string) ([]byte, bool, error) {
	local.mu.Lock()
	defer local.mu.Unlock()
	v, ok := local.lookup(localStateKey(scope, key, name))
	return bytes.Clone(v), ok, nil
}

// localMaxValue is the host's default state.max_value.
const localMaxValue = 1 << 20

func hostStatePut(scope int32, key []byte, name string, val []byte, ttlMS int64) int32 {
	local.mu.Lock()
	defer local.mu.Unlock()
	if len(val) > localMaxValue {
		return stTooLarge
	}
	e := localEntry{val: bytes.Clone(val)} // a put makes bytes, even of a counter
	if ttlMS > 0 {
		e.expiry = time.Now().Add(time.Duration(ttlMS) * time.Millisecond)
	}
	k := localStateKey(scope, key, name)
	local.saveUndo(k)
	local.state[k] = e
	return stOK
}

func hostStateDelete(scope int32, key []byte, name string) int32 {
	local.mu.Lock()
	defer local.mu.Unlock()
	k := localStateKey(scope, key, name)
	local.saveUndo(k)
	delete(local.state, k)
	return stOK
}

func hostStateAdd(scope int32, key []byte, name string, delta int64) (int64, int32) {
	local.mu.Lock()
	defer local.mu.Unlock()
	k := localStateKey(scope, key, name)
	var n int64
	e := local.state[k]
	if v, ok := local.lookup(k); ok {
		if len(v) != 8 || e.float {
			return 0, stNotCounter
		}
		n = int64(binary.LittleEndian.Uint64(v))
	} else {
		e = localEntry{}
	}
	n += delta
	e.val = binary.LittleEndian.AppendUint64(nil, uint64(n))
	local.saveUndo(k)
	local.state[k] = e
	return n, stOK
}

// hostStateAddF64 stands in for state_add_f64 as the host answers it: a
// NaN or infinite delta or sum is an error, an int counter -4.
func hostStateAddF64(scope int32, key []byte, name string, delta float64) (float64, int32) {
	local.mu.Lock()
	defer local.mu.Unlock()
	if math.IsNaN(delta) || math.IsInf(delta, 0) {
		return 0, -1 // the host's status for an error
	}
	k := localStateKey(scope, key, name)
	var n float64
	e := local.state[k]
	if v, ok := local.lookup(k); ok {
		if len(v) != 8 || !e.float {
			return 0, stNotCounter
		}
		n = math.Float64frombits(binary.LittleEndian.Uint64(v))
	} else {
		e = localEntry{}
	}
	if math.IsInf(n+delta, 0) {
		return 0, -1 // the host's status for an error
	}
	n += delta
	e.val, e.float = binary.LittleEndian.AppendUint64(nil, math.Float64bits(n)), true
	local.saveUndo(k)
	local.state[k] = e
	return n, stOK
}

func hostStateAppend(scope int32, key []byte, name string, val []byte) int32 {
	local.mu.Lock()
	defer local.mu.Unlock()
	k := localStateKey(scope, key, name)
	e := local.state[k]
	if _, ok := local.lookup(k); !ok {
		e = localEntry{}
	}
	if len(e.val)+5+len(val) > localMaxValue {
		return stTooLarge
	}
	// A copy: the value saved for undo keeps its bytes.
	e.val, e.float = abi.AppendListItem(bytes.Clone(e.val), val), false
	local.saveUndo(k)
	local.state[k] = e
	return stOK
}

// hostAsyncSubmit, natively, keeps the request for LocalSubmitted and
// returns the next ticket.
func hostAsyncSubmit(req []byte) (int64, int32, string) {
	local.mu.Lock()
	defer local.mu.Unlock()
	local.submitted = append(local.submitted, bytes.Clone(req))
	return int64(len(local.submitted) - 1), abi.StatusOK, ""
}

// LocalSubmitted returns, in a native build, the encoded async requests
// Submit sent since Reset, in order (ticket i is element i). A test decodes
// them with abi.DecodeValue and feeds results back with RunFrame and
// abi.AppendFrameWithResults.
func LocalSubmitted() [][]byte {
	local.mu.Lock()
	defer local.mu.Unlock()
	return append([][]byte(nil), local.submitted...)
}
