package wasmstream

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/abi"
)

// Init runs the operator's initialisation as the host's init call would:
// cfg (nil means an empty one) is encoded as the host encodes it and
// decoded again, so the OnInit hook sees params with the types a Wasm module
// sees (every integer an int64, for instance). Not safe for concurrent use.
func Init(cfg *Config) error {
	if cfg == nil {
		cfg = &Config{}
	}
	payload, err := abi.AppendInitConfig(nil, &abi.InitConfig{
		Pipeline: cfg.Pipeline,
		Operator: cfg.Operator,
		Instance: cfg.Instance,
		Outputs:  cfg.Outputs,
		Params:   cfg.Params,
	})
	if err != nil {
		return fmt.Errorf("encoding init config: %w", err)
	}
	local.begin()
	err = op.init(payload)
	local.end(err == nil)
	return err
}

// Run runs the registered handler over in as one batch, through the same
// frame decoding and encoding as a Wasm module's process call, and returns
// the output records. Handlers work on an encoded copy of in, which is not
// modified. The returned records belong to the caller and alias nothing of
// the SDK's; their bytes share one allocation. The output is decoded with
// abi's reader, so every frame the SDK writes is also checked by it. Not
// safe for concurrent use.
func Run(in []Record) ([]Record, error) {
	op.runIn = abi.AppendFrame(op.runIn[:0], in)
	local.begin()
	out, err := op.process(op.runIn)
	local.end(err == nil)
	if err != nil {
		return nil, err
	}
	own := bytes.Clone(out)
	var r abi.FrameReader
	if err := r.Reset(own); err != nil {
		return nil, fmt.Errorf("decoding output batch: %w", err)
	}
	recs := make([]Record, r.Remaining())
	for i := range recs {
		if err := r.Next(&recs[i]); err != nil {
			return nil, fmt.Errorf("decoding output batch: %w", err)
		}
	}
	if err := r.Close(); err != nil {
		return nil, fmt.Errorf("decoding output batch: %w", err)
	}
	return recs, nil
}

// RunFrame runs the registered handler over an encoded input frame exactly
// as a Wasm module's process call does and returns the encoded output frame,
// or the error the host would receive. frame is copied first, so handlers
// that modify records in place do not modify it; the result belongs to the
// caller. Not safe for concurrent use.
func RunFrame(frame []byte) ([]byte, error) {
	op.runIn = append(op.runIn[:0], frame...)
	local.begin()
	out, err := op.process(op.runIn)
	local.end(err == nil)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(out), nil
}

// Reset forgets the handler and OnInit hook a test registered, the
// configuration, the native counters and the native state, so that tests in
// one package can register different handlers. What an init function
// registered, as in an operator's own package, stays registered: the
// package's tests run it after Reset as the module would. Reset keeps the
// log output and the SDK's buffers too. Not safe for concurrent use.
func Reset() {
	op = operator{registration: op.atInit, atInit: op.atInit, in: op.in, scratch: op.scratch, out: op.out, runIn: op.runIn}
	local.reset()
}

// SetLogOutput sets where Log and Logf write in a native build: standard
// error by default, nothing when w is nil. A Wasm module logs to the host
// and ignores it.
func SetLogOutput(w io.Writer) {
	local.mu.Lock()
	defer local.mu.Unlock()
	if w == nil {
		w = io.Discard
	}
	local.out = w
}

// Metrics returns a copy of the counters that Count added to since the
// start or the last Reset, in a native build. A Wasm module's counters are
// kept by the host, and there Metrics returns an empty map.
func Metrics() map[string]int64 {
	local.mu.Lock()
	defer local.mu.Unlock()
	return maps.Clone(local.metrics)
}

// local is the state of the native stand-ins for the host functions
// (imports_other.go). It is safe for concurrent use.
var local = localHost{out: os.Stderr, metrics: map[string]int64{}, state: map[string]localEntry{}}

type localHost struct {
	mu      sync.Mutex
	out     io.Writer
	metrics map[string]int64
	state   map[string]localEntry // imports_other.go
	// undo holds, during an Init, Run or RunFrame call (inCall), each
	// state value the call changed as it was before (nil: absent), so that
	// a failed call's writes are dropped as the host drops them. Outside a
	// call, State used directly by a test writes at once.
	undo   map[string]*localEntry
	inCall bool
	// submitted holds the async requests sent since Reset (imports_other.go).
	submitted     [][]byte
	callSubmitted int // len(submitted) when the current call began
}

func (l *localHost) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.metrics)
	clear(l.state)
	clear(l.undo)
	l.inCall = false
	l.submitted = nil
}

// begin starts a call whose state writes end keeps or drops.
func (l *localHost) begin() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.undo == nil {
		l.undo = map[string]*localEntry{}
	}
	clear(l.undo)
	l.inCall = true
	l.callSubmitted = len(l.submitted)
}

// end keeps the call's state writes when it succeeded and restores what
// they changed when it failed.
func (l *localHost) end(ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		for k, e := range l.undo {
			if e == nil {
				delete(l.state, k)
			} else {
				l.state[k] = *e
			}
		}
	}
	clear(l.undo)
	l.inCall = false
	if !ok {
		l.submitted = l.submitted[:l.callSubmitted] // as the host drops a failed call's requests
	}
}

// saveUndo records state value k as it is before a call's first write to
// it. l.mu must be held.
func (l *localHost) saveUndo(k string) {
	if !l.inCall {
		return
	}
	if _, saved := l.undo[k]; saved {
		return
	}
	var prev *localEntry
	if e, ok := l.state[k]; ok {
		prev = &e
	}
	l.undo[k] = prev
}

// localEntry is a native state value (imports_other.go).
type localEntry struct {
	val    []byte
	expiry time.Time
	float  bool // a float64 counter (State.AddFloat)
}
