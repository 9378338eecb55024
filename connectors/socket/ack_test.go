package socket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

// numbers is a source of the records "0000000" to n-1, then io.EOF.
type numbers struct {
	n, next, batch int
}

type numbersConfig struct {
	N int `yaml:"n" doc:"How many records."`
}

func (s *numbers) Open(_ context.Context, env runtime.Env) error {
	s.batch = max(env.BatchSize, 1)
	return nil
}

func (s *numbers) Read(context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	if s.next == s.n {
		return nil, nil, io.EOF
	}
	var recs []runtime.Record
	for ; s.next < s.n && len(recs) < s.batch; s.next++ {
		recs = append(recs, runtime.Record{Value: fmt.Appendf(nil, "%07d", s.next)})
	}
	return recs, func(error) {}, nil
}

func (s *numbers) Close(context.Context) error { return nil }

// answer reads numbered lines from c, counting each into seen and writing
// back one newline for it, until limit lines (0: no limit) or the end of
// the connection. It returns the lines it answered.
func answer(t *testing.T, c net.Conn, limit int, seen func(int)) int {
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	n := 0
	for limit == 0 || n < limit {
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return n
			}
		}
		line, err := r.ReadSlice('\n')
		if err != nil {
			return n
		}
		i, err := strconv.Atoi(string(line[:len(line)-1]))
		if err != nil {
			t.Errorf("garbled line %q", line)
			return n
		}
		seen(i)
		n++
		if err := w.WriteByte('\n'); err != nil {
			return n
		}
	}
	if err := w.Flush(); err != nil {
		t.Error(err)
	}
	return n
}

// TestSinkLinesAckAcrossPeerCrash guards issue #8 end to end: with ack:
// lines a batch is done only once the peer answered each of its lines, so
// lines the peer's application had read (or its kernel had taken) but not
// processed when it died are sent again. The first peer answers part of
// the stream, keeps reading without answering, and resets; later peers
// answer everything. Every record must have been answered by a peer
// (duplicates allowed), and the run must count all n as written.
func TestSinkLinesAckAcrossPeerCrash(t *testing.T) {
	const n, answerFirst = 100_000, 23_456
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := make([]int, n)
	count := func(i int) {
		mu.Lock()
		defer mu.Unlock()
		if i < 0 || i >= n {
			t.Errorf("line %d out of range", i)
			return
		}
		seen[i]++
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		first := true
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the test closed the listener
			}
			if first {
				first = false
				// The rest of the batch being answered is read (into the
				// reader's buffer) but not processed when the peer dies.
				answer(t, c, answerFirst, count)
				if err := c.(*net.TCPConn).SetLinger(0); err != nil {
					t.Error(err)
				}
				c.Close()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				answer(t, c, 0, count)
			}()
		}
	}()

	reg := runtime.NewRegistry()
	Register(reg)
	runtime.AddSource(reg, "numbers", "numbered records",
		func(c *numbersConfig) (runtime.Source, error) { return &numbers{n: c.N}, nil })
	spec, err := runtime.Parse(fmt.Appendf(nil, `
pipeline: answers
data_dir: %q
batch: {size: 500}
on_error: {backoff: 1ms, max_backoff: 10ms}
source: {numbers: {n: %d}}
sink: {socket: {address: %q, ack: lines}}
`, t.TempDir(), n, ln.Addr().String()), reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtime.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	runErr := p.Run(t.Context())
	ln.Close()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	if out := p.Stats().RecordsOut; out != n {
		t.Errorf("the run counts %d records written, want %d", out, n)
	}
	mu.Lock()
	defer mu.Unlock()
	missing, first := 0, -1
	for i, c := range seen {
		if c == 0 {
			missing++
			if first < 0 {
				first = i
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d records were answered by no peer (the first: %d)", missing, n, first)
	}
}

// TestSinkLinesAckCountsLines checks that with ack: lines a text value
// holding a newline needs two answers: the peer answers lines, not
// records. A peer that answers only the first line leaves the Write
// unfinished until write_timeout.
func TestSinkLinesAckCountsLines(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	s := newSink(t, fmt.Sprintf("{address: %q, ack: lines, write_timeout: 300ms}", srv.addr()))
	if err := s.Open(t.Context(), connectortest.Env(t, 10)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	go func() {
		c := srv.accept()
		r := bufio.NewReader(c)
		if _, err := r.ReadString('\n'); err != nil {
			t.Error(err)
			return
		}
		if _, err := c.Write([]byte("\n")); err != nil {
			t.Error(err)
		}
	}()
	err := s.Write(t.Context(), rec("first\nsecond"))
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "1 of 2 lines unanswered") {
		t.Errorf("Write = %v, want a timeout waiting for the second line's answer", err)
	}
}
