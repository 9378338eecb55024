package lines

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrTooLong is matched (errors.Is) by a *TooLongError.
var ErrTooLong = errors.New("line too long")

// TooLongError is a line longer than the scanner's maximum.
type TooLongError struct {
	// Line is the 1-based number of the line, counted from where the
	// scanner started.
	Line int64
	// Max is the longest line allowed, in bytes.
	Max int
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("line %d is longer than %d bytes", e.Line, e.Max)
}

// Is reports whether target is ErrTooLong.
func (e *TooLongError) Is(target error) bool { return target == ErrTooLong }

const minBuffer = 64 << 10

// Scanner splits a stream into lines separated by a delimiter, without
// holding more than one line (plus the delimiter) in memory. The last line
// of the stream needs no delimiter. When the delimiter is "\n", a "\r"
// before it (or at the end of the stream) is removed too, so "\r\n" files
// read the same as "\n" files.
//
// Unlike bufio.Scanner, a read error other than io.EOF is returned without
// losing buffered data, so the caller may call Next again (after a read
// deadline, for instance), and a line that is too long is reported with a
// *TooLongError after which Next continues with the following line.
//
// A Scanner is not safe for concurrent use.
type Scanner struct {
	r      io.Reader
	delim  []byte
	trimCR bool
	max    int

	buf        []byte
	start, end int // unread data is buf[start:end]
	searched   int // bytes of buf[start:end] known to hold no delimiter
	eof        bool
	skipping   bool  // discarding the rest of a too-long line
	off        int64 // stream offset of buf[start]
	line       int64 // lines returned or skipped
	open       bool  // the last line returned had no delimiter
}

// NewScanner returns a scanner reading from r, splitting at delim (which
// must not be empty) and refusing lines longer than maxLine bytes (not
// counting the delimiter).
func NewScanner(r io.Reader, delim string, maxLine int) *Scanner {
	if delim == "" {
		panic("lines: empty delimiter")
	}
	if maxLine <= 0 {
		panic("lines: maxLine must be positive")
	}
	return &Scanner{r: r, delim: []byte(delim), trimCR: delim == "\n", max: maxLine}
}

// Offset is the number of stream bytes consumed by the lines returned so
// far, delimiters included: where the next line starts.
func (s *Scanner) Offset() int64 { return s.off }

// Line is the number of lines returned (or skipped as too long) so far.
func (s *Scanner) Line() int64 { return s.line }

// Unterminated reports whether the last line Next returned ended at the end
// of the stream without a delimiter: a writer may still be adding to it.
func (s *Scanner) Unterminated() bool { return s.open }

// Buffered reports whether the next call to Next returns without reading
// from the underlying reader.
func (s *Scanner) Buffered() bool {
	if s.skipping {
		return false
	}
	if s.eof {
		return true
	}
	from := s.start + s.searched
	return bytes.Contains(s.buf[from:s.end], s.delim)
}

// limit is the number of unread bytes beyond which a line without a
// delimiter is certainly too long.
func (s *Scanner) limit() int {
	n := s.max + len(s.delim) - 1
	if s.trimCR {
		n++
	}
	return n
}

// Next returns the next line without its delimiter. The slice is valid only
// until the next call. At the end of the stream it returns io.EOF; a read
// error is returned as is, and Next may be called again.
func (s *Scanner) Next() ([]byte, error) {
	s.open = false
	for {
		from := s.start + s.searched
		if i := bytes.Index(s.buf[from:s.end], s.delim); i >= 0 {
			end := from + i
			consumed := end + len(s.delim) - s.start
			line := s.buf[s.start:end]
			s.start += consumed
			s.off += int64(consumed)
			s.searched = 0
			s.line++
			if s.skipping {
				s.skipping = false
				continue
			}
			if s.trimCR && len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			if len(line) > s.max {
				return nil, &TooLongError{Line: s.line, Max: s.max}
			}
			return line, nil
		}
		unread := s.end - s.start
		// The last len(delim)-1 bytes may start a delimiter.
		s.searched = max(0, unread-len(s.delim)+1)
		if s.skipping && s.searched > 0 {
			s.start += s.searched
			s.off += int64(s.searched)
			unread -= s.searched
			s.searched = 0
		}
		if !s.skipping && unread > s.limit() {
			// Report the line now and discard the rest of it as it comes.
			s.skipping = true
			return nil, &TooLongError{Line: s.line + 1, Max: s.max}
		}
		if s.eof {
			if unread == 0 {
				return nil, io.EOF
			}
			line := s.buf[s.start:s.end]
			s.start, s.searched = s.end, 0
			s.off += int64(unread)
			s.line++
			if s.skipping {
				s.skipping = false
				return nil, io.EOF
			}
			s.open = true
			if s.trimCR && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			if len(line) > s.max {
				return nil, &TooLongError{Line: s.line, Max: s.max}
			}
			return line, nil
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more data into the buffer, compacting or growing it first.
func (s *Scanner) fill() error {
	if s.start > 0 && (s.start == s.end || s.end == len(s.buf)) {
		n := copy(s.buf, s.buf[s.start:s.end])
		s.start, s.end = 0, n
	}
	if s.end == len(s.buf) {
		size := max(2*len(s.buf), min(minBuffer, s.limit()+1))
		size = min(size, s.limit()+1)
		if size <= len(s.buf) {
			size = len(s.buf) + 1
		}
		nb := make([]byte, size)
		copy(nb, s.buf[s.start:s.end])
		s.buf, s.end, s.start = nb, s.end-s.start, 0
	}
	n, err := s.r.Read(s.buf[s.end:])
	s.end += n
	if errors.Is(err, io.EOF) {
		s.eof = true
		return nil
	}
	if n > 0 {
		// Keep the data. Readers such as files and connections return a
		// persistent error again on the next call.
		return nil
	}
	return err
}
