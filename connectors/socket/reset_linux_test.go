//go:build linux

package socket

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

// inq returns how many bytes wait unread in conn's receive queue.
func inq(t *testing.T, conn net.Conn) int {
	t.Helper()
	var n int32
	control(t, conn, func(fd uintptr) error {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); e != 0 {
			return e
		}
		return nil
	})
	return int(n)
}

// peek returns the bytes waiting in conn's receive queue without
// consuming them, so the peer's advertised window stays shut.
func peek(t *testing.T, conn net.Conn, size int) []byte {
	t.Helper()
	buf := make([]byte, size)
	var got int
	control(t, conn, func(fd uintptr) error {
		n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		got = n
		return err
	})
	return buf[:got]
}

func control(t *testing.T, conn net.Conn, f func(fd uintptr) error) {
	t.Helper()
	raw, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(fd) }); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
}

// TestSinkAtLeastOnceAcrossPeerReset guards issue #8: the socket sink lost
// records when its peer reset the connection (a Write was done once the
// kernel took the bytes, so what sat in the socket buffers was gone), with
// the pipeline ending cleanly and counting every record as written.
//
// A pipeline writes n numbered records to a real TCP peer on loopback. The
// first connection reads part of the stream, stops reading until the
// sink is stalled on a full window, and resets (linger 0); what its kernel
// had already received counts as arrived (the sink's guarantee ends at the
// peer's TCP stack). A second connection reads the rest. Every record must
// have reached one of them (duplicates allowed), and the run must count
// all n as written.
func TestSinkAtLeastOnceAcrossPeerReset(t *testing.T) {
	const n, readFirst = 200_000, 30_000
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })

	var mu sync.Mutex
	seen := make([]int, n)
	count := func(data []byte) {
		mu.Lock()
		defer mu.Unlock()
		for line := range bytes.Lines(data) {
			if line[len(line)-1] != '\n' {
				return // a partial last line does not count
			}
			i, err := strconv.Atoi(string(line[:len(line)-1]))
			if err != nil || i < 0 || i >= n {
				t.Errorf("garbled line %q", line)
				return
			}
			seen[i]++
		}
	}
	peers := make(chan error, 1)
	go func() { peers <- serve(t, ln, readFirst, count) }()

	reg := runtime.NewRegistry()
	Register(reg)
	runtime.AddSource(reg, "numbers", "numbered records",
		func(c *numbersConfig) (runtime.Source, error) { return &numbers{n: c.N}, nil })
	spec, err := runtime.Parse(fmt.Appendf(nil, `
pipeline: reset
data_dir: %q
batch: {size: 500}
on_error: {backoff: 1ms, max_backoff: 10ms}
source: {numbers: {n: %d}}
sink: {socket: {address: %q}}
`, t.TempDir(), n, ln.Addr().String()), reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtime.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	runErr := p.Run(t.Context())
	ln.Close() // ends serve once every connection was read to its end
	if err := <-peers; err != nil {
		t.Fatal(err)
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
	if out := p.Stats().RecordsOut; out != n {
		t.Errorf("the run counts %d records written, want %d", out, n)
	}
	mu.Lock()
	defer mu.Unlock()
	missing, dups := 0, 0
	first := -1
	for i, c := range seen {
		if c == 0 {
			missing++
			if first < 0 {
				first = i
			}
		}
		dups += max(c-1, 0)
	}
	if missing > 0 {
		t.Errorf("%d of %d records reached no peer (the first: %d)", missing, n, first)
	}
	t.Logf("%d duplicates after the reset", dups)
}

// serve accepts the sink's connections: the first is read for readFirst
// lines, left unread until the sink stalls, and reset; the others are read
// to their end, which is the sink's Close.
func serve(t *testing.T, ln net.Listener, readFirst int, count func([]byte)) error {
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	var read []byte
	for lines := 0; lines < readFirst; lines++ {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading the first connection: %w", err)
		}
		read = append(read, line...)
	}
	buffered, _ := r.Peek(r.Buffered())
	read = append(read, buffered...)
	// Wait for the sink to stall: the receive queue stops growing because
	// the window is shut. Peeking does not open it again.
	last, since := -1, time.Now()
	connectortest.WaitFor(t, 20*time.Second, "the sink to stall", func() bool {
		q := inq(t, conn)
		if q != last {
			last, since = q, time.Now()
		}
		return q > 0 && time.Since(since) > 200*time.Millisecond
	})
	read = append(read, peek(t, conn, last)...)
	count(read)
	if err := conn.(*net.TCPConn).SetLinger(0); err != nil {
		return err
	}
	if err := conn.Close(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil // the test closed the listener
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			data, err := io.ReadAll(c)
			if err != nil {
				t.Errorf("reading a later connection: %v", err)
			}
			count(data)
		}()
	}
}
