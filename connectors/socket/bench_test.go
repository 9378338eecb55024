package socket

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// BenchmarkSinkWrite writes batches of 1000 records of 100 bytes to a
// loopback peer that reads and discards them; each Write waits for the
// peer's receipt (on Linux).
func BenchmarkSinkWrite(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	s, err := NewSink(&SinkConfig{Address: ln.Addr().String(), Format: "text", ConnectTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Open(b.Context(), runtime.Env{}); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(b.Context()); err != nil {
			b.Error(err)
		}
	}()
	recs := make([]runtime.Record, 1000)
	for i := range recs {
		recs[i].Value = bytes.Repeat([]byte{'a' + byte(i%26)}, 100)
	}
	b.SetBytes(int64(len(recs) * 101))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Write(b.Context(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
