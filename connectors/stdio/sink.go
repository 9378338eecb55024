// Package stdio is the "stdout" and "stderr" sinks: each record becomes one
// line (see the text and json line formats in the SinkConfig docs),
// written through a buffer that is flushed at the end of every Write.
//
// Writes of all sinks to one stream are serialised, so lines from two
// pipelines in one process never interleave mid-line. Close flushes but
// never closes the stream.
package stdio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/wasmstream/wasmstream/connectors/internal/lines"
	"github.com/wasmstream/wasmstream/runtime"
)

// Register adds the stdout and stderr sinks to r.
func Register(r *runtime.Registry) {
	runtime.AddSink(r, "stdout", "Writes records to standard output, one line each.",
		func(c *SinkConfig) (runtime.Sink, error) { return newSink(c, os.Stdout, &stdoutMu) })
	runtime.AddSink(r, "stderr", "Writes records to standard error, one line each.",
		func(c *SinkConfig) (runtime.Sink, error) { return newSink(c, os.Stderr, &stderrMu) })
}

// The process's standard streams are shared by every sink writing to them.
var stdoutMu, stderrMu sync.Mutex

// Sink writes records as lines to a writer. Write and Close are not safe
// for concurrent use with each other (the runtime calls them from one
// goroutine).
type Sink struct {
	format lines.Format
	mu     *sync.Mutex // guards w
	w      io.Writer
	bw     *bufio.Writer
}

// NewSink returns a sink writing to w, for tests and embedding. It holds no
// lock of its own on w: give each writer to one sink.
func NewSink(cfg *SinkConfig, w io.Writer) (*Sink, error) {
	return newSink(cfg, w, new(sync.Mutex))
}

func newSink(cfg *SinkConfig, w io.Writer, mu *sync.Mutex) (*Sink, error) {
	f, err := lines.ParseFormat(cfg.Format)
	if err != nil {
		return nil, err
	}
	return &Sink{format: f, mu: mu, w: w, bw: bufio.NewWriterSize(w, 64<<10)}, nil
}

// Open implements runtime.Sink.
func (s *Sink) Open(context.Context, runtime.Env) error { return nil }

// Write writes one line per record and flushes. It returns nil only when
// every line was handed to the underlying writer.
func (s *Sink) Write(_ context.Context, recs []runtime.Record) error {
	if len(recs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range recs {
		b := lines.Append(s.bw.AvailableBuffer(), &recs[i], s.format)
		if _, err := s.bw.Write(b); err != nil {
			s.bw.Reset(s.w) // drop the failed batch and the sticky error
			return fmt.Errorf("writing record %d of %d: %w", i, len(recs), err)
		}
	}
	if err := s.bw.Flush(); err != nil {
		s.bw.Reset(s.w) // drop the failed batch and the sticky error
		return fmt.Errorf("flushing %d records: %w", len(recs), err)
	}
	return nil
}

// Close flushes (there is nothing buffered between Writes).
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("flushing: %w", err)
	}
	return nil
}
