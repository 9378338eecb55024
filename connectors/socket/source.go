// Package socket is the "socket" source and sink: delimited text over a
// TCP connection, like Flink's socketTextStream and socket sink.
//
// The source is a TCP client. It connects on the first Read, splits the
// stream at the delimiter and reconnects (with backoff) when the
// connection ends or breaks; records read before a disconnect, including a
// last one without a delimiter, are still delivered. A plain TCP stream
// cannot be replayed, so acks are no-ops and the source is at-most-once
// across restarts and reconnects, as in Flink: what the server sent while
// the pipeline was down, or what was in flight when it stopped, is lost.
//
// The sink is a TCP client writing one line per record (text or json, as
// the file sink). See Sink for its delivery guarantees.
package socket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/wasmstream/wasmstream/connectors/internal/lines"
	"github.com/wasmstream/wasmstream/runtime"
)

// Register adds the socket source and sink to r.
func Register(r *runtime.Registry) {
	runtime.AddSource(r, "socket", "Reads delimited text records from a TCP server, reconnecting when the connection drops (at-most-once).",
		func(c *SourceConfig) (runtime.Source, error) { return NewSource(c) })
	runtime.AddSink(r, "socket", "Writes records as lines to a TCP server, reconnecting on the next write after a failure; a batch is done once the peer acknowledged its bytes (at-least-once).",
		func(c *SinkConfig) (runtime.Sink, error) { return NewSink(c) })
}

// arenaChunk is the size of the chunks record bytes are carved from.
const arenaChunk = 64 << 10

// Source reads delimited records from a TCP connection. Read is not safe
// for concurrent use.
type Source struct {
	cfg   SourceConfig
	delim string
	log   *slog.Logger
	batch int

	conn      net.Conn
	sc        *lines.Scanner
	delivered bool          // the current connection delivered a record
	failures  int           // consecutive failed connection attempts
	backoff   time.Duration // wait before the next attempt
	reconnect bool          // a connection ended: wait before the next
	tooLong   int64
	timer     *time.Timer
}

// NewSource returns a source for a validated config. It does no I/O.
func NewSource(cfg *SourceConfig) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	delim, err := unescape(cfg.Delimiter)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: *cfg, delim: delim, backoff: cfg.ReconnectBackoff}, nil
}

// Open implements runtime.Source. The connection is made by the first
// Read, so a server that is not up yet does not fail the pipeline.
func (s *Source) Open(_ context.Context, env runtime.Env) error {
	s.log = env.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.batch = max(env.BatchSize, 1)
	return nil
}

func noAck(error) {}

// Read returns the records available, at most the batch size, blocking
// until there is at least one. It connects or reconnects as needed, and
// returns an error only when ctx is cancelled, max_retries connection
// attempts in a row failed, or the address can never be dialled (not
// host:port, say, when the source was built without Validate).
func (s *Source) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if s.conn == nil {
			if err := s.connect(ctx); err != nil {
				return nil, nil, err
			}
		}
		recs, err := s.readBatch(ctx)
		if len(recs) > 0 {
			return recs, noAck, nil
		}
		if err != nil && ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
	}
}

// connect dials the server, waiting with backoff between attempts.
func (s *Source) connect(ctx context.Context) error {
	for {
		if s.reconnect || s.failures > 0 {
			if err := s.sleep(ctx, s.backoff); err != nil {
				return err
			}
			s.backoff = min(2*s.backoff, s.cfg.ReconnectMaxBackoff)
		}
		s.reconnect = false
		d := net.Dialer{Timeout: s.cfg.ConnectTimeout}
		conn, err := d.DialContext(ctx, "tcp", s.cfg.Address)
		if err == nil {
			s.conn, s.failures, s.delivered = conn, 0, false
			s.sc = lines.NewScanner(conn, s.delim, int(s.cfg.MaxLine))
			s.log.Info("connected", "address", s.cfg.Address)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !isRetryable(err) {
			return fmt.Errorf("connecting to %s: %w (not retried: the address can never be dialled)", s.cfg.Address, err)
		}
		s.failures++
		if s.cfg.MaxRetries > 0 && s.failures > s.cfg.MaxRetries {
			return fmt.Errorf("connecting to %s: giving up after %d attempts: %w", s.cfg.Address, s.failures, err)
		}
		s.log.Warn("connecting failed; retrying", "address", s.cfg.Address, "attempt", s.failures, "in", s.backoff, "err", err)
	}
}

func (s *Source) sleep(ctx context.Context, d time.Duration) error {
	if s.timer == nil {
		s.timer = time.NewTimer(d)
	} else {
		s.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		s.timer.Stop()
		return ctx.Err()
	case <-s.timer.C:
		return nil
	}
}

// readBatch reads records: it blocks for the first, then takes only what
// is already buffered. On a disconnect it returns what it has with the
// error, having dropped the connection. A cancelled ctx interrupts the
// blocking read without losing buffered data or the connection.
func (s *Source) readBatch(ctx context.Context) ([]runtime.Record, error) {
	conn := s.conn
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		s.disconnect(err)
		return nil, err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		// Wake the blocked read; the next readBatch clears the deadline.
		_ = conn.SetReadDeadline(time.Unix(1, 0)) // an error means the conn is closed: nothing to wake
	})
	defer func() {
		if !stop() {
			<-fired
		}
	}()
	var recs []runtime.Record
	var now int64 // the time the batch's first record arrived
	arena := make([]byte, 0, arenaChunk)
	for len(recs) < s.batch && (len(recs) == 0 || s.sc.Buffered()) {
		line, err := s.sc.Next()
		var tl *lines.TooLongError
		switch {
		case errors.As(err, &tl):
			s.tooLong++
			s.log.Warn("skipping a record longer than max_line", "address", s.cfg.Address, "max_line", s.cfg.MaxLine, "skipped", s.tooLong)
			continue
		case err != nil && ctx.Err() != nil:
			return recs, ctx.Err()
		case err != nil:
			s.disconnect(err)
			return recs, err
		}
		if cap(arena)-len(arena) < len(line) {
			arena = make([]byte, 0, max(arenaChunk, len(line)))
		}
		if now == 0 {
			now = time.Now().UnixMilli()
		}
		start := len(arena)
		arena = append(arena, line...)
		recs = append(recs, runtime.Record{Value: arena[start:len(arena):len(arena)], Timestamp: now})
	}
	if len(recs) > 0 && !s.delivered {
		s.delivered = true
		s.backoff = s.cfg.ReconnectBackoff
	}
	return recs, nil
}

// disconnect drops the connection after err (io.EOF when the server
// closed it). The next Read reconnects after the backoff.
func (s *Source) disconnect(err error) {
	s.log.Warn("connection ended; reconnecting", "address", s.cfg.Address, "err", err)
	if cerr := s.conn.Close(); cerr != nil {
		s.log.Debug("closing connection", "err", cerr)
	}
	s.conn, s.sc, s.reconnect = nil, nil, true
}

// Close closes the connection.
func (s *Source) Close(context.Context) error {
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if err != nil {
		return fmt.Errorf("closing connection to %s: %w", s.cfg.Address, err)
	}
	return nil
}
