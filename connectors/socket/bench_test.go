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
// loopback peer. With ack: tcp the peer discards them and each Write waits
// for the peer's TCP receipt (on Linux); with ack: lines the peer answers
// one newline per line and each Write waits for the answers.
func BenchmarkSinkWrite(b *testing.B) {
	for _, ack := range []string{"tcp", "lines"} {
		b.Run(ack, func(b *testing.B) {
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
					go peer(c, ack == "lines")
				}
			}()
			s, err := NewSink(&SinkConfig{Address: ln.Addr().String(), Format: "text", Ack: ack,
				ConnectTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second})
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
		})
	}
}

// peer reads c to its end, answering one newline per line when answer is
// set.
func peer(c net.Conn, answer bool) {
	defer c.Close()
	if !answer {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	buf := make([]byte, 256<<10)
	var nl []byte
	for {
		n, err := c.Read(buf)
		if k := bytes.Count(buf[:n], []byte{'\n'}); k > 0 {
			if cap(nl) < k {
				nl = bytes.Repeat([]byte{'\n'}, k)
			}
			if _, err := c.Write(nl[:k]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
