// Package connectortest is the conformance suite every wasmstream connector
// runs, and the helpers its tests share: decoding a component's config as a
// pipeline file would, checking that every config key is documented, reading
// a source to its end, and waiting on a condition with a deadline.
//
// It is a plain package imported only by tests; its functions take a
// *testing.T and fail it.
package connectortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// Env returns an Env for a component under test: a fresh data directory,
// a logger writing to t.Log, and the given batch size.
func Env(t *testing.T, batchSize int) runtime.Env {
	t.Helper()
	return runtime.Env{
		Pipeline:  "test",
		Component: "component",
		DataDir:   filepath.Join(t.TempDir(), "data"),
		Logger:    slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BatchSize: batchSize,
	}
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// WaitFor polls cond until it returns true, failing t when it has not after
// timeout. Use it instead of sleeping.
func WaitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		}
	}
}

// Batch is one Read result.
type Batch struct {
	Records []runtime.Record
	Ack     runtime.AckFunc
}

// ReadBatches reads src until io.EOF without acknowledging anything, and
// returns the batches, each record copied before the next Read as the
// runtime copies it (a source may reuse its records between Reads). It
// fails t on any other error, on an empty batch, on a nil ack func, or on
// a batch larger than maxBatch (when positive).
func ReadBatches(t *testing.T, ctx context.Context, src runtime.Source, maxBatch int) []Batch {
	t.Helper()
	var out []Batch
	for {
		recs, ack, err := src.Read(ctx)
		if len(recs) > 0 {
			if ack == nil {
				t.Fatal("Read returned records with a nil AckFunc")
			}
			if maxBatch > 0 && len(recs) > maxBatch {
				t.Errorf("Read returned %d records, more than the batch size %d", len(recs), maxBatch)
			}
			out = append(out, Batch{Records: cloneRecords(recs), Ack: ack})
		}
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(recs) == 0 {
			t.Fatal("Read returned no records and no error")
		}
	}
}

// ReadN reads from src until it has n records, acknowledging each batch
// with ack (nil for success), and returns the records. It fails t on an
// error, including io.EOF before n records.
func ReadN(t *testing.T, ctx context.Context, src runtime.Source, n int) []runtime.Record {
	t.Helper()
	var out []runtime.Record
	for len(out) < n {
		recs, ack, err := src.Read(ctx)
		out = append(out, cloneRecords(recs)...)
		if ack != nil {
			ack(nil)
		}
		if err != nil {
			t.Fatalf("Read after %d of %d records: %v", len(out), n, err)
		}
	}
	return out
}

// cloneRecords returns deep copies of recs.
func cloneRecords(recs []runtime.Record) []runtime.Record {
	out := make([]runtime.Record, len(recs))
	for i := range recs {
		out[i] = recs[i].Clone()
	}
	return out
}

// Records flattens batches.
func Records(bs []Batch) []runtime.Record {
	var out []runtime.Record
	for _, b := range bs {
		out = append(out, b.Records...)
	}
	return out
}

// AckAll acknowledges every batch with err.
func AckAll(bs []Batch, err error) {
	for _, b := range bs {
		b.Ack(err)
	}
}

// Values returns the records' values as strings.
func Values(recs []runtime.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = string(recs[i].Value)
	}
	return out
}

// CheckRecords fails t unless got and want have the same length and each
// pair has equal keys and values, and equal timestamps, headers and outputs
// where want sets them (non-zero timestamp, non-nil headers, non-empty
// output).
func CheckRecords(t *testing.T, got, want []runtime.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d\ngot:  %s\nwant: %s", len(got), len(want), summary(got), summary(want))
	}
	bad := 0
	for i := range got {
		if msg := diff(&got[i], &want[i]); msg != "" {
			t.Errorf("record %d: %s", i, msg)
			if bad++; bad == 10 {
				t.Fatal("too many differences")
			}
		}
	}
}

func diff(g, w *runtime.Record) string {
	var b strings.Builder
	if !bytes.Equal(g.Key, w.Key) || (g.Key == nil) != (w.Key == nil) {
		fmt.Fprintf(&b, " key %s, want %s;", short(g.Key), short(w.Key))
	}
	if !bytes.Equal(g.Value, w.Value) {
		fmt.Fprintf(&b, " value %s, want %s;", short(g.Value), short(w.Value))
	}
	if w.Timestamp != 0 && g.Timestamp != w.Timestamp {
		fmt.Fprintf(&b, " timestamp %d, want %d;", g.Timestamp, w.Timestamp)
	}
	if w.Headers != nil && !equalHeaders(g.Headers, w.Headers) {
		fmt.Fprintf(&b, " headers %s, want %s;", headers(g.Headers), headers(w.Headers))
	}
	if w.Output != "" && g.Output != w.Output {
		fmt.Fprintf(&b, " output %q, want %q;", g.Output, w.Output)
	}
	return strings.TrimSpace(b.String())
}

func equalHeaders(a, b []runtime.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func headers(hs []runtime.Header) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h.Name + "=" + string(h.Value)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func short(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 40 {
		return fmt.Sprintf("%q…(%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func summary(recs []runtime.Record) string {
	var parts []string
	for i := range recs {
		if i == 8 {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, short(recs[i].Value))
	}
	return strings.Join(parts, " ")
}

// CheckReadCancels fails t unless a Read of src that is blocked waiting
// for data returns context.Canceled promptly when its context is
// cancelled (the runtime cancels such a Read for checkpoints, then reads
// again).
func CheckReadCancels(t *testing.T, src runtime.Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, _, err := src.Read(ctx)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after cancel")
	}
}

// Collector is a Sink that keeps a copy of every record written to it, for
// tests that run a pipeline and look at its output. Safe for concurrent
// use.
type Collector struct {
	mu   sync.Mutex
	recs []runtime.Record
}

// Open implements runtime.Sink.
func (c *Collector) Open(context.Context, runtime.Env) error { return nil }

// Close implements runtime.Sink.
func (c *Collector) Close(context.Context) error { return nil }

// Write implements runtime.Sink.
func (c *Collector) Write(_ context.Context, recs []runtime.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		c.recs = append(c.recs, r.Clone())
	}
	return nil
}

// Records returns what was written so far, in order of writing.
func (c *Collector) Records() []runtime.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}
