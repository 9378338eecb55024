package file

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

func newSink(t *testing.T, settings string) *Sink {
	t.Helper()
	cfg := connectortest.MustDecodeSink[SinkConfig](t, Register, "file", settings)
	s, err := NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openSink(t *testing.T, settings string) *Sink {
	t.Helper()
	s := newSink(t, settings)
	if err := s.Open(t.Context(), connectortest.Env(t, 10)); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// listDir returns the names in dir, sorted, split into final and hidden.
func listDir(t *testing.T, dir string) (final, hidden []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			hidden = append(hidden, e.Name())
		} else {
			final = append(final, e.Name())
		}
	}
	sort.Strings(final)
	return final, hidden
}

// readBack parses the final files of dir, in name order.
func readBack(t *testing.T, dir, format string) []runtime.Record {
	t.Helper()
	final, _ := listDir(t, dir)
	var recs []runtime.Record
	for _, name := range final {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s does not end with a newline", name)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			if format == "text" {
				recs = append(recs, runtime.Record{Value: line})
				continue
			}
			var j struct {
				Key, Value *string
				Timestamp  int64
			}
			if err := json.Unmarshal(line, &j); err != nil {
				t.Fatalf("%s: %q: %v", name, line, err)
			}
			r := runtime.Record{Timestamp: j.Timestamp}
			if j.Key != nil {
				r.Key = []byte(*j.Key)
			}
			if j.Value != nil {
				r.Value = []byte(*j.Value)
			}
			recs = append(recs, r)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

func TestSinkSuite(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		for _, maxSize := range []string{"128MiB", "100"} {
			t.Run(format+"/max_size="+maxSize, func(t *testing.T) {
				connectortest.RunSinkSuite(t, func(t *testing.T) (runtime.Sink, func() []runtime.Record) {
					dir := filepath.Join(t.TempDir(), "out")
					s := newSink(t, fmt.Sprintf("{path: %q, format: %s, max_size: %s, suffix: .out}", dir, format, maxSize))
					return s, func() []runtime.Record {
						if _, hidden := listDir(t, dir); len(hidden) > 0 {
							t.Errorf("in-progress files left after Close: %q", hidden)
						}
						return readBack(t, dir, format)
					}
				})
			})
		}
	}
}

func values(prefix string, n, size int) []runtime.Record {
	recs := make([]runtime.Record, n)
	for i := range recs {
		v := fmt.Sprintf("%s%d-", prefix, i)
		v += strings.Repeat("x", max(0, size-len(v)))
		recs[i] = runtime.Record{Value: []byte(v)}
	}
	return recs
}

func TestSinkRollsBySize(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, fmt.Sprintf("{path: %q, max_size: 100}", dir))
	// 29-byte values make 30-byte lines: three fit in 100 bytes.
	for _, batch := range [][]runtime.Record{values("a", 4, 29), values("b", 6, 29), values("big", 1, 150), values("c", 1, 29)} {
		if err := s.Write(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		// Every file under its final name is complete at any time.
		final, _ := listDir(t, dir)
		for _, name := range final {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 100 && bytes.Count(b, []byte("\n")) != 1 {
				t.Errorf("%s has %d bytes", name, len(b))
			}
			if len(b) == 0 || b[len(b)-1] != '\n' {
				t.Errorf("%s is partial: %q", name, b)
			}
		}
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	final, hidden := listDir(t, dir)
	if len(hidden) != 0 {
		t.Errorf("hidden files after Close: %q", hidden)
	}
	var counts []int
	for _, name := range final {
		if !strings.HasPrefix(name, "part-") {
			t.Errorf("file name %q", name)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, bytes.Count(b, []byte("\n")))
	}
	// a0 a1 a2 | a3 b0 b1 | b2 b3 b4 | b5 | big | c0
	if fmt.Sprint(counts) != "[3 3 3 1 1 1]" {
		t.Errorf("lines per file %v, want [3 3 3 1 1 1]", counts)
	}
	got := connectortest.Values(readBack(t, dir, "text"))
	if len(got) != 12 || !strings.HasPrefix(got[0], "a0-") || !strings.HasPrefix(got[11], "c0-") {
		t.Errorf("read back %q", got)
	}
}

func TestSinkRenamesOnClose(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, fmt.Sprintf("{path: %q, suffix: .txt}", dir))
	if err := s.Write(t.Context(), values("v", 3, 5)); err != nil {
		t.Fatal(err)
	}
	final, hidden := listDir(t, dir)
	if len(final) != 0 || len(hidden) != 1 || !strings.HasSuffix(hidden[0], ".txt."+s.owner+".inprogress") {
		t.Fatalf("after Write: final %q, hidden %q; want one in-progress file", final, hidden)
	}
	// Write returned nil, so the lines are already in the file.
	b, err := os.ReadFile(filepath.Join(dir, hidden[0]))
	if err != nil || bytes.Count(b, []byte("\n")) != 3 {
		t.Fatalf("in-progress file holds %q, %v", b, err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	inProgress := hidden[0]
	final, hidden = listDir(t, dir)
	if len(final) != 1 || len(hidden) != 0 || s.inProgressName(final[0]) != inProgress {
		t.Fatalf("after Close: final %q, hidden %q; want %q renamed", final, hidden, inProgress)
	}
}

func TestSinkMaxAge(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, fmt.Sprintf("{path: %q, max_age: 20ms}", dir))
	defer func() {
		if err := s.Close(t.Context()); err != nil {
			t.Error(err)
		}
	}()
	if err := s.Write(t.Context(), values("v", 2, 5)); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 5*time.Second, "the file to be rolled by age", func() bool {
		final, hidden := listDir(t, dir)
		return len(final) == 1 && len(hidden) == 0
	})
	if err := s.Write(t.Context(), values("w", 1, 5)); err != nil {
		t.Fatal(err)
	}
	connectortest.WaitFor(t, 5*time.Second, "the second file to be rolled", func() bool {
		final, _ := listDir(t, dir)
		return len(final) == 2
	})
	if got := connectortest.Values(readBack(t, dir, "text")); strings.Join(got, ",") != "v0-xx,v1-xx,w0-xx" {
		t.Errorf("read back %q", got)
	}
}

func TestSinkRecoversInProgressFiles(t *testing.T) {
	dir := t.TempDir()
	env := connectortest.Env(t, 10)
	own := ownerOf(env.Pipeline, env.Component)
	other := ownerOf("another-pipeline", env.Component)
	files := map[string]string{
		".part-20240101T000000.000Z-000000." + own + ".inprogress":     "a\nb\npartial line", // cut after b
		".part-20240101T000001.000Z-000000." + own + ".inprogress":     "no newline",         // removed
		".part-20240101T000002.000Z-000000." + own + ".inprogress":     "c\n",                // kept whole
		".other-20240101T000000.000Z-000000." + own + ".inprogress":    "x\n",                // another prefix
		".part-20240101T000000.000Z-000000.csv." + own + ".inprogress": "y\n",                // another suffix
		".part-garbage.inprogress":                                     "z\n",                // not a sink name
		".part-20240101T000003.000Z-000000." + other + ".inprogress":   "w\n",                // another sink's
		".part-20240101T000004.000Z-000000.inprogress":                 "u\n",                // unmarked: older version
	}
	for name, content := range files {
		writeFile(t, dir, name, content)
	}
	s := openSink(t, fmt.Sprintf("{path: %q}", dir))
	if err := s.Write(t.Context(), values("new", 1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	final, hidden := listDir(t, dir)
	if len(final) != 3 || final[0] != "part-20240101T000000.000Z-000000" || final[1] != "part-20240101T000002.000Z-000000" {
		t.Fatalf("final files %q", final)
	}
	wantHidden := []string{".other-20240101T000000.000Z-000000." + own + ".inprogress", ".part-20240101T000000.000Z-000000.csv." + own + ".inprogress",
		".part-20240101T000003.000Z-000000." + other + ".inprogress", ".part-20240101T000004.000Z-000000.inprogress", ".part-garbage.inprogress"}
	sort.Strings(hidden)
	if strings.Join(hidden, ",") != strings.Join(wantHidden, ",") {
		t.Errorf("hidden files %q, want %q", hidden, wantHidden)
	}
	if got := connectortest.Values(readBack(t, dir, "text")); strings.Join(got, ",") != "a,b,c,new0-" {
		t.Errorf("read back %q", got)
	}
}

func TestSinkNamesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	var order []string
	for i := range 3 {
		s := openSink(t, fmt.Sprintf("{path: %q, suffix: .log}", dir))
		if err := s.Write(t.Context(), values(fmt.Sprintf("run%d-", i), 1, 3)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		order = append(order, fmt.Sprintf("run%d-0-", i))
	}
	// A name from the future (a clock that went back): new names sort
	// after it anyway.
	future := "part-29990101T000000.000Z-000007.log"
	writeFile(t, dir, future, "future\n")
	order = append(order, "future")
	s := openSink(t, fmt.Sprintf("{path: %q, suffix: .log}", dir))
	if err := s.Write(t.Context(), values("last", 1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	order = append(order, "last0-")
	final, _ := listDir(t, dir)
	if len(final) != 5 || final[4] != "part-29990101T000000.000Z-000008.log" {
		t.Errorf("files %q", final)
	}
	if got := connectortest.Values(readBack(t, dir, "text")); strings.Join(got, ",") != strings.Join(order, ",") {
		t.Errorf("files in name order hold %q, want %q", got, order)
	}
}

func TestSinkWriteFailureTruncates(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, fmt.Sprintf("{path: %q}", dir))
	if err := s.Write(t.Context(), values("ok", 2, 3)); err != nil {
		t.Fatal(err)
	}
	// Break the file under the sink: the write fails, and so does the
	// truncation, so the file is left for recovery and a new one begins.
	if err := s.f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(t.Context(), values("lost", 2, 3)); err == nil {
		t.Fatal("Write to a closed file succeeded")
	}
	if err := s.Write(t.Context(), values("retry", 2, 3)); err != nil {
		t.Fatalf("Write after the failure: %v", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The next Open recovers the abandoned file.
	s = openSink(t, fmt.Sprintf("{path: %q}", dir))
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := connectortest.Values(readBack(t, dir, "text"))
	if strings.Join(got, ",") != "ok0-,ok1-,retry0-,retry1-" {
		t.Errorf("read back %q", got)
	}
}

func TestSinkBatchErrorAfterRoll(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, fmt.Sprintf("{path: %q, max_size: 10}", dir))
	// Creating the second file fails: the first file is finalised, so
	// only the records after it failed.
	calls := 0
	s.openFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if calls++; calls == 2 {
			return nil, errors.New("disk full")
		}
		return os.OpenFile(name, flag, perm)
	}
	err := s.Write(t.Context(), values("r", 3, 7)) // 8-byte lines: one per file
	var be *runtime.BatchError
	if !errors.As(err, &be) || fmt.Sprint(be.Failed) != "[1 2]" || !strings.Contains(be.Error(), "disk full") {
		t.Fatalf("Write = %v, want a BatchError for records 1 and 2", err)
	}
	// The runtime retries the failed records.
	if err := s.Write(t.Context(), values("r", 3, 7)[1:]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := connectortest.Values(readBack(t, dir, "text")); strings.Join(got, ",") != "r0-xxxx,r1-xxxx,r2-xxxx" {
		t.Errorf("read back %q", got)
	}
}

func TestSinkConfigProblems(t *testing.T) {
	tests := []struct {
		settings string
		want     []string
	}{
		{"{}", []string{"sink.file.path: required"}},
		// Validate runs although format did not decode: every problem in
		// one pass (guards issue #9: validate found mistakes in several passes).
		{"{path: d, prefix: '.x', suffix: a/b, max_size: 0, format: csv}", []string{
			`sink.file.format: "csv" is not one of text, json`,
			"sink.file.max_size: must be at least 1 byte",
			`sink.file.prefix: ".x" must be a non-empty file name start`,
			`sink.file.suffix: "a/b" must not contain /`,
		}},
		{"{path: d, prefix: '.x', suffix: a/b, max_size: 0}", []string{
			"sink.file.max_size: must be at least 1 byte",
			`sink.file.prefix: ".x" must be a non-empty file name start`,
			`sink.file.suffix: "a/b" must not contain /`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.settings, func(t *testing.T) {
			_, err := connectortest.DecodeSink[SinkConfig](t, Register, "file", tt.settings)
			connectortest.CheckProblems(t, err, tt.want...)
		})
	}
	cfg := connectortest.MustDecodeSink[SinkConfig](t, Register, "file", "{path: out}")
	want := SinkConfig{Path: "out", Prefix: "part", Format: "text", MaxSize: 128 << 20}
	if *cfg != want {
		t.Errorf("defaults %+v, want %+v", *cfg, want)
	}
}

// TestSinkSharedDirectory guards issue #8: a sink recovered every
// in-progress file of its prefix and suffix on Open, so a second sink
// opening the same directory renamed the first one's live file from under
// it (the first then failed to finalise it). Each sink now recovers only
// the in-progress files it marked itself.
func TestSinkSharedDirectory(t *testing.T) {
	dir := t.TempDir()
	settings := fmt.Sprintf("{path: %q, suffix: .txt}", dir)
	open := func(component string) *Sink {
		s := newSink(t, settings)
		env := connectortest.Env(t, 10)
		env.Component = component
		if err := s.Open(t.Context(), env); err != nil {
			t.Fatalf("Open %s: %v", component, err)
		}
		return s
	}
	a := open("sink")
	if err := a.Write(t.Context(), values("a", 2, 3)); err != nil {
		t.Fatal(err)
	}
	_, hidden := listDir(t, dir)
	b := open("outputs.audit.file")
	if _, after := listDir(t, dir); strings.Join(after, ",") != strings.Join(hidden, ",") {
		t.Fatalf("opening a second sink changed the in-progress files from %q to %q", hidden, after)
	}
	if err := b.Write(t.Context(), values("b", 1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(t.Context(), values("c", 1, 3)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Sink{a, b} {
		if err := s.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	final, hidden := listDir(t, dir)
	if len(final) != 2 || len(hidden) != 0 {
		t.Fatalf("final %q, hidden %q; want one file per sink", final, hidden)
	}
	got := connectortest.Values(readBack(t, dir, "text"))
	sort.Strings(got)
	if strings.Join(got, ",") != "a0-,a1-,b0-,c0-" {
		t.Errorf("read back %q", got)
	}
}
