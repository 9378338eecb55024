package socket

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/connectors/internal/lines"
	"github.com/wasmstream/wasmstream/runtime"
)

// keepBuffer is the largest line buffer kept between Writes.
const keepBuffer = 4 << 20

// Sink writes records as lines to a TCP server.
//
// Write returns nil once every byte of the batch was written to the
// connection (handed to the kernel). When the connection breaks, or the
// peer has closed it, Write returns an error and drops the connection; the
// runtime retries the batch with backoff, and the retry connects again. So
// records may be written twice (at-least-once) around a reconnect. TCP
// gives no delivery receipt, though: bytes taken by the kernel just before
// the peer went away can be lost without an error, so across peer failures
// the sink is only as reliable as TCP itself.
//
// Write and Close are not safe for concurrent use with each other.
type Sink struct {
	cfg    SinkConfig
	format lines.Format
	log    *slog.Logger

	conn   net.Conn
	closed chan struct{} // closed when the peer ends the connection
	reader sync.WaitGroup
	buf    []byte
	dials  int // connections made
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
	return nil
}

// connect dials the server and starts a reader that notices when the peer
// closes the connection (the peer is not expected to send anything).
func (s *Sink) connect(ctx context.Context) error {
	d := net.Dialer{Timeout: s.cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", s.cfg.Address, err)
	}
	closed := make(chan struct{})
	s.conn, s.closed = conn, closed
	s.dials++
	s.reader.Add(1)
	go func() {
		defer s.reader.Done()
		defer close(closed)
		_, _ = io.Copy(io.Discard, conn) // returns when either side closes; the cause does not matter
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
	if err := conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
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
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return s.fail(len(recs), err)
	}
	return nil
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
