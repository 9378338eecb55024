package file

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// readToEnd reads src until io.EOF, acknowledging every batch, closes it
// and returns how many records it read.
func readToEnd(t *testing.T, src *Source) int {
	t.Helper()
	n := 0
	for {
		recs, ack, err := src.Read(t.Context())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		n += len(recs)
		ack(nil)
	}
	closeSource(t, src)
	return n
}

// TestResumed guards issue #9 item 1: the CLI can only say why a second
// run read nothing if the source reports what its saved progress made it
// skip. A first run reports nothing; a run that skipped some input and
// read the rest reports the skipped part (the CLI speaks only when nothing
// was read).
func TestResumed(t *testing.T) {
	var _ runtime.ResumingSource = (*Source)(nil)
	cases := []struct {
		name     string
		setup    func(t *testing.T, dir string) string // settings
		between  func(t *testing.T, dir string)        // after the first run
		second   int                                   // records the second run reads
		resumed  bool
		wantWhat string
	}{
		{"path read to its end", func(t *testing.T, dir string) string {
			return fmt.Sprintf("{path: %q}", writeFile(t, dir, "in.txt", "a\nb\nc\n"))
		}, func(*testing.T, string) {}, 0, true, "1 file (6 bytes) already read by an earlier run"},
		{"path appended to", func(t *testing.T, dir string) string {
			return fmt.Sprintf("{path: %q}", writeFile(t, dir, "in.txt", "a\nb\n"))
		}, func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "in.txt"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("c\n")
			f.Close()
		}, 1, true, "1 file (4 bytes) already read by an earlier run"},
		{"path of KiB", func(t *testing.T, dir string) string {
			content, _ := numbered("line-", 300)
			return fmt.Sprintf("{path: %q}", writeFile(t, dir, "in.txt", content))
		}, func(*testing.T, string) {}, 0, true, "1 file (2.5 KiB) already read by an earlier run"},
		{"dir of done files", func(t *testing.T, dir string) string {
			in := filepath.Join(dir, "in")
			os.Mkdir(in, 0o755)
			setAge(t, writeFile(t, in, "1.txt", "a\n"), 0)
			setAge(t, writeFile(t, in, "2.txt", "bb\n"), 0)
			return fmt.Sprintf("{dir: %q, watch: false, min_age: 0s}", in)
		}, func(*testing.T, string) {}, 0, true, "2 files (5 bytes) already read by an earlier run"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			settings := c.setup(t, dir)
			env := runtime.Env{DataDir: filepath.Join(dir, "data"), BatchSize: 10}
			first := openSource(t, settings, env)
			if readToEnd(t, first) == 0 {
				t.Fatal("the first run read nothing")
			}
			if what, ok := first.Resumed(); ok {
				t.Fatalf("the first run reports it resumed: %s", what)
			}
			c.between(t, dir)
			second := openSource(t, settings, env)
			if n := readToEnd(t, second); n != c.second {
				t.Fatalf("the second run read %d records, want %d", n, c.second)
			}
			what, ok := second.Resumed()
			if ok != c.resumed || what != c.wantWhat {
				t.Fatalf("Resumed() = %q, %v; want %q, %v", what, ok, c.wantWhat, c.resumed)
			}
		})
	}
}
