package socket

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

func TestDocs(t *testing.T) { connectortest.CheckDocs(t, Register) }

// server is a real TCP peer on a loopback port. Accepted connections
// arrive on conns.
type server struct {
	t     *testing.T
	ln    net.Listener
	conns chan net.Conn
}

func listen(t *testing.T, addr string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, ln: ln, conns: make(chan net.Conn, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- c
		}
	}()
	t.Cleanup(func() { s.ln.Close() })
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

// accept returns the next accepted connection.
func (s *server) accept() net.Conn {
	s.t.Helper()
	select {
	case c := <-s.conns:
		s.t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(10 * time.Second):
		s.t.Fatal("no connection")
		return nil
	}
}

func send(t *testing.T, c net.Conn, data string) {
	t.Helper()
	if _, err := c.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
}

func openSource(t *testing.T, settings string, batch int) *Source {
	t.Helper()
	cfg := connectortest.MustDecodeSource[SourceConfig](t, Register, "socket", settings)
	src, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(t.Context(), connectortest.Env(t, batch)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := src.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return src
}

func TestSourceReadsRecords(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		data     string
		want     []string
	}{
		{"lines", "", "a\r\nbb\n\nc\n", []string{"a", "bb", "", "c"}},
		{"custom delimiter", ", delimiter: '||'", "a||b|c||", []string{"a", "b|c"}},
		{"escaped delimiter", `, delimiter: '\t'`, "a\tb\r\t", []string{"a", "b\r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := listen(t, "127.0.0.1:0")
			src := openSource(t, fmt.Sprintf("{address: %q%s}", srv.addr(), tt.settings), 100)
			go func() {
				c := srv.accept()
				send(t, c, tt.data)
			}()
			got := connectortest.Values(connectortest.ReadN(t, t.Context(), src, len(tt.want)))
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("read %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSourceReconnectsAndContinues(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	src := openSource(t, fmt.Sprintf("{address: %q, reconnect_backoff: 1ms}", srv.addr()), 100)
	go func() {
		c := srv.accept()
		send(t, c, "a\nb\npartial")
		// The server drops the connection mid-stream.
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		c = srv.accept()
		send(t, c, "d\ne\n")
	}()
	got := connectortest.Values(connectortest.ReadN(t, t.Context(), src, 5))
	if strings.Join(got, ",") != "a,b,partial,d,e" {
		t.Errorf("read %q, want a,b,partial,d,e", got)
	}
}

func TestSourceBatchSize(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	src := openSource(t, fmt.Sprintf("{address: %q}", srv.addr()), 10)
	var want []string
	var b strings.Builder
	for i := range 25 {
		want = append(want, fmt.Sprint(i))
		fmt.Fprintf(&b, "%d\n", i)
	}
	go func() { send(t, srv.accept(), b.String()) }()
	var got []string
	for len(got) < 25 {
		recs, ack, err := src.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ack(nil)
		if len(recs) == 0 || len(recs) > 10 {
			t.Fatalf("Read returned %d records with batch size 10", len(recs))
		}
		got = append(got, connectortest.Values(recs)...)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("read %q", got)
	}
}

func TestSourceGivesUpAfterMaxRetries(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	addr := srv.addr()
	if err := srv.ln.Close(); err != nil {
		t.Fatal(err)
	}
	src := openSource(t, fmt.Sprintf("{address: %q, max_retries: 2, reconnect_backoff: 1ms}", addr), 10)
	_, _, err := src.Read(t.Context())
	if err == nil || !strings.Contains(err.Error(), "connecting to "+addr+": giving up after 3 attempts") {
		t.Errorf("Read = %v", err)
	}
}

func TestSourceWaitsForServer(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	addr := srv.addr()
	if err := srv.ln.Close(); err != nil {
		t.Fatal(err)
	}
	src := openSource(t, fmt.Sprintf("{address: %q, reconnect_backoff: 1ms, reconnect_max_backoff: 10ms}", addr), 10)
	got := make(chan []string, 1)
	go func() {
		recs, _, err := src.Read(t.Context())
		if err != nil {
			t.Error(err)
		}
		got <- connectortest.Values(recs)
	}()
	srv = listen(t, addr)
	send(t, srv.accept(), "hello\n")
	if v := <-got; strings.Join(v, ",") != "hello" {
		t.Errorf("read %q", v)
	}
}

func TestSourceCancelKeepsConnection(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	src := openSource(t, fmt.Sprintf("{address: %q}", srv.addr()), 10)
	first := make(chan error, 1)
	go func() {
		_, _, err := src.Read(t.Context())
		first <- err
	}()
	c := srv.accept()
	send(t, c, "first\n")
	if err := <-first; err != nil { // now connected
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, _, err := src.Read(ctx)
		errc <- err
	}()
	send(t, c, "half")
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after cancel")
	}
	send(t, c, " and half\n")
	got := connectortest.Values(connectortest.ReadN(t, t.Context(), src, 1))
	if strings.Join(got, ",") != "half and half" {
		t.Errorf("read %q after cancel", got)
	}
	select {
	case extra := <-srv.conns:
		extra.Close()
		t.Error("the source reconnected after a cancelled Read")
	default:
	}
}

func TestSourceSkipsLongRecords(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	src := openSource(t, fmt.Sprintf("{address: %q, max_line: 5}", srv.addr()), 10)
	go func() { send(t, srv.accept(), "123456789\nok\n12345\n") }()
	got := connectortest.Values(connectortest.ReadN(t, t.Context(), src, 2))
	if strings.Join(got, ",") != "ok,12345" || src.tooLong != 1 {
		t.Errorf("read %q, skipped %d", got, src.tooLong)
	}
}

// collector is a server that reads every line of every connection.
type collector struct {
	*server
	mu       sync.Mutex
	lines    []string
	open     []net.Conn
	accepted int
	finished int
}

func collect(t *testing.T) *collector { return collectOn(t, "127.0.0.1:0") }

func collectOn(t *testing.T, addr string) *collector {
	c := &collector{server: listen(t, addr)}
	go func() {
		for conn := range c.conns {
			c.mu.Lock()
			c.accepted++
			c.open = append(c.open, conn)
			c.mu.Unlock()
			go func() {
				defer conn.Close()
				sc := bufio.NewScanner(conn)
				sc.Buffer(nil, 4<<20)
				for sc.Scan() {
					c.mu.Lock()
					c.lines = append(c.lines, sc.Text())
					c.mu.Unlock()
				}
				c.mu.Lock()
				c.finished++
				c.mu.Unlock()
			}()
		}
	}()
	return c
}

// waitLines waits until n lines arrived and returns them.
func (c *collector) waitLines(n int) []string {
	c.t.Helper()
	var out []string
	connectortest.WaitFor(c.t, 10*time.Second, fmt.Sprintf("%d lines", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		out = append([]string(nil), c.lines...)
		return len(out) >= n
	})
	return out
}

func newSink(t *testing.T, settings string) *Sink {
	t.Helper()
	cfg := connectortest.MustDecodeSink[SinkConfig](t, Register, "socket", settings)
	s, err := NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parseLine(t *testing.T, format, line string) runtime.Record {
	if format == "text" {
		return runtime.Record{Value: []byte(line)}
	}
	var j struct{ Key, Value *string }
	if err := json.Unmarshal([]byte(line), &j); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	r := runtime.Record{}
	if j.Key != nil {
		r.Key = []byte(*j.Key)
	}
	if j.Value != nil {
		r.Value = []byte(*j.Value)
	}
	return r
}

func TestSinkSuite(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			connectortest.RunSinkSuite(t, func(t *testing.T) (runtime.Sink, func() []runtime.Record) {
				srv := collect(t)
				s := newSink(t, fmt.Sprintf("{address: %q, format: %s}", srv.addr(), format))
				return s, func() []runtime.Record {
					// After Close, every connection the sink made ends.
					connectortest.WaitFor(t, 10*time.Second, "the server to read everything", func() bool {
						srv.mu.Lock()
						defer srv.mu.Unlock()
						return srv.accepted == s.dials && srv.finished == s.dials
					})
					srv.mu.Lock()
					defer srv.mu.Unlock()
					var recs []runtime.Record
					for _, l := range srv.lines {
						recs = append(recs, parseLine(t, format, l))
					}
					return recs
				}
			})
		})
	}
}

func rec(v string) []runtime.Record { return []runtime.Record{{Value: []byte(v)}} }

func TestSinkPeerGoesAwayAndReturns(t *testing.T) {
	srv := collect(t)
	addr := srv.addr()
	s := newSink(t, fmt.Sprintf("{address: %q, connect_timeout: 1s}", addr))
	if err := s.Open(t.Context(), connectortest.Env(t, 10)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	if err := s.Write(t.Context(), rec("before")); err != nil {
		t.Fatal(err)
	}
	srv.waitLines(1)

	// The peer goes away: listener and connection.
	if err := srv.ln.Close(); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 10*time.Second, "the server connection to be accepted", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.accepted == 1
	})
	closeServerConns(t, srv)
	var writeErr error
	connectortest.WaitFor(t, 10*time.Second, "Write to fail", func() bool {
		writeErr = s.Write(t.Context(), rec("lost?"))
		return writeErr != nil
	})
	if !strings.Contains(writeErr.Error(), addr) {
		t.Errorf("Write error %q does not name %s", writeErr, addr)
	}

	// The peer returns on the same address: the retried Write succeeds.
	back := collectOn(t, addr)
	if err := s.Write(t.Context(), rec("after")); err != nil {
		t.Fatalf("Write after the peer returned: %v", err)
	}
	if got := back.waitLines(1); got[len(got)-1] != "after" {
		t.Errorf("the returned peer got %q", got)
	}
}

// closeServerConns ends the server side of every accepted connection.
func closeServerConns(t *testing.T, c *collector) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.open {
		if err := conn.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestSinkWriteTimeout(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	s := newSink(t, fmt.Sprintf("{address: %q, write_timeout: 50ms}", srv.addr()))
	if err := s.Open(t.Context(), connectortest.Env(t, 10)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	// The peer never reads: 24 MiB do not fit in the socket buffers.
	big := []runtime.Record{{Value: make([]byte, 24<<20)}}
	start := time.Now()
	err := s.Write(t.Context(), big)
	srv.accept()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("Write = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Write took %v with write_timeout 50ms", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Write(ctx, big); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context = %v", err)
	}
}

func TestConfigProblems(t *testing.T) {
	_, err := connectortest.DecodeSource[SourceConfig](t, Register, "socket",
		`{address: '', delimiter: '\x', max_line: 0, reconnect_backoff: 1s, reconnect_max_backoff: 10ms, max_retries: -1}`)
	got := connectortest.ConfigProblems(t, err)
	want := []string{
		"source.socket.address: required: host:port",
		`source.socket.delimiter: "\\x" has an unknown escape \x (known: \n, \r, \t, \\)`,
		"source.socket.max_line: must be at least 1 byte",
		"source.socket.max_retries: must not be negative (0 retries forever)",
		"source.socket.reconnect_max_backoff: must be at least reconnect_backoff (1s)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("source problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	cfg := connectortest.MustDecodeSource[SourceConfig](t, Register, "socket", "{address: 'h:1'}")
	want2 := SourceConfig{Address: "h:1", Delimiter: `\n`, MaxLine: 1 << 20, ConnectTimeout: 5 * time.Second,
		ReconnectBackoff: 100 * time.Millisecond, ReconnectMaxBackoff: 5 * time.Second}
	if *cfg != want2 {
		t.Errorf("defaults %+v, want %+v", *cfg, want2)
	}
	_, err = connectortest.DecodeSink[SinkConfig](t, Register, "socket", "{format: xml, write_timeout: 0s}")
	got = connectortest.ConfigProblems(t, err)
	// Validate runs beside the other problems: all in one pass (issue #9).
	want = []string{
		"sink.socket.address: required",
		`sink.socket.format: "xml" is not one of text, json`,
		"sink.socket.write_timeout: must be positive",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sink problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAddressAndMaxLineProblems guards issue #8: socket addresses were not
// checked by validate, so "missing port" was found only at run time and
// retried forever; max_line had no upper bound, so a huge setting let one
// record take all memory.
func TestAddressAndMaxLineProblems(t *testing.T) {
	tests := []struct {
		name, settings string
		want           []string
	}{
		{"no port", "{address: localhost}", []string{`address: "localhost" is not host:port: missing port in address`}},
		{"port not a number", "{address: 'h:http'}", []string{`address: "h:http": the port must be a number from 1 to 65535`}},
		{"port 0", "{address: 'h:0'}", []string{`address: "h:0": the port must be a number from 1 to 65535`}},
		{"port too large", "{address: 'h:65536'}", []string{`address: "h:65536": the port must be a number from 1 to 65535`}},
		{"too many colons", "{address: 'a:b:1'}", []string{`address: "a:b:1" is not host:port: too many colons in address`}},
		{"max_line over the limit", "{address: 'h:1', max_line: 3GiB}", []string{"max_line: 3GiB is more than the limit of 64MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := connectortest.DecodeSource[SourceConfig](t, Register, "socket", tt.settings)
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = "source.socket." + w
			}
			connectortest.CheckProblems(t, err, want...)
			if strings.Contains(tt.settings, "max_line") {
				return
			}
			_, err = connectortest.DecodeSink[SinkConfig](t, Register, "socket", tt.settings)
			for i, w := range tt.want {
				want[i] = "sink.socket." + w
			}
			connectortest.CheckProblems(t, err, want...)
		})
	}
	for _, ok := range []string{"127.0.0.1:9000", "[::1]:1", "example.com:65535", ":9000"} {
		if _, err := connectortest.DecodeSource[SourceConfig](t, Register, "socket", fmt.Sprintf("{address: %q}", ok)); err != nil {
			t.Errorf("address %q: %v", ok, err)
		}
	}
}

// TestSourceBadAddressIsFatal guards issue #8: a source whose address can
// never be dialled ("missing port") retried forever; it now fails at once,
// naming the address.
func TestSourceBadAddressIsFatal(t *testing.T) {
	src, err := NewSource(&SourceConfig{Address: "127.0.0.1:1", Delimiter: `\n`, MaxLine: 10, ConnectTimeout: time.Second,
		ReconnectBackoff: time.Millisecond, ReconnectMaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src.cfg.Address = "localhost" // as if built without Validate
	if err := src.Open(t.Context(), connectortest.Env(t, 10)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := src.Close(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, err = src.Read(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "missing port") || !strings.Contains(err.Error(), "localhost") {
		t.Errorf("Read = %v, want a fatal error naming the address and the missing port", err)
	}
}

// TestSinkBadAddressSaysSo checks that a sink whose address can never be
// dialled (built without Validate) says so in its error, since the
// runtime retries sink writes (issue #8: "missing port" retried forever
// without a word that it could not succeed).
func TestSinkBadAddressSaysSo(t *testing.T) {
	s := newSink(t, "{address: 'h:1'}")
	s.cfg.Address = "localhost"
	if err := s.Open(t.Context(), connectortest.Env(t, 10)); err != nil {
		t.Fatal(err)
	}
	err := s.Write(t.Context(), rec("x"))
	if err == nil || !strings.Contains(err.Error(), "missing port") || !strings.Contains(err.Error(), "can never be dialled") {
		t.Errorf("Write = %v", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Error(err)
	}
}
