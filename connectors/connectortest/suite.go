package connectortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// SuiteBatchSize is the Env.BatchSize the suites open components with. It
// is small so sources return several batches.
const SuiteBatchSize = 7

// NewSink returns a fresh, unopened sink for one subtest, and a func that
// returns every record the sink wrote, in order. The suite calls it after
// the sink's Close. Sinks that write only values (text formats) return
// records with only Value set; the suite compares values, and keys when the
// returned records have them.
type NewSink func(t *testing.T) (runtime.Sink, func() []runtime.Record)

// RunSinkSuite runs the sink conformance cases: open and close, close
// without writes, one batch, several batches in order, an empty batch, a
// 1 MiB value, and that Write keeps no record bytes after it returns.
func RunSinkSuite(t *testing.T, newSink NewSink) {
	t.Run("open close", func(t *testing.T) {
		sink, written := newSink(t)
		if err := sink.Open(t.Context(), Env(t, SuiteBatchSize)); err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := sink.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := written(); len(got) != 0 {
			t.Errorf("wrote %d records, want none", len(got))
		}
	})
	cases := []struct {
		name    string
		batches [][]runtime.Record
	}{
		{"close without writes", nil},
		{"one batch", [][]runtime.Record{makeRecords("one", 3, 10)}},
		{"several batches in order", [][]runtime.Record{
			makeRecords("a", 5, 10), makeRecords("b", 1, 10), makeRecords("c", 20, 10), makeRecords("d", 5, 10),
		}},
		{"empty batch", [][]runtime.Record{{}, nil, makeRecords("after-empty", 2, 10), {}}},
		{"1MiB value", [][]runtime.Record{makeRecords("big", 1, 1<<20), makeRecords("small", 2, 10)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink, written := newSink(t)
			if err := sink.Open(t.Context(), Env(t, SuiteBatchSize)); err != nil {
				t.Fatalf("Open: %v", err)
			}
			var want []runtime.Record
			for i, b := range tc.batches {
				if err := sink.Write(t.Context(), b); err != nil {
					t.Fatalf("Write batch %d: %v", i, err)
				}
				want = append(want, b...)
			}
			if err := sink.Close(t.Context()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			checkWritten(t, written(), want)
		})
	}
	t.Run("keeps no bytes after Write", func(t *testing.T) {
		sink, written := newSink(t)
		if err := sink.Open(t.Context(), Env(t, SuiteBatchSize)); err != nil {
			t.Fatalf("Open: %v", err)
		}
		var want []runtime.Record
		for i := range 3 {
			b := makeRecords(fmt.Sprintf("reused-%d", i), 4, 20)
			for j := range b {
				want = append(want, b[j].Clone())
			}
			if err := sink.Write(t.Context(), b); err != nil {
				t.Fatalf("Write: %v", err)
			}
			// The runtime may reuse the memory once Write has returned.
			for j := range b {
				for k := range b[j].Value {
					b[j].Value[k] = 'X'
				}
				for k := range b[j].Key {
					b[j].Key[k] = 'X'
				}
			}
		}
		if err := sink.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		checkWritten(t, written(), want)
	})
}

// checkWritten compares what a sink wrote with what it was given: values
// always, keys when the sink's read-back has them.
func checkWritten(t *testing.T, got, want []runtime.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("wrote %d records, want %d\ngot:  %s\nwant: %s", len(got), len(want), summary(got), summary(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Value, want[i].Value) {
			t.Fatalf("record %d: value %s, want %s", i, short(got[i].Value), short(want[i].Value))
		}
		if got[i].Key != nil && !bytes.Equal(got[i].Key, want[i].Key) {
			t.Fatalf("record %d: key %s, want %s", i, short(got[i].Key), short(want[i].Key))
		}
	}
}

// makeRecords returns n records with keys "<prefix>-k<i>" and printable
// values of size bytes that start with "<prefix>-<i>".
func makeRecords(prefix string, n, size int) []runtime.Record {
	recs := make([]runtime.Record, n)
	for i := range recs {
		v := []byte(fmt.Sprintf("%s-%d:", prefix, i))
		for len(v) < size {
			v = append(v, byte('a'+len(v)%26))
		}
		recs[i] = runtime.Record{
			Key:       []byte(fmt.Sprintf("%s-k%d", prefix, i)),
			Value:     v,
			Timestamp: 1700000000000 + int64(i),
		}
	}
	return recs
}

// NewSource returns a fresh, unopened bounded source for one subtest and
// the records it must produce, in order (see CheckRecords for what is
// compared).
type NewSource func(t *testing.T) (runtime.Source, []runtime.Record)

// RunSourceSuite runs the conformance cases for a bounded source: it reads
// everything in batches of at most Env.BatchSize with owned bytes, acks in
// order, out of order and from other goroutines, keeps returning io.EOF at
// the end, Read with a cancelled context returns promptly, acks after Close
// are ignored, and Close works without a Read.
func RunSourceSuite(t *testing.T, newSource NewSource) {
	open := func(t *testing.T) (runtime.Source, []runtime.Record) {
		src, want := newSource(t)
		if err := src.Open(t.Context(), Env(t, SuiteBatchSize)); err != nil {
			t.Fatalf("Open: %v", err)
		}
		return src, want
	}
	closeSrc := func(t *testing.T, src runtime.Source) {
		if err := src.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	t.Run("reads everything", func(t *testing.T) {
		src, want := open(t)
		// All batches are kept unacknowledged before comparing (each
		// record copied as the runtime copies it: a source may reuse its
		// buffers between Reads).
		bs := ReadBatches(t, t.Context(), src, SuiteBatchSize)
		CheckRecords(t, Records(bs), want)
		AckAll(bs, nil)
		closeSrc(t, src)
	})
	t.Run("EOF is sticky", func(t *testing.T) {
		src, _ := open(t)
		AckAll(ReadBatches(t, t.Context(), src, SuiteBatchSize), nil)
		for range 2 {
			recs, _, err := src.Read(t.Context())
			if len(recs) != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("Read after EOF = %d records, %v; want io.EOF", len(recs), err)
			}
		}
		closeSrc(t, src)
	})
	t.Run("acks out of order from other goroutines", func(t *testing.T) {
		src, want := open(t)
		bs := ReadBatches(t, t.Context(), src, SuiteBatchSize)
		CheckRecords(t, Records(bs), want)
		var wg sync.WaitGroup
		for i := len(bs) - 1; i >= 0; i-- {
			wg.Go(func() {
				if i%3 == 1 {
					bs[i].Ack(errors.New("not processed"))
					return
				}
				bs[i].Ack(nil)
			})
		}
		wg.Wait()
		closeSrc(t, src)
	})
	t.Run("read with cancelled context", func(t *testing.T) {
		src, _ := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		done := make(chan error, 1)
		go func() {
			recs, ack, err := src.Read(ctx)
			if ack != nil {
				ack(errors.New("cancelled"))
			}
			if err == nil && len(recs) > 0 {
				err = fmt.Errorf("got %d records", len(recs))
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Read with a cancelled context = %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Read with a cancelled context did not return")
		}
		closeSrc(t, src)
	})
	t.Run("acks after close are ignored", func(t *testing.T) {
		src, _ := open(t)
		recs, ack, err := src.Read(t.Context())
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("Read: %v", err)
		}
		closeSrc(t, src)
		if len(recs) > 0 {
			ack(nil)
		}
	})
	t.Run("close without read", func(t *testing.T) {
		src, _ := open(t)
		closeSrc(t, src)
	})
}
