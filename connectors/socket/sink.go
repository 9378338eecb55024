package socket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmstream/wasmstream/connectors/internal/lines"
	"github.com/wasmstream/wasmstream/runtime"
)

// keepBuffer is the largest line buffer kept between Writes.
const keepBuffer = 4 << 20

// Polling of the peer's receipt: the first wait, doubling up to the last.
const (
	receiptPollMin = 20 * time.Microsecond
	receiptPollMax = 2 * time.Millisecond
)

// Sink writes records as lines to a TCP server.
//
// It is at-least-once: Write returns nil only once the peer's TCP stack has
// acknowledged every byte of the batch (on Linux, the socket's queue of
// unacknowledged bytes is empty), not when the bytes were handed to the
// kernel. When the connection breaks, is reset, or the peer has closed it,
// Write returns an error and drops the connection; the runtime retries the
// whole batch with backoff on a new connection, so the peer may get records
// twice around a reconnect. What it cannot cover: bytes the peer's kernel
// acknowledged but the peer's application never read (it crashed with them
// in its receive buffer). On systems other than Linux the receipt is not
// available and a batch is done once the kernel took it.
//
// With ack: lines the receipt is end to end instead: the peer writes back
// one newline per line it took, and Write returns nil once every line of
// the batch was answered on the connection it was sent on.
//
// Write and Close are not safe for concurrent use with each other.
type Sink struct {
	cfg    SinkConfig
	format lines.Format
	log    *slog.Logger

	conn   net.Conn
	closed chan struct{} // closed when the peer ends the connection
	reader sync.WaitGroup
	// With ack: lines, the peer's answers on the current connection: acked
	// counts the newlines it sent back, answered is signalled on each read.
	acked    *atomic.Int64
	answered chan struct{}
	sent     int64 // lines (newlines) written on the current connection
	buf      []byte
	timer    *time.Timer // paces the polls for the peer's receipt
	dials    int         // connections made
}

// NewSink returns a sink for a validated config. It does no I/O.
func NewSink(cfg *SinkConfig) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f, err := lines.ParseFormat(cfg.Format)
	if err != nil {
		return nil, err
	}
	return &Sink{cfg: *cfg, format: f}, nil
}

// Open implements runtime.Sink. The connection is made by the first Write,
// so a server that is not up yet does not fail the pipeline.
func (s *Sink) Open(_ context.Context, env runtime.Env) error {
	s.log = env.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case s.cfg.Ack == "lines":
		s.log.Info("socket sink: at-least-once, end to end: a batch is acknowledged once the peer answered one newline per line of it; after a reconnect the unanswered batch is sent again, so the peer may see duplicates",
			"address", s.cfg.Address)
	case receipts:
		s.log.Info("socket sink: at-least-once: a batch is acknowledged once the peer's TCP stack has acknowledged all its bytes; after a reconnect the unacknowledged batch is sent again, so the peer may see duplicates",
			"address", s.cfg.Address)
	default:
		s.log.Warn("socket sink: no delivery receipts on this system: a batch is acknowledged once the kernel took it, so records in flight when the peer goes away can be lost",
			"address", s.cfg.Address)
	}
	return nil
}

// connect dials the server and starts a reader that notices when the peer
// closes the connection (the peer is not expected to send anything).
func (s *Sink) connect(ctx context.Context) error {
	d := net.Dialer{Timeout: s.cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Address)
	if err != nil && !isRetryable(err) {
		// The runtime retries sink writes; say that this one cannot succeed.
		return fmt.Errorf("connecting to %s: %w (the address can never be dialled: fix it)", s.cfg.Address, err)
	}
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", s.cfg.Address, err)
	}
	closed := make(chan struct{})
	acked, answered := new(atomic.Int64), make(chan struct{}, 1)
	s.conn, s.closed, s.acked, s.answered, s.sent = conn, closed, acked, answered, 0
	s.dials++
	s.reader.Add(1)
	go func() {
		defer s.reader.Done()
		defer close(closed)
		if s.cfg.Ack != "lines" {
			_, _ = io.Copy(io.Discard, conn) // returns when either side closes; the cause does not matter
			return
		}
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if k := bytes.Count(buf[:n], []byte{'\n'}); k > 0 {
				acked.Add(int64(k))
				select {
				case answered <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return // either side closed; the cause does not matter
			}
		}
	}()
	s.log.Info("connected", "address", s.cfg.Address)
	return nil
}

// drop closes the connection and waits for its reader.
func (s *Sink) drop() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.reader.Wait()
	s.conn, s.closed = nil, nil
	return err
}

// peerClosed reports whether the peer has ended the connection.
func (s *Sink) peerClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Write writes one line per record. It keeps no record bytes.
func (s *Sink) Write(ctx context.Context, recs []runtime.Record) error {
	if len(recs) == 0 {
		return nil
	}
	defer func() {
		if cap(s.buf) > keepBuffer {
			s.buf = nil
		}
	}()
	s.buf = s.buf[:0]
	for i := range recs {
		s.buf = lines.Append(s.buf, &recs[i], s.format)
	}
	if s.conn != nil && s.peerClosed() {
		s.log.Warn("server closed the connection; reconnecting", "address", s.cfg.Address)
		if err := s.drop(); err != nil {
			s.log.Debug("closing connection", "err", err)
		}
	}
	if s.conn == nil {
		if err := s.connect(ctx); err != nil {
			return err
		}
	}
	conn := s.conn
	deadline := time.Now().Add(s.cfg.WriteTimeout)
	if err := conn.SetWriteDeadline(deadline); err != nil {
		return s.fail(len(recs), err)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = conn.SetWriteDeadline(time.Unix(1, 0)) // an error means the conn is closed: nothing to wake
	})
	_, err := conn.Write(s.buf)
	if !stop() {
		<-fired
	}
	if err == nil && s.cfg.Ack == "lines" {
		s.sent += int64(bytes.Count(s.buf, []byte{'\n'})) // a text value may hold newlines: the peer answers lines
		err = s.awaitAnswers(ctx, deadline)
	} else if err == nil {
		err = s.awaitReceipt(ctx, conn, deadline)
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return s.fail(len(recs), err)
	}
	return nil
}

// awaitAnswers waits until the peer answered every line sent on the
// connection (ack: lines), the connection ends, the deadline passes or ctx
// is done.
func (s *Sink) awaitAnswers(ctx context.Context, deadline time.Time) error {
	left := time.Until(deadline)
	if s.timer == nil {
		s.timer = time.NewTimer(left)
	} else {
		s.timer.Reset(left)
	}
	defer s.timer.Stop()
	for {
		got := s.acked.Load()
		if got >= s.sent {
			return nil
		}
		select {
		case <-s.answered:
		case <-s.closed:
			if s.acked.Load() >= s.sent {
				return nil
			}
			return fmt.Errorf("%w (%d of %d lines unanswered)", errNoAnswer, s.sent-s.acked.Load(), s.sent)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the peer's answers (%d of %d lines unanswered): %w", s.sent-got, s.sent, ctx.Err())
		case <-s.timer.C:
			return fmt.Errorf("waiting for the peer's answers (%d of %d lines unanswered): %w", s.sent-s.acked.Load(), s.sent, os.ErrDeadlineExceeded)
		}
	}
}

// errNoAnswer is the cause of a failed Write (ack: lines) whose lines the
// peer did not all answer before the connection ended.
var errNoAnswer = errors.New("the connection ended before the peer answered every line")

// errNoReceipt is the cause of a failed Write whose bytes the peer never
// acknowledged before the connection ended.
var errNoReceipt = errors.New("the connection ended before the peer acknowledged every byte")

// awaitReceipt waits until the peer's TCP stack has acknowledged every byte
// written to conn, the connection ends (reset or closed: the batch must be
// sent again), the deadline passes or ctx is done.
func (s *Sink) awaitReceipt(ctx context.Context, conn net.Conn, deadline time.Time) error {
	if !receipts {
		return nil
	}
	wait := receiptPollMin
	for {
		n, over, err := unacked(conn)
		switch {
		case err != nil:
			return err
		case n == 0:
			return nil
		case over:
			return fmt.Errorf("%w (%d bytes unacknowledged)", errNoReceipt, n)
		case !time.Now().Before(deadline):
			return fmt.Errorf("waiting for the peer to acknowledge %d bytes: %w", n, os.ErrDeadlineExceeded)
		}
		if s.timer == nil {
			s.timer = time.NewTimer(wait)
		} else {
			s.timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			s.timer.Stop()
			return fmt.Errorf("waiting for the peer to acknowledge %d bytes: %w", n, ctx.Err())
		case <-s.timer.C:
		}
		wait = min(2*wait, receiptPollMax)
	}
}

// fail drops the connection after a failed write; the bytes already sent
// of the batch make the peer see a partial line, which is why a retry
// starts on a new connection.
func (s *Sink) fail(n int, err error) error {
	if derr := s.drop(); derr != nil {
		s.log.Debug("closing connection", "err", derr)
	}
	return fmt.Errorf("writing %d records to %s: %w", n, s.cfg.Address, err)
}

// Close closes the connection.
func (s *Sink) Close(context.Context) error {
	if err := s.drop(); err != nil {
		return fmt.Errorf("closing connection to %s: %w", s.cfg.Address, err)
	}
	return nil
}
