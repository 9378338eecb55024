package lines

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// step is one result of Next: a line, or an error (too long or EOF).
type step struct {
	line    string
	tooLong int64 // line number of a *TooLongError, 0 if none
	eof     bool
	off     int64 // Offset after the call
}

func scanAll(t *testing.T, s *Scanner) []step {
	t.Helper()
	var out []step
	for range 1000 {
		line, err := s.Next()
		var tl *TooLongError
		switch {
		case err == nil:
			out = append(out, step{line: string(line), off: s.Offset()})
		case errors.As(err, &tl):
			if !errors.Is(err, ErrTooLong) {
				t.Errorf("TooLongError does not match ErrTooLong")
			}
			out = append(out, step{tooLong: tl.Line, off: s.Offset()})
		case errors.Is(err, io.EOF):
			return append(out, step{eof: true, off: s.Offset()})
		default:
			t.Fatalf("Next: %v", err)
		}
	}
	t.Fatal("scanner does not end")
	return nil
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		delim string
		max   int
		want  []step
	}{
		{"empty", "", "\n", 10, []step{{eof: true}}},
		{"lines", "a\nbb\n", "\n", 10, []step{{line: "a", off: 2}, {line: "bb", off: 5}, {eof: true, off: 5}}},
		{"final line without newline", "a\nbb", "\n", 10, []step{{line: "a", off: 2}, {line: "bb", off: 4}, {eof: true, off: 4}}},
		{"crlf", "a\r\nb\r\nc\r", "\n", 10, []step{{line: "a", off: 3}, {line: "b", off: 6}, {line: "c", off: 8}, {eof: true, off: 8}}},
		{"empty lines", "\n\n", "\n", 10, []step{{line: "", off: 1}, {line: "", off: 2}, {eof: true, off: 2}}},
		{"exactly max with crlf", "abc\r\nabcd\n", "\n", 3, []step{{line: "abc", off: 5}, {tooLong: 2, off: 10}, {eof: true, off: 10}}},
		{"too long then continues", "ab\nabcdefghijkl\ncd\n", "\n", 3, []step{
			{line: "ab", off: 3}, {tooLong: 2, off: 3}, {line: "cd", off: 19}, {eof: true, off: 19}}},
		{"too long at end", "ab\nabcdefghijkl", "\n", 3, []step{{line: "ab", off: 3}, {tooLong: 2, off: 3}, {eof: true, off: 15}}},
		{"multi-byte delimiter", "a||b|c||", "||", 10, []step{{line: "a", off: 3}, {line: "b|c", off: 8}, {eof: true, off: 8}}},
		{"custom delimiter keeps cr", "a\r;b", ";", 10, []step{{line: "a\r", off: 3}, {line: "b", off: 4}, {eof: true, off: 4}}},
	}
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"data+eof": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
	}
	for _, tt := range tests {
		for rname, newReader := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				got := scanAll(t, NewScanner(newReader(tt.in), tt.delim, tt.max))
				if len(got) != len(tt.want) {
					t.Fatalf("got %+v\nwant %+v", got, tt.want)
				}
				for i := range got {
					// The offset after a too-long error depends on how much
					// was read; it is checked by the next line's offset.
					if got[i].tooLong != 0 {
						got[i].off = tt.want[i].off
					}
					if got[i] != tt.want[i] {
						t.Errorf("step %d: got %+v, want %+v", i, got[i], tt.want[i])
					}
				}
			})
		}
	}
}

func TestScannerLongLineBoundedMemory(t *testing.T) {
	const max = 100
	in := strings.Repeat("x", 1<<20) + "\nok\n"
	s := NewScanner(strings.NewReader(in), "\n", max)
	got := scanAll(t, s)
	if len(got) != 3 || got[0].tooLong != 1 || got[1].line != "ok" {
		t.Fatalf("got %+v", got)
	}
	if len(s.buf) > 2*max+8 {
		t.Errorf("buffer grew to %d bytes for a %d-byte limit", len(s.buf), max)
	}
}

// errAfter returns data, then a transient error once, then the rest.
type errAfter struct {
	data    []byte
	failAt  int
	failed  bool
	errOnce error
}

func (r *errAfter) Read(p []byte) (int, error) {
	if !r.failed && r.failAt == 0 {
		r.failed = true
		return 0, r.errOnce
	}
	n := len(p)
	if !r.failed {
		n = min(n, r.failAt)
		r.failAt -= n
	}
	n = copy(p, r.data[:min(n, len(r.data))])
	r.data = r.data[n:]
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func TestScannerTransientError(t *testing.T) {
	transient := errors.New("deadline")
	r := &errAfter{data: []byte("abc\ndef\n"), failAt: 5, errOnce: transient}
	s := NewScanner(r, "\n", 10)
	var got []string
	sawErr := false
	for {
		line, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, transient) {
			sawErr = true
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line))
	}
	if !sawErr || strings.Join(got, ",") != "abc,def" {
		t.Errorf("got %q, error seen %v", got, sawErr)
	}
}

func TestScannerBuffered(t *testing.T) {
	pr, pw := io.Pipe()
	s := NewScanner(pr, "\n", 100)
	go func() {
		_, err := pw.Write([]byte("a\nb\nc"))
		if err == nil {
			_, err = pw.Write([]byte("\n"))
		}
		pw.CloseWithError(err)
	}()
	line, err := s.Next()
	if err != nil || string(line) != "a" {
		t.Fatalf("Next = %q, %v", line, err)
	}
	if !s.Buffered() {
		t.Fatal("line b should be buffered")
	}
	if line, err = s.Next(); err != nil || string(line) != "b" {
		t.Fatalf("Next = %q, %v", line, err)
	}
	if s.Buffered() {
		t.Fatal("partial line c reported as buffered")
	}
	if line, err = s.Next(); err != nil || string(line) != "c" {
		t.Fatalf("Next = %q, %v", line, err)
	}
}

// TestScannerUnterminated checks that only a last line without a
// delimiter is reported as unterminated (the file source holds its commit
// back for it, issue #8).
func TestScannerUnterminated(t *testing.T) {
	tests := []struct {
		in   string
		want []bool
	}{
		{"a\nb\n", []bool{false, false}},
		{"a\nbc", []bool{false, true}},
		{"a\r\nb\r", []bool{false, true}},
		{"x", []bool{true}},
	}
	for _, tt := range tests {
		s := NewScanner(strings.NewReader(tt.in), "\n", 10)
		var got []bool
		for {
			_, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, s.Unterminated())
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%q: unterminated %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzScanner checks the scanner against bytes.Split.
func FuzzScanner(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nccc"), 2, 1)
	f.Add([]byte("x;;y;"), 5, 2)
	f.Fuzz(func(t *testing.T, in []byte, maxLine int, delimKind int) {
		delim := []string{"\n", ";", ";;"}[uint(delimKind)%3]
		maxLine = 1 + int(uint(maxLine)%20)
		var want []step
		parts := bytes.Split(in, []byte(delim))
		if len(parts[len(parts)-1]) == 0 {
			parts = parts[:len(parts)-1]
		}
		for i, p := range parts {
			if delim == "\n" {
				p = bytes.TrimSuffix(p, []byte("\r"))
			}
			if len(p) > maxLine {
				want = append(want, step{tooLong: int64(i + 1)})
				continue
			}
			want = append(want, step{line: string(p)})
		}
		s := NewScanner(iotest.HalfReader(bytes.NewReader(in)), delim, maxLine)
		var got []step
		for {
			line, err := s.Next()
			var tl *TooLongError
			if errors.As(err, &tl) {
				got = append(got, step{tooLong: tl.Line})
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, step{line: string(line)})
		}
		if s.Offset() != int64(len(in)) {
			t.Errorf("offset %d at end of %d bytes", s.Offset(), len(in))
		}
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("step %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
