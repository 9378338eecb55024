package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
)

// SwapResult is what MeasureSwaps found.
type SwapResult struct {
	Swaps          int
	Records        int64   // sequence numbers sent
	Rate           float64 // records/s the source kept up
	P50, P99, Max  time.Duration
	Missing, Twice int64
}

// paced emits sequence numbers at rate records/s in batches of batch,
// until stopped.
type paced struct {
	rate, batch int
	next        int64
	start       time.Time
	recs        []runtime.Record
	buf         []byte
}

func (s *paced) Open(context.Context, runtime.Env) error { s.start = time.Now(); return nil }
func (s *paced) Close(context.Context) error             { return nil }
func (s *paced) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	due := s.start.Add(time.Duration(float64(s.next) / float64(s.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	} else if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	s.recs, s.buf = s.recs[:0], s.buf[:0]
	for range s.batch {
		off := len(s.buf)
		s.buf = strconv.AppendInt(s.buf, s.next, 10)
		s.recs = append(s.recs, runtime.Record{Value: s.buf[off:len(s.buf):len(s.buf)]})
		s.next++
	}
	return s.recs, ack, nil
}

// seqSink marks each sequence number it is given.
type seqSink struct {
	mu    sync.Mutex
	seen  []uint8
	twice int64
}

func (s *seqSink) Open(context.Context, runtime.Env) error { return nil }
func (s *seqSink) Close(context.Context) error             { return nil }
func (s *seqSink) Write(_ context.Context, recs []runtime.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		n, err := strconv.ParseInt(string(bytes.ToLower(r.Value)), 10, 64)
		if err != nil {
			return fmt.Errorf("bench: output %q is not a sequence number", r.Value)
		}
		for int64(len(s.seen)) <= n {
			s.seen = append(s.seen, make([]uint8, 1<<16)...)
		}
		if s.seen[n] > 0 {
			s.twice++
		}
		s.seen[n]++
	}
	return nil
}

// MeasureSwaps runs lang's uppercase module under a stream of rate
// records/s and swaps it swaps times, every interval, between two versions
// (the same code under two digests: a custom section appended), then
// checks that every sequence number arrived once and reports the pauses.
func (e *Env) MeasureSwaps(ctx context.Context, lang string, rate, swaps int, interval time.Duration, dir string) (SwapResult, error) {
	v1 := e.Modules[lang]
	if v1 == "" {
		return SwapResult{}, fmt.Errorf("bench: no %s guest", lang)
	}
	b, err := os.ReadFile(v1)
	if err != nil {
		return SwapResult{}, err
	}
	v2 := filepath.Join(dir, "uppercase-"+lang+"-v2.wasm")
	if err := os.WriteFile(v2, append(slices.Clone(b), 0, 3, 1, 'v', '2'), 0o644); err != nil {
		return SwapResult{}, err
	}
	spec, err := runtime.Parse([]byte(fmt.Sprintf(`
pipeline: swap
data_dir: %q
batch: {size: 1000, linger: 5ms}
source: {bench: {}}
operators: [{name: upper, wasm: {module: %q}}]
sink: {bench: {}}
`, filepath.Join(dir, "swap-data"), v1)), e.reg)
	if err != nil {
		return SwapResult{}, err
	}
	src, sink := &paced{rate: rate, batch: max(1, rate/100)}, &seqSink{}
	p, err := runtime.Build(spec, runtime.WithSource(src), runtime.WithSink(sink))
	if err != nil {
		return SwapResult{}, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- p.Run(runCtx) }()
	var pauses []time.Duration
	for i := range swaps {
		select {
		case <-time.After(interval):
		case err := <-done:
			return SwapResult{}, fmt.Errorf("bench: the pipeline ended during the swaps: %v", err)
		}
		path := v2
		if i%2 == 1 {
			path = v1
		}
		res, err := host.Swap(ctx, p, e.Engine, "upper", path, runtime.SwapOptions{})
		if err != nil {
			return SwapResult{}, err
		}
		pauses = append(pauses, res.Pause)
	}
	time.Sleep(interval) // records flow on after the last swap
	stop()
	if err := <-done; err != nil {
		return SwapResult{}, err
	}
	elapsed := time.Since(began)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	sent := src.next
	var missing int64
	for i := range sent {
		if i >= int64(len(sink.seen)) || sink.seen[i] == 0 {
			missing++
		}
	}
	slices.Sort(pauses)
	r := SwapResult{Swaps: swaps, Records: sent, Rate: float64(sent) / elapsed.Seconds(), Missing: missing, Twice: sink.twice,
		P50: pauses[len(pauses)/2], P99: pauses[(len(pauses)*99)/100], Max: pauses[len(pauses)-1]}
	if missing > 0 || sink.twice > 0 {
		return r, errors.New("bench: records lost or repeated across the swaps")
	}
	return r, nil
}
