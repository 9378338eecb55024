// Package file is the "file" source and the "file" sink.
//
// The source reads one file (path) or every file of a directory (dir),
// optionally watching it for new files, as lines, JSON lines or whole files
// (raw). It is at-least-once across restarts: it keeps, in its data
// directory, the committed byte offset of each file (the end of the longest
// run of batches that were all acknowledged, in file order; a batch
// acknowledged with an error is never committed) and, in directory mode,
// which files are done (by path, size and modification time), with each
// file's device and inode, so a file rotated under its path is read from the
// start. The progress file is replaced atomically as soon as a batch is
// acknowledged (at most one write in flight; acknowledgements during a
// write are saved by the next) and on Close. A restart resumes each file at
// its committed offset, so records after it are read again: at most those
// in flight plus those acknowledged during the last write.
//
// Records carry no key (unless key_field), the file's modification time as
// timestamp (unless timestamp_field), and one header, "file", with the
// file's absolute path (unless file_header is false). Line numbers are not
// put in headers, which would cost a string per record on every hop; the
// source's own errors (invalid JSON, a line longer than max_line) name the
// file and line instead.
//
// The sink writes line-formatted files that become visible under their
// final name only when complete; see Sink.
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/connectors/internal/lines"
	"github.com/wasmstream/wasmstream/runtime"
)

// Register adds the file source and sink to r.
func Register(r *runtime.Registry) {
	runtime.AddSource(r, "file", "Reads a file or a directory of files as lines, JSON lines or whole files, resuming after a restart.",
		func(c *SourceConfig) (runtime.Source, error) { return NewSource(c) })
	runtime.AddSink(r, "file", "Writes records as lines to rolling files that appear under their final name only when complete.",
		func(c *SinkConfig) (runtime.Sink, error) { return NewSink(c) })
}

// Tuning constants.
const (
	retryInterval = 200 * time.Millisecond // wait before saving progress again after a failed write
	arenaChunk    = 64 << 10               // record bytes are carved from chunks this large
	maxBatchBytes = 4 << 20                // a batch ends after this many bytes of lines
	headerName    = "file"
)

type format int

const (
	formatLines format = iota
	formatJSON
	formatRaw
)

// Source reads files. Read is not safe for concurrent use; acks may be
// called from any goroutine, also during Read.
type Source struct {
	cfg    SourceConfig
	format format
	log    *slog.Logger
	batch  int
	path   string // absolute; path mode
	dir    string // absolute; directory mode

	progress *tracker
	stop     chan struct{}
	flusher  sync.WaitGroup

	cur     *openFile
	queue   []candidate     // directory mode: files listed but not begun
	seen    map[fileID]bool // directory mode: files begun this run and still listed
	ended   bool
	err     error // reported once the records read before it are returned
	skipped int64
	timer   *time.Timer

	resumed      map[string]bool // files skipped or begun past their start because of saved progress
	resumedBytes int64
}

// openFile is the file being read.
type openFile struct {
	f         *os.File
	id        fileID
	skip      int64 // an unterminated first line this long was emitted before
	fp        *fileProgress
	sc        *lines.Scanner
	start     int64 // offset the scanner started at
	startLine int64
	mtimeMS   int64
}

// candidate is a file found in the directory.
type candidate struct {
	id    fileID
	mtime time.Time
	name  string
}

// NewSource returns a source for a validated config. It does no I/O.
func NewSource(cfg *SourceConfig) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source{cfg: *cfg, seen: map[fileID]bool{}, resumed: map[string]bool{}}
	switch cfg.Format {
	case "json":
		s.format = formatJSON
	case "raw":
		s.format = formatRaw
	}
	return s, nil
}

// Open loads the progress from env.DataDir and, with path, opens the file
// (so a missing or unreadable file fails here); with dir, it checks the
// directory.
func (s *Source) Open(_ context.Context, env runtime.Env) error {
	s.log = env.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.batch = max(env.BatchSize, 1)
	if env.DataDir == "" {
		return errors.New("opening file source: no data directory to keep progress in (Env.DataDir)")
	}
	var t *tracker
	var err error
	if env.Position != nil {
		t, err = trackerAt(env.DataDir, env.Position)
	} else {
		t, err = loadTracker(env.DataDir)
	}
	if err != nil {
		return fmt.Errorf("opening file source: %w", err)
	}
	s.progress = t
	if s.cfg.Path != "" {
		if s.path, err = filepath.Abs(s.cfg.Path); err != nil {
			return fmt.Errorf("opening %s: %w", s.cfg.Path, err)
		}
		if err := s.openPath(); err != nil {
			return err
		}
	} else {
		if s.dir, err = filepath.Abs(s.cfg.Dir); err != nil {
			return fmt.Errorf("opening %s: %w", s.cfg.Dir, err)
		}
		fi, err := os.Stat(s.dir)
		if err != nil {
			return fmt.Errorf("opening directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("opening directory %s: not a directory (use path to read one file)", s.dir)
		}
	}
	s.stop = make(chan struct{})
	s.flusher.Add(1)
	go s.flushLoop()
	return nil
}

// flushLoop saves the progress whenever it changed: as soon as a batch is
// acknowledged, with at most one write in flight; changes made during a
// write are saved by the next one, which starts when it ends. A failed
// write is retried after retryInterval (or at the next change).
func (s *Source) flushLoop() {
	defer s.flusher.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.progress.saves:
		case <-retry.C:
		}
		if err := s.progress.flush(); err != nil {
			s.log.Error("saving file source progress", "err", err)
			retry.Reset(retryInterval)
		}
	}
}

// openPath opens the configured file at its committed offset.
func (s *Source) openPath() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("opening file: %w", err)
	}
	if fi.IsDir() {
		return fmt.Errorf("opening file %s: is a directory (use dir to read a directory)", s.path)
	}
	id := fileID{path: s.path, size: fi.Size(), mtimeNS: fi.ModTime().UnixNano()}
	var offset, line, skip int64
	if fp, ok := s.progress.lookup(s.path); ok {
		now := nodeOf(fi)
		switch {
		case fp.node != (node{}) && now != (node{}) && fp.node != now:
			s.log.Warn("file was replaced since its progress was saved (another inode, as after a rotation); reading the new file from the start",
				"file", s.path, "size", fi.Size(), "offset", fp.offset)
		case fi.Size() < fp.offset+fp.partial:
			s.log.Warn("file is shorter than its committed offset (truncated); reading it from the start",
				"file", s.path, "size", fi.Size(), "offset", fp.offset+fp.partial)
		default:
			offset, line, skip = fp.offset, fp.line, fp.partial
		}
	}
	return s.openAt(id, fi.ModTime(), offset, line, skip)
}

// openAt opens a file to read it from offset, line lines in. skip is the
// length of an unterminated line at offset that was emitted before: it is
// not emitted again unless it has grown or been terminated since.
func (s *Source) openAt(id fileID, mtime time.Time, offset, line, skip int64) error {
	if s.format == formatRaw && offset != id.size {
		offset, line, skip = 0, 0, 0 // a raw file is read whole or not at all
	}
	f, err := os.Open(id.path)
	if err != nil {
		return fmt.Errorf("opening file: %w", err)
	}
	var n node
	if fi, err := f.Stat(); err == nil {
		n = nodeOf(fi)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("seeking %s to committed offset %d: %w", id.path, offset, err)
		}
	}
	c := &openFile{f: f, id: id, skip: skip, start: offset, startLine: line, mtimeMS: mtime.UnixMilli()}
	if s.format != formatRaw {
		c.sc = lines.NewScanner(f, "\n", int(s.cfg.MaxLine))
	}
	if offset > 0 {
		s.noteResumed(id.path, offset)
	}
	c.fp = s.progress.begin(id, n, offset, line, skip)
	s.cur = c
	s.log.Debug("reading file", "file", id.path, "offset", offset)
	return nil
}

// Read returns the next records, at most the batch size, all from one
// file. It returns io.EOF when a path was read to its end, or when a dir
// without watch has no more files.
func (s *Source) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if s.err != nil {
			return nil, nil, s.err
		}
		if s.cur == nil {
			if s.ended {
				return nil, nil, io.EOF
			}
			if err := s.nextFile(ctx); err != nil {
				if errors.Is(err, io.EOF) {
					s.ended = true
				} else if ctx.Err() == nil {
					s.err = err
				}
				return nil, nil, err
			}
		}
		var (
			recs []runtime.Record
			ack  runtime.AckFunc
		)
		if s.format == formatRaw {
			recs, ack = s.readRaw()
		} else {
			recs, ack = s.readLines()
		}
		if len(recs) > 0 {
			return recs, ack, nil
		}
	}
}

// nextFile opens the next file of the directory, waiting for one when
// watching. With path it only reports the end.
func (s *Source) nextFile(ctx context.Context) error {
	if s.dir == "" {
		return io.EOF
	}
	for {
		for len(s.queue) > 0 {
			c := s.queue[0]
			s.queue = s.queue[1:]
			fp, ok := s.progress.lookup(c.id.path)
			known := ok && fp.id == c.id
			if s.seen[c.id] || (known && fp.done) {
				continue
			}
			s.seen[c.id] = true
			var offset, line int64
			if known {
				offset, line = fp.offset, fp.line
			}
			return s.openAt(c.id, c.mtime, offset, line, 0)
		}
		young, err := s.list()
		if err != nil {
			return err
		}
		if len(s.queue) > 0 {
			continue
		}
		if !s.cfg.Watch && young == 0 {
			return io.EOF
		}
		wait := s.cfg.PollInterval
		if young > 0 {
			wait = min(wait, young)
		}
		if s.timer == nil {
			s.timer = time.NewTimer(wait)
		} else {
			s.timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			s.timer.Stop()
			return ctx.Err()
		case <-s.timer.C:
		}
	}
}

// list fills the queue with the directory's files that are old enough and
// not done, oldest first. It returns how long until the youngest of the
// others is old enough (0 if there is none).
func (s *Source) list() (time.Duration, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("listing directory: %w", err)
	}
	now := time.Now()
	listed := make(map[string]bool, len(entries))
	current := make(map[string]fileID, len(entries)) // what each listed path holds now
	var young time.Duration
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		if ok, _ := filepath.Match(s.cfg.Pattern, name); !ok {
			continue
		}
		p := filepath.Join(s.dir, name)
		fi, err := os.Stat(p) // follows symbolic links
		if err != nil {
			return 0, fmt.Errorf("reading directory entry: %w", err)
		}
		if fi.IsDir() {
			continue
		}
		if !fi.Mode().IsRegular() {
			s.log.Debug("skipping a file that is not a regular file", "file", p, "mode", fi.Mode())
			continue
		}
		listed[p] = true
		id := fileID{path: p, size: fi.Size(), mtimeNS: fi.ModTime().UnixNano()}
		current[p] = id
		if s.seen[id] {
			continue
		}
		if fp, ok := s.progress.lookup(p); ok && fp.id == id && fp.done {
			s.noteResumed(p, id.size)
			continue
		}
		if age := now.Sub(fi.ModTime()); age < s.cfg.MinAge {
			if left := s.cfg.MinAge - age; young == 0 || left < young {
				young = left
			}
			continue
		}
		s.queue = append(s.queue, candidate{id: id, mtime: fi.ModTime(), name: name})
	}
	s.progress.prune(listed)
	// Forget the files begun this run that are gone or have changed: a
	// watched directory may see new files forever, and seen must not grow
	// with them.
	for id := range s.seen {
		if current[id.path] != id {
			delete(s.seen, id)
		}
	}
	sort.Slice(s.queue, func(i, j int) bool {
		a, b := s.queue[i], s.queue[j]
		if !a.mtime.Equal(b.mtime) {
			return a.mtime.Before(b.mtime)
		}
		return a.name < b.name
	})
	return young, nil
}

// readLines reads a batch of lines or JSON lines from the current file.
// It ends the file at its end, and records an error in s.err (to be
// returned by the next Read) after the records before the error.
func (s *Source) readLines() ([]runtime.Record, runtime.AckFunc) {
	c := s.cur
	var recs []runtime.Record
	arena := make([]byte, 0, arenaChunk)
	// The position after the last line consumed without error: a batch
	// never commits past a line that failed.
	goodOff, goodLine := c.sc.Offset(), c.sc.Line()
	var partial int64 // an unterminated last line emitted after goodOff
	read, finished := 0, false
	for len(recs) < s.batch && read < maxBatchBytes {
		prevOff, prevLine := c.sc.Offset(), c.sc.Line()
		line, err := c.sc.Next()
		if errors.Is(err, io.EOF) {
			if err := s.checkTruncated(c); err != nil {
				s.err = err
				break
			}
			finished = true
			break
		}
		lineNo := c.startLine + c.sc.Line()
		if err != nil {
			var tl *lines.TooLongError
			if errors.As(err, &tl) {
				s.err = fmt.Errorf("reading %s: line %d is longer than max_line (%s)", c.id.path, c.startLine+tl.Line, s.cfg.MaxLine)
			} else {
				s.err = fmt.Errorf("reading %s after line %d: %w", c.id.path, lineNo-1, err)
			}
			break
		}
		// With path, a last line without a newline may still be being
		// written: it is emitted, but the committed offset stays at its
		// start (with its length), so when the writer finishes it a restart
		// reads the whole line again rather than its rest as a record.
		open := s.dir == "" && c.sc.Unterminated()
		if open {
			n := c.sc.Offset() - prevOff
			if prevOff == 0 && n == c.skip {
				partial = n // emitted by an earlier run, unchanged since
				continue
			}
			if s.format == formatJSON && !json.Valid(line) {
				s.log.Warn("the last line has no newline and is not valid JSON yet; leaving it for the next run",
					"file", c.id.path, "line", lineNo)
				continue
			}
		}
		read += len(line)
		rec := runtime.Record{Timestamp: c.mtimeMS}
		if s.format == formatJSON {
			var ok bool
			if arena, ok = s.parseJSON(c, line, lineNo, arena, &rec); !ok {
				if s.err != nil {
					break
				}
				goodOff, goodLine = c.sc.Offset(), c.sc.Line()
				continue
			}
		}
		arena, rec.Value = own(arena, line)
		recs = append(recs, rec)
		goodOff, goodLine = c.sc.Offset(), c.sc.Line()
		if open {
			goodOff, goodLine, partial = prevOff, prevLine, c.sc.Offset()-prevOff
		}
	}
	if s.cfg.FileHeader && len(recs) > 0 {
		_, path := own(arena, []byte(c.id.path))
		hdrs := make([]runtime.Header, len(recs))
		for i := range recs {
			hdrs[i] = runtime.Header{Name: headerName, Value: path}
			recs[i].Headers = hdrs[i : i+1 : i+1]
		}
	}
	fp := c.fp
	sp := s.progress.add(fp, c.start+goodOff, c.startLine+goodLine, partial, len(recs))
	if finished {
		s.endFile()
	}
	return recs, func(err error) { s.progress.ack(fp, sp, err) }
}

// checkTruncated returns an error when the current file, read to its end,
// is now shorter than what was read of it: it was truncated while being
// read, so what was written after the cut may never be seen. The file is
// not marked done; a restart reads it again from the start (its size is
// below the committed offset then).
func (s *Source) checkTruncated(c *openFile) error {
	fi, err := c.f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", c.id.path, err)
	}
	if pos := c.start + c.sc.Offset(); fi.Size() < pos {
		return fmt.Errorf("reading %s: truncated to %d bytes while being read at offset %d; restart to read it again from the start",
			c.id.path, fi.Size(), pos)
	}
	return nil
}

// parseJSON validates one JSON line and sets rec's key and timestamp from
// it. It returns false for a blank line or an invalid one that is skipped,
// and false with s.err set for an invalid one that fails the source.
func (s *Source) parseJSON(c *openFile, line []byte, lineNo int64, arena []byte, rec *runtime.Record) ([]byte, bool) {
	if len(bytes.TrimSpace(line)) == 0 {
		return arena, false
	}
	if !json.Valid(line) {
		var v any
		err := json.Unmarshal(line, &v) // only for the reason
		return arena, s.invalid(c, lineNo, fmt.Errorf("invalid JSON: %w", err))
	}
	if f := s.cfg.TimestampField; f != "" {
		if raw, ok := topField(line, f); ok {
			ms, set, err := parseTimestamp(raw)
			if err != nil {
				return arena, s.invalid(c, lineNo, fmt.Errorf("timestamp field %q: %w", f, err))
			}
			if set {
				rec.Timestamp = ms
			}
		}
	}
	if f := s.cfg.KeyField; f != "" {
		if raw, ok := topField(line, f); ok {
			arena = reserve(arena, len(raw))
			start := len(arena)
			var set bool
			if arena, set = appendKey(arena, raw); set {
				rec.Key = arena[start:len(arena):len(arena)]
			}
		}
	}
	return arena, true
}

// invalid handles an invalid JSON line by on_invalid: it sets s.err
// (fail) or logs and counts it (skip). It always returns false.
func (s *Source) invalid(c *openFile, lineNo int64, reason error) bool {
	err := fmt.Errorf("reading %s line %d: %w", c.id.path, lineNo, reason)
	if s.cfg.OnInvalid != "skip" {
		s.err = err
		return false
	}
	s.skipped++
	if s.skipped <= 10 || s.skipped%1000 == 0 {
		s.log.Warn("skipping invalid line", "err", err, "skipped", s.skipped)
	}
	return false
}

// readRaw reads the current file whole as one record.
func (s *Source) readRaw() ([]runtime.Record, runtime.AckFunc) {
	c := s.cur
	if c.start == c.id.size {
		// Read before, or empty.
		s.progress.add(c.fp, c.start, 0, 0, 0)
		s.endFile()
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(c.f, int64(s.cfg.MaxFileSize)+1))
	if err != nil {
		s.err = fmt.Errorf("reading %s: %w", c.id.path, err)
		return nil, nil
	}
	if len(data) > int(s.cfg.MaxFileSize) {
		s.err = fmt.Errorf("reading %s: larger than max_file_size (%s)", c.id.path, s.cfg.MaxFileSize)
		return nil, nil
	}
	var recs []runtime.Record
	if len(data) > 0 {
		rec := runtime.Record{Value: data[:len(data):len(data)], Timestamp: c.mtimeMS}
		if s.cfg.FileHeader {
			rec.Headers = []runtime.Header{{Name: headerName, Value: []byte(c.id.path)}}
		}
		recs = append(recs, rec)
	}
	fp := c.fp
	sp := s.progress.add(fp, int64(len(data)), 0, 0, len(recs))
	s.endFile()
	return recs, func(err error) { s.progress.ack(fp, sp, err) }
}

// endFile closes the current file, read to its end.
func (s *Source) endFile() {
	c := s.cur
	s.cur = nil
	s.progress.finish(c.fp)
	if err := c.f.Close(); err != nil {
		s.log.Warn("closing file", "file", c.id.path, "err", err)
	}
	if s.dir == "" {
		s.ended = true
	}
}

// noteResumed records that the file at path was skipped up to offset
// because an earlier run had read it.
func (s *Source) noteResumed(path string, offset int64) {
	if !s.resumed[path] {
		s.resumed[path] = true
		s.resumedBytes += offset
	}
}

// Resumed implements runtime.ResumingSource: the files this run skipped,
// whole or up to their committed offset, because of saved progress.
func (s *Source) Resumed() (string, bool) {
	if len(s.resumed) == 0 {
		return "", false
	}
	files := "1 file"
	if len(s.resumed) > 1 {
		files = fmt.Sprintf("%d files", len(s.resumed))
	}
	size := fmt.Sprintf("%d bytes", s.resumedBytes)
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if s.resumedBytes >= 1<<(10*(i+1)) {
			size = fmt.Sprintf("%.1f %s", float64(s.resumedBytes)/float64(int64(1)<<(10*(i+1))), unit)
		}
	}
	return fmt.Sprintf("%s (%s) already read by an earlier run", files, size), true
}

// Position implements runtime.PositionedSource: the committed progress of
// every file, which at a checkpoint is everything read.
func (s *Source) Position() ([]byte, error) { return s.progress.position() }

// Close saves the progress for the last time and closes the current file.
// Acks after Close are ignored.
func (s *Source) Close(context.Context) error {
	if s.stop == nil {
		return nil // not opened
	}
	close(s.stop)
	s.flusher.Wait()
	if s.timer != nil {
		s.timer.Stop()
	}
	var errs []error
	if s.cur != nil {
		if err := s.cur.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", s.cur.id.path, err))
		}
		s.cur = nil
	}
	if s.skipped > 0 {
		s.log.Warn("skipped invalid lines", "count", s.skipped)
	}
	if err := s.progress.close(); err != nil {
		errs = append(errs, fmt.Errorf("closing file source: %w", err))
	}
	return errors.Join(errs...)
}

// own copies b into the arena, starting a new chunk when b does not fit,
// and returns the copy. Earlier chunks stay alive through the records that
// point into them.
func own(arena, b []byte) ([]byte, []byte) {
	arena = reserve(arena, len(b))
	start := len(arena)
	arena = append(arena, b...)
	return arena, arena[start:len(arena):len(arena)]
}

// reserve returns arena, or a new chunk, with room for n more bytes.
func reserve(arena []byte, n int) []byte {
	if cap(arena)-len(arena) >= n {
		return arena
	}
	return make([]byte, 0, max(arenaChunk, n))
}
