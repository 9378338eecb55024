package file

import (
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

func TestDocs(t *testing.T) { connectortest.CheckDocs(t, Register) }

// writeFile writes a file and returns its absolute path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// setAge sets a file's modification time to age ago.
func setAge(t *testing.T, path string, age time.Duration) time.Time {
	t.Helper()
	mt := time.Now().Add(-age).Truncate(time.Millisecond)
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
	return mt
}

func mtimeMS(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime().UnixMilli()
}

func newSource(t *testing.T, settings string) *Source {
	t.Helper()
	cfg := connectortest.MustDecodeSource[SourceConfig](t, Register, "file", settings)
	src, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func openSource(t *testing.T, settings string, env runtime.Env) *Source {
	t.Helper()
	src := newSource(t, settings)
	if err := src.Open(t.Context(), env); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return src
}

func closeSource(t *testing.T, src runtime.Source) {
	t.Helper()
	if err := src.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// lineRecords returns the records the lines format gives for values.
func lineRecords(path string, ts int64, values ...string) []runtime.Record {
	out := make([]runtime.Record, len(values))
	for i, v := range values {
		out[i] = runtime.Record{Value: []byte(v), Timestamp: ts,
			Headers: []runtime.Header{{Name: "file", Value: []byte(path)}}}
	}
	return out
}

func numbered(prefix string, n int) (content string, values []string) {
	var b strings.Builder
	for i := range n {
		v := fmt.Sprintf("%s%d", prefix, i)
		values = append(values, v)
		b.WriteString(v + "\n")
	}
	return b.String(), values
}

func TestSourceSuite(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (settings string, want []runtime.Record)
	}{
		{"lines", func(t *testing.T, dir string) (string, []runtime.Record) {
			p := writeFile(t, dir, "in.txt", "a\r\nbb\n\nlast without newline")
			return fmt.Sprintf("{path: %q}", p), lineRecords(p, mtimeMS(t, p), "a", "bb", "", "last without newline")
		}},
		{"many lines", func(t *testing.T, dir string) (string, []runtime.Record) {
			content, values := numbered("line-", 50)
			p := writeFile(t, dir, "in.txt", content)
			return fmt.Sprintf("{path: %q}", p), lineRecords(p, mtimeMS(t, p), values...)
		}},
		{"no file header", func(t *testing.T, dir string) (string, []runtime.Record) {
			p := writeFile(t, dir, "in.txt", "x\ny\n")
			return fmt.Sprintf("{path: %q, file_header: false}", p), []runtime.Record{{Value: []byte("x")}, {Value: []byte("y")}}
		}},
		{"empty file", func(t *testing.T, dir string) (string, []runtime.Record) {
			p := writeFile(t, dir, "in.txt", "")
			return fmt.Sprintf("{path: %q}", p), nil
		}},
		{"json", func(t *testing.T, dir string) (string, []runtime.Record) {
			p := writeFile(t, dir, "in.jsonl", `{"id":"a\"1","ts":1700000000123,"n":1}`+"\n\n"+
				`{"n":2,"id":7,"ts":"2024-05-01T12:00:00.5Z"}`+"\r\n"+`{"n":3}`+"\n")
			hdr := []runtime.Header{{Name: "file", Value: []byte(p)}}
			return fmt.Sprintf("{path: %q, format: json, key_field: id, timestamp_field: ts}", p), []runtime.Record{
				{Key: []byte(`a"1`), Value: []byte(`{"id":"a\"1","ts":1700000000123,"n":1}`), Timestamp: 1700000000123, Headers: hdr},
				{Key: []byte("7"), Value: []byte(`{"n":2,"id":7,"ts":"2024-05-01T12:00:00.5Z"}`), Timestamp: 1714564800500, Headers: hdr},
				{Value: []byte(`{"n":3}`), Timestamp: mtimeMS(t, p), Headers: hdr},
			}
		}},
		{"raw", func(t *testing.T, dir string) (string, []runtime.Record) {
			p := writeFile(t, dir, "in.bin", "line1\nline2\x00\xff")
			return fmt.Sprintf("{path: %q, format: raw}", p), lineRecords(p, mtimeMS(t, p), "line1\nline2\x00\xff")
		}},
		{"directory", func(t *testing.T, dir string) (string, []runtime.Record) {
			in := filepath.Join(dir, "in")
			if err := os.Mkdir(in, 0o755); err != nil {
				t.Fatal(err)
			}
			b := writeFile(t, in, "b.txt", "b1\nb2\n")
			a := writeFile(t, in, "a.txt", "a1\n")
			c := writeFile(t, in, "c.txt", "c1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\n")
			writeFile(t, in, ".hidden.txt", "no\n")
			writeFile(t, in, "_temp.txt", "no\n")
			writeFile(t, in, "other.csv", "no\n")
			if err := os.Mkdir(filepath.Join(in, "sub.txt"), 0o755); err != nil {
				t.Fatal(err)
			}
			// Oldest first: c, then a and b with equal times by name.
			mc := setAge(t, c, time.Hour)
			ma := setAge(t, a, time.Minute)
			if err := os.Chtimes(b, ma, ma); err != nil {
				t.Fatal(err)
			}
			want := lineRecords(c, mc.UnixMilli(), "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8")
			want = append(want, lineRecords(a, ma.UnixMilli(), "a1")...)
			want = append(want, lineRecords(b, ma.UnixMilli(), "b1", "b2")...)
			return fmt.Sprintf("{dir: %q, pattern: '*.txt', watch: false, min_age: 0s}", in), want
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			connectortest.RunSourceSuite(t, func(t *testing.T) (runtime.Source, []runtime.Record) {
				settings, want := tt.setup(t, t.TempDir())
				return newSource(t, settings), want
			})
		})
	}
}

func TestResumeAfterOutOfOrderAcks(t *testing.T) {
	content, values := numbered("v", 20)
	p := writeFile(t, t.TempDir(), "in.txt", content)
	settings := fmt.Sprintf("{path: %q}", p)
	env := connectortest.Env(t, 3)

	src := openSource(t, settings, env)
	var bs []connectortest.Batch
	for range 4 {
		recs, ack, err := src.Read(t.Context())
		if err != nil || len(recs) != 3 {
			t.Fatalf("Read = %d records, %v", len(recs), err)
		}
		bs = append(bs, connectortest.Batch{Records: recs, Ack: ack})
	}
	// Batches 2 and 1 are acked first: nothing is committed until batch 0
	// is. Batch 3 is never acked.
	done := make(chan struct{})
	go func() {
		defer close(done)
		bs[2].Ack(nil)
		bs[1].Ack(nil)
	}()
	<-done
	if fp, _ := src.progress.lookup(p); fp.offset != 0 {
		t.Fatalf("committed offset %d before batch 0 was acked", fp.offset)
	}
	bs[0].Ack(nil)
	closeSource(t, src)

	// Restart: the first record is the first of batch 3.
	src = openSource(t, settings, env)
	got := connectortest.Values(connectortest.Records(connectortest.ReadBatches(t, t.Context(), src, 3)))
	if want := values[9:]; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("after restart read %q, want %q", got, want)
	}
	closeSource(t, src)
}

func TestNackedBatchIsReadAgain(t *testing.T) {
	content, values := numbered("v", 10)
	p := writeFile(t, t.TempDir(), "in.txt", content)
	settings := fmt.Sprintf("{path: %q}", p)
	env := connectortest.Env(t, 2)

	src := openSource(t, settings, env)
	bs := connectortest.ReadBatches(t, t.Context(), src, 2)
	bs[0].Ack(nil)
	bs[1].Ack(errors.New("sink failed"))
	for _, b := range bs[2:] {
		b.Ack(nil)
	}
	closeSource(t, src)

	src = openSource(t, settings, env)
	got := connectortest.Values(connectortest.Records(connectortest.ReadBatches(t, t.Context(), src, 2)))
	if want := values[2:]; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("after restart read %q, want %q (from the nacked batch on)", got, want)
	}
	closeSource(t, src)
}

func TestProgressSavedWithoutClose(t *testing.T) {
	content, _ := numbered("v", 4)
	p := writeFile(t, t.TempDir(), "in.txt", content)
	env := connectortest.Env(t, 2)
	src := openSource(t, fmt.Sprintf("{path: %q}", p), env)
	defer closeSource(t, src)
	recs, ack, err := src.Read(t.Context())
	if err != nil || len(recs) != 2 {
		t.Fatalf("Read = %d, %v", len(recs), err)
	}
	ack(nil)
	progress := filepath.Join(env.DataDir, progressName)
	connectortest.WaitFor(t, 5*time.Second, "progress to be saved", func() bool {
		b, err := os.ReadFile(progress)
		return err == nil && strings.Contains(string(b), `"offset":6`)
	})
}

func TestPathAppendedAfterRestart(t *testing.T) {
	p := writeFile(t, t.TempDir(), "in.txt", "a\nb\n")
	settings := fmt.Sprintf("{path: %q}", p)
	env := connectortest.Env(t, 10)
	src := openSource(t, settings, env)
	connectortest.AckAll(connectortest.ReadBatches(t, t.Context(), src, 10), nil)
	closeSource(t, src)

	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("c\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	src = openSource(t, settings, env)
	got := connectortest.Values(connectortest.Records(connectortest.ReadBatches(t, t.Context(), src, 10)))
	closeSource(t, src)
	if strings.Join(got, ",") != "c" {
		t.Errorf("read %q after append, want only c", got)
	}

	// A file shorter than the committed offset is read from the start.
	if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src = openSource(t, settings, env)
	got = connectortest.Values(connectortest.Records(connectortest.ReadBatches(t, t.Context(), src, 10)))
	closeSource(t, src)
	if strings.Join(got, ",") != "x" {
		t.Errorf("read %q from a truncated file, want x", got)
	}
}

func TestDirectoryEachFileOnceAcrossRestarts(t *testing.T) {
	in := t.TempDir()
	settings := fmt.Sprintf("{dir: %q, watch: false, min_age: 0s}", in)
	env := connectortest.Env(t, 2)
	run := func() []string {
		t.Helper()
		src := openSource(t, settings, env)
		bs := connectortest.ReadBatches(t, t.Context(), src, 2)
		connectortest.AckAll(bs, nil)
		closeSource(t, src)
		return connectortest.Values(connectortest.Records(bs))
	}
	a := writeFile(t, in, "a.txt", "a1\na2\na3\n")
	setAge(t, a, 2*time.Hour)
	b := writeFile(t, in, "b.txt", "b1\n")
	setAge(t, b, time.Hour)
	if got := run(); strings.Join(got, ",") != "a1,a2,a3,b1" {
		t.Fatalf("run 1 read %q", got)
	}
	c := writeFile(t, in, "c.txt", "c1\n")
	setAge(t, c, time.Minute)
	if got := run(); strings.Join(got, ",") != "c1" {
		t.Fatalf("run 2 read %q, want only the new file", got)
	}
	if got := run(); len(got) != 0 {
		t.Fatalf("run 3 read %q, want nothing", got)
	}
	// A file replaced with other contents is a new file; a deleted one is
	// forgotten.
	writeFile(t, in, "a.txt", "new a\n")
	setAge(t, a, time.Minute)
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	if got := run(); strings.Join(got, ",") != "new a" {
		t.Fatalf("run 4 read %q, want the replaced file", got)
	}
	pb, err := os.ReadFile(filepath.Join(env.DataDir, progressName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pb), "b.txt") {
		t.Errorf("progress still lists the deleted file: %s", pb)
	}
}

func TestDirectoryResumesPartFile(t *testing.T) {
	in := t.TempDir()
	settings := fmt.Sprintf("{dir: %q, watch: false, min_age: 0s}", in)
	env := connectortest.Env(t, 2)
	a := writeFile(t, in, "a.txt", "a1\na2\na3\na4\n")
	setAge(t, a, 2*time.Hour)
	b := writeFile(t, in, "b.txt", "b1\n")
	setAge(t, b, time.Hour)

	src := openSource(t, settings, env)
	bs := connectortest.ReadBatches(t, t.Context(), src, 2)
	// a1,a2 acked; a3,a4 nacked; b1 acked.
	bs[0].Ack(nil)
	bs[1].Ack(errors.New("failed"))
	bs[2].Ack(nil)
	closeSource(t, src)

	src = openSource(t, settings, env)
	bs = connectortest.ReadBatches(t, t.Context(), src, 2)
	connectortest.AckAll(bs, nil)
	closeSource(t, src)
	if got := connectortest.Values(connectortest.Records(bs)); strings.Join(got, ",") != "a3,a4" {
		t.Errorf("after restart read %q, want a3,a4", got)
	}
}

func TestWatchPicksUpNewFiles(t *testing.T) {
	in := t.TempDir()
	src := openSource(t, fmt.Sprintf("{dir: %q, poll_interval: 5ms, min_age: 0s}", in), connectortest.Env(t, 10))
	defer closeSource(t, src)
	type result struct {
		values []string
		err    error
	}
	results := make(chan result)
	go func() {
		for range 2 {
			recs, ack, err := src.Read(t.Context())
			if ack != nil {
				ack(nil)
			}
			results <- result{connectortest.Values(recs), err}
		}
	}()
	// Files appear complete, by rename, as min_age is 0.
	publish := func(name, content string) {
		tmp := writeFile(t, in, "."+name+".tmp", content)
		if err := os.Rename(tmp, filepath.Join(in, name)); err != nil {
			t.Fatal(err)
		}
	}
	publish("a.txt", "a\n")
	if r := <-results; r.err != nil || strings.Join(r.values, ",") != "a" {
		t.Fatalf("first Read = %q, %v", r.values, r.err)
	}
	publish("b.txt", "b\n")
	if r := <-results; r.err != nil || strings.Join(r.values, ",") != "b" {
		t.Fatalf("second Read = %q, %v", r.values, r.err)
	}

	// Read blocked on an empty poll returns promptly when cancelled.
	connectortest.CheckReadCancels(t, src)
}

func TestMinAge(t *testing.T) {
	in := t.TempDir()
	old := writeFile(t, in, "old.txt", "old\n")
	setAge(t, old, time.Hour)
	young := writeFile(t, in, "young.txt", "young\n")
	// young becomes old enough in about 100ms.
	setAge(t, young, time.Hour-100*time.Millisecond)
	src := openSource(t, fmt.Sprintf("{dir: %q, watch: false, min_age: 1h, poll_interval: 1h}", in), connectortest.Env(t, 10))
	start := time.Now()
	bs := connectortest.ReadBatches(t, t.Context(), src, 10)
	connectortest.AckAll(bs, nil)
	closeSource(t, src)
	if got := connectortest.Values(connectortest.Records(bs)); strings.Join(got, ",") != "old,young" {
		t.Fatalf("read %q", got)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("the young file was read after %v, before it was min_age old", d)
	}
}

func TestCorruptProgressFile(t *testing.T) {
	p := writeFile(t, t.TempDir(), "in.txt", "a\n")
	for _, content := range []string{"{not json", `{"version":99,"files":[]}`, `{"version":1,"files":[{"path":"","offset":-1}]}`} {
		env := connectortest.Env(t, 10)
		if err := os.MkdirAll(env.DataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		progress := filepath.Join(env.DataDir, progressName)
		if err := os.WriteFile(progress, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		err := newSource(t, fmt.Sprintf("{path: %q}", p)).Open(t.Context(), env)
		if err == nil || !strings.Contains(err.Error(), progress) {
			t.Errorf("Open with progress %q = %v, want an error naming %s", content, err, progress)
		}
	}
}

func TestUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.txt")
	t.Run("missing path", func(t *testing.T) {
		err := newSource(t, fmt.Sprintf("{path: %q}", missing)).Open(t.Context(), connectortest.Env(t, 10))
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("Open = %v, want an error naming %s", err, missing)
		}
	})
	t.Run("path is a directory", func(t *testing.T) {
		err := newSource(t, fmt.Sprintf("{path: %q}", dir)).Open(t.Context(), connectortest.Env(t, 10))
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "directory") {
			t.Errorf("Open = %v, want an error naming %s", err, dir)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		err := newSource(t, fmt.Sprintf("{dir: %q}", missing)).Open(t.Context(), connectortest.Env(t, 10))
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("Open = %v, want an error naming %s", err, missing)
		}
	})
	t.Run("dangling link in dir", func(t *testing.T) {
		in := t.TempDir()
		link := filepath.Join(in, "gone.txt")
		if err := os.Symlink(missing, link); err != nil {
			t.Fatal(err)
		}
		src := openSource(t, fmt.Sprintf("{dir: %q, min_age: 0s}", in), connectortest.Env(t, 10))
		defer closeSource(t, src)
		_, _, err := src.Read(t.Context())
		if err == nil || !strings.Contains(err.Error(), link) {
			t.Errorf("Read = %v, want an error naming %s", err, link)
		}
		if _, _, again := src.Read(t.Context()); !errors.Is(again, err) && again.Error() != err.Error() {
			t.Errorf("second Read = %v, want the same error", again)
		}
	})
	t.Run("file vanishes before it is read", func(t *testing.T) {
		in := t.TempDir()
		p := writeFile(t, in, "a.txt", "a\n")
		src := openSource(t, fmt.Sprintf("{dir: %q, min_age: 0s}", in), connectortest.Env(t, 10))
		defer closeSource(t, src)
		if _, err := src.list(); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		_, _, err := src.Read(t.Context())
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("Read = %v, want an error naming %s", err, p)
		}
	})
	t.Run("no permission", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads files without permission; the other cases cover unreadable files")
		}
		in := t.TempDir()
		p := writeFile(t, in, "a.txt", "a\n")
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		src := openSource(t, fmt.Sprintf("{dir: %q, min_age: 0s}", in), connectortest.Env(t, 10))
		defer closeSource(t, src)
		if _, _, err := src.Read(t.Context()); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("Read = %v, want an error naming %s", err, p)
		}
	})
}

func TestInvalidJSON(t *testing.T) {
	content := `{"n":1}` + "\n" + `{"n":2}` + "\n" + `{"n":` + "\n" + `{"n":4}` + "\n" + `not json` + "\n" + `{"n":6,"ts":"yesterday"}` + "\n"
	t.Run("fail", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "in.jsonl", content)
		settings := fmt.Sprintf("{path: %q, format: json}", p)
		env := connectortest.Env(t, 10)
		src := openSource(t, settings, env)
		recs, ack, err := src.Read(t.Context())
		if err != nil || strings.Join(connectortest.Values(recs), ",") != `{"n":1},{"n":2}` {
			t.Fatalf("first Read = %q, %v; want the two valid lines", connectortest.Values(recs), err)
		}
		ack(nil)
		wantErr := p + " line 3: invalid JSON"
		if _, _, err = src.Read(t.Context()); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("second Read = %v, want %q", err, wantErr)
		}
		closeSource(t, src)
		// The bad line was not committed: after a restart it fails again.
		src = openSource(t, settings, env)
		defer closeSource(t, src)
		if recs, _, err = src.Read(t.Context()); len(recs) != 0 || err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("Read after restart = %d records, %v, want %q", len(recs), err, wantErr)
		}
	})
	t.Run("skip", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "in.jsonl", content)
		src := openSource(t, fmt.Sprintf("{path: %q, format: json, on_invalid: skip, timestamp_field: ts}", p), connectortest.Env(t, 10))
		bs := connectortest.ReadBatches(t, t.Context(), src, 10)
		connectortest.AckAll(bs, nil)
		closeSource(t, src)
		if got := connectortest.Values(connectortest.Records(bs)); strings.Join(got, ",") != `{"n":1},{"n":2},{"n":4}` {
			t.Errorf("read %q", got)
		}
		if src.skipped != 3 {
			t.Errorf("skipped %d lines, want 3", src.skipped)
		}
	})
}

func TestMaxLine(t *testing.T) {
	p := writeFile(t, t.TempDir(), "in.txt", "0123456789\r\n01234567890\nok\n")
	src := openSource(t, fmt.Sprintf("{path: %q, max_line: 10}", p), connectortest.Env(t, 10))
	defer closeSource(t, src)
	recs, ack, err := src.Read(t.Context())
	if err != nil || strings.Join(connectortest.Values(recs), ",") != "0123456789" {
		t.Fatalf("first Read = %q, %v", connectortest.Values(recs), err)
	}
	ack(nil)
	_, _, err = src.Read(t.Context())
	if want := p + ": line 2 is longer than max_line (10)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("second Read = %v, want %q", err, want)
	}
}

func TestRawTooLarge(t *testing.T) {
	p := writeFile(t, t.TempDir(), "in.bin", strings.Repeat("x", 2000))
	src := openSource(t, fmt.Sprintf("{path: %q, format: raw, max_file_size: 1KiB}", p), connectortest.Env(t, 10))
	defer closeSource(t, src)
	if _, _, err := src.Read(t.Context()); err == nil || !strings.Contains(err.Error(), p+": larger than max_file_size (1KiB)") {
		t.Errorf("Read = %v", err)
	}
}

func TestRawOncePerRestart(t *testing.T) {
	p := writeFile(t, t.TempDir(), "in.bin", "whole")
	settings := fmt.Sprintf("{path: %q, format: raw}", p)
	env := connectortest.Env(t, 10)
	src := openSource(t, settings, env)
	connectortest.AckAll(connectortest.ReadBatches(t, t.Context(), src, 10), nil)
	closeSource(t, src)
	src = openSource(t, settings, env)
	if bs := connectortest.ReadBatches(t, t.Context(), src, 10); len(bs) != 0 {
		t.Errorf("raw file read again after restart: %q", connectortest.Values(connectortest.Records(bs)))
	}
	closeSource(t, src)
}

func TestSourceConfigProblems(t *testing.T) {
	tests := []struct {
		settings string
		want     []string
	}{
		{"{}", []string{"source.file.path: give path (a file) or dir (a directory)"}},
		{"{path: a, dir: b, pattern: '*.txt'}", []string{"source.file.dir: give path or dir, not both", "source.file.pattern: applies only with dir"}},
		{"{dir: d, pattern: '[', poll_interval: 0s, max_line: 0, key_field: k, timestamp_field: t, on_invalid: skip}", []string{
			"source.file.key_field: applies only with format json",
			"source.file.max_line: must be at least 1 byte",
			"source.file.on_invalid: applies only with format json",
			`source.file.pattern: "[" is not a glob for file names (examples: *, *.jsonl, events-*.txt)`,
			"source.file.poll_interval: must be positive",
			"source.file.timestamp_field: applies only with format json",
		}},
		{"{path: a, format: csv}", []string{`source.file.format: "csv" is not one of lines, json, raw`}},
		// Guards issue #8: max_line had no upper bound (3GiB and a 2 GB
		// line ran the process out of memory).
		{"{path: a, max_line: 3GiB}", []string{"source.file.max_line: 3GiB is more than the limit of 64MiB (a line is held in memory whole)"}},
		// Guards issue #8: max_file_size had no upper bound either, and a
		// raw file is read into memory whole.
		{"{path: a, format: raw, max_file_size: 10GiB}", []string{"source.file.max_file_size: 10GiB is more than the limit of 256MiB (a raw file is read into memory whole)"}},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := connectortest.DecodeSource[SourceConfig](t, Register, "file", tt.settings)
			connectortest.CheckProblems(t, err, tt.want...)
		})
	}
	cfg := connectortest.MustDecodeSource[SourceConfig](t, Register, "file", "{dir: d}")
	want := SourceConfig{Dir: "d", Pattern: "*", Watch: true, PollInterval: time.Second, MinAge: time.Second,
		Format: "lines", OnInvalid: "fail", FileHeader: true, MaxLine: 1 << 20, MaxFileSize: 64 << 20}
	if *cfg != want {
		t.Errorf("defaults:\n%+v\nwant\n%+v", *cfg, want)
	}
}

// TestEOFAfterReadingPath checks that a path source ends even when acks
// are still outstanding.
func TestEOFAfterReadingPath(t *testing.T) {
	p := writeFile(t, t.TempDir(), "in.txt", "a\n")
	src := openSource(t, fmt.Sprintf("{path: %q}", p), connectortest.Env(t, 10))
	defer closeSource(t, src)
	recs, ack, err := src.Read(t.Context())
	if err != nil || len(recs) != 1 {
		t.Fatalf("Read = %d, %v", len(recs), err)
	}
	if _, _, err := src.Read(t.Context()); !errors.Is(err, io.EOF) {
		t.Errorf("Read = %v, want io.EOF", err)
	}
	ack(nil)
}
