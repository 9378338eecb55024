package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

// readAllValues opens a source with settings, reads it to its end,
// acknowledges everything, closes it and returns the values read.
func readAllValues(t *testing.T, settings string, env runtime.Env) []string {
	t.Helper()
	src := openSource(t, settings, env)
	bs := connectortest.ReadBatches(t, t.Context(), src, 0)
	connectortest.AckAll(bs, nil)
	closeSource(t, src)
	return connectortest.Values(connectortest.Records(bs))
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPathRotatedFileReadFromStart guards issue #8: a file replaced by a
// new, longer one under the same path (a rotation) was read from the old
// file's committed offset, silently skipping the new file's first lines.
func TestPathRotatedFileReadFromStart(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "app.log", "old-1\nold-2\nold-3\n")
	settings := fmt.Sprintf("{path: %q}", p)
	env := connectortest.Env(t, 10)
	if got := readAllValues(t, settings, env); strings.Join(got, ",") != "old-1,old-2,old-3" {
		t.Fatalf("first run read %q", got)
	}
	// Rotate: the new file is written beside and renamed over the old one.
	next := writeFile(t, dir, ".app.log.new", "new-1\nnew-2\nnew-3\nnew-4\nnew-5\n")
	if err := os.Rename(next, p); err != nil {
		t.Fatal(err)
	}
	if got := readAllValues(t, settings, env); strings.Join(got, ",") != "new-1,new-2,new-3,new-4,new-5" {
		t.Errorf("after the rotation read %q, want every line of the new file", got)
	}
	// The new file's progress holds: appending reads only the new lines.
	appendFile(t, p, "new-6\n")
	if got := readAllValues(t, settings, env); strings.Join(got, ",") != "new-6" {
		t.Errorf("after an append read %q, want new-6", got)
	}
}

// TestPathUnterminatedLastLine guards issue #8: an unterminated last line
// was emitted and committed, so when the writer finished it the rest
// arrived as a record of its own. With path the line is emitted at the end
// (the source is one-shot) but committed only up to its start: a restart
// does not emit it again while it is unchanged, and emits it whole once it
// was finished.
func TestPathUnterminatedLastLine(t *testing.T) {
	tests := []struct {
		name, format, first, rest string
		want1, want3              []string
	}{
		{"lines", "lines", "a\nhal", "f\nb\n", []string{"a", "hal"}, []string{"half", "b"}},
		{"json", "json", "{\"a\":1}\n{\"b\":", "2}\n", []string{`{"a":1}`}, []string{`{"b":2}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "in.txt", tt.first)
			settings := fmt.Sprintf("{path: %q, format: %s}", p, tt.format)
			env := connectortest.Env(t, 10)
			if got := readAllValues(t, settings, env); strings.Join(got, "|") != strings.Join(tt.want1, "|") {
				t.Fatalf("first run read %q, want %q", got, tt.want1)
			}
			if got := readAllValues(t, settings, env); len(got) != 0 {
				t.Errorf("a run with nothing new read %q", got)
			}
			appendFile(t, p, tt.rest)
			if got := readAllValues(t, settings, env); strings.Join(got, "|") != strings.Join(tt.want3, "|") {
				t.Errorf("after the line was finished read %q, want %q", got, tt.want3)
			}
		})
	}
}

// TestTruncatedWhileReading guards issue #8: a file truncated while being
// read ended the source cleanly (io.EOF, no warning) and was marked done.
// The source now fails naming the file and the cut, and a restart reads
// the file again from the start.
func TestTruncatedWhileReading(t *testing.T) {
	content, _ := numbered("line-", 200)
	p := writeFile(t, t.TempDir(), "in.txt", content)
	// A small max_line keeps the scanner's buffer small, so most of the
	// file is still unread when it is truncated.
	settings := fmt.Sprintf("{path: %q, max_line: 16}", p)
	env := connectortest.Env(t, 5)
	src := openSource(t, settings, env)
	recs, ack, err := src.Read(t.Context())
	if err != nil || len(recs) != 5 {
		t.Fatalf("Read = %d records, %v", len(recs), err)
	}
	ack(nil)
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, "fresh-1\nfresh-2\n")
	for {
		recs, ack, err := src.Read(t.Context())
		if errors.Is(err, io.EOF) {
			t.Fatal("the source ended cleanly after its file was truncated")
		}
		if err != nil {
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "truncated") {
				t.Errorf("Read = %v, want an error naming %s and the truncation", err, p)
			}
			break
		}
		ack(nil)
		_ = recs
	}
	closeSource(t, src)
	if got := readAllValues(t, settings, env); strings.Join(got, ",") != "fresh-1,fresh-2" {
		t.Errorf("the restart read %q, want the file from the start", got)
	}
	if _, err := os.Stat(filepath.Join(env.DataDir, progressName)); err != nil {
		t.Error(err)
	}
}

// savedOffset returns the offset the progress file in dataDir holds for
// path, or -1.
func savedOffset(t *testing.T, dataDir, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, progressName))
	if errors.Is(err, os.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	var pf progressFile
	if err := json.Unmarshal(b, &pf); err != nil {
		t.Fatal(err)
	}
	for _, e := range pf.Files {
		if e.Path == path {
			return e.Offset
		}
	}
	return -1
}

// TestProgressSavedOnAck guards issue #8: progress was saved every 200 ms,
// so a kill replayed everything acknowledged in the last 200 ms (96,500
// lines against an in-flight bound of about 12,000). Now every
// acknowledgement is saved as soon as the write before it ends. Twenty
// batches, each acknowledged and then waited for until it is on disk, took
// about 4 s with the old timer (each wait ran to the next tick); saving on
// ack takes a few fsyncs' time.
func TestProgressSavedOnAck(t *testing.T) {
	const batches, size = 20, 5
	content, _ := numbered("v", batches*size)
	p := writeFile(t, t.TempDir(), "in.txt", content)
	env := connectortest.Env(t, size)
	src := openSource(t, fmt.Sprintf("{path: %q}", p), env)
	defer closeSource(t, src)
	start := time.Now()
	var offset int64
	for range batches {
		recs, ack, err := src.Read(t.Context())
		if err != nil || len(recs) != size {
			t.Fatalf("Read = %d records, %v", len(recs), err)
		}
		for _, r := range recs {
			offset += int64(len(r.Value)) + 1
		}
		ack(nil)
		connectortest.WaitFor(t, 10*time.Second, fmt.Sprintf("offset %d saved", offset), func() bool {
			return savedOffset(t, env.DataDir, p) == offset
		})
	}
	if d := time.Since(start); d > 3*time.Second { // the timer took at least 19 ticks: 3.8 s
		t.Errorf("saving %d acknowledged batches one by one took %v: progress is not saved on ack", batches, d)
	}
}

// TestWatchForgetsRemovedFiles guards issue #8: in watch mode the source
// remembered every file it had begun, forever, so a directory that files
// pass through (written, read, removed) grew its memory without bound. Files
// no longer listed are forgotten, in memory and in the progress file.
func TestWatchForgetsRemovedFiles(t *testing.T) {
	const files = 30
	in := t.TempDir()
	env := connectortest.Env(t, 10)
	src := openSource(t, fmt.Sprintf("{dir: %q, poll_interval: 1ms, min_age: 0s}", in), env)
	defer closeSource(t, src)
	for i := range files {
		name := fmt.Sprintf("f%03d.txt", i)
		tmp := writeFile(t, in, "."+name, fmt.Sprintf("v%d\n", i))
		p := filepath.Join(in, name)
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
		recs, ack, err := src.Read(t.Context())
		if err != nil || len(recs) != 1 || string(recs[0].Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("file %d: Read = %q, %v", i, connectortest.Values(recs), err)
		}
		ack(nil)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	// One more listing after the last removal.
	writeFile(t, in, "last.txt", "last\n")
	if recs, ack, err := src.Read(t.Context()); err != nil || len(recs) != 1 {
		t.Fatalf("Read = %d records, %v", len(recs), err)
	} else {
		ack(nil)
	}
	if n := len(src.seen); n > 1 {
		t.Errorf("the source remembers %d files after %d were read and removed, want at most the one present", n, files)
	}
	src.progress.mu.Lock()
	defer src.progress.mu.Unlock()
	if n := len(src.progress.files); n > 1 {
		t.Errorf("the progress holds %d files, want at most the one present", n)
	}
}
