package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/connectors/internal/lines"
	"github.com/wasmstream/wasmstream/internal/durable"
	"github.com/wasmstream/wasmstream/runtime"
)

const (
	inProgressExt = ".inprogress"
	timeLayout    = "20060102T150405.000Z"
	seqDigits     = 6
	writeChunk    = 1 << 20 // bytes buffered before a write(2) within one Write
	keepBuffer    = 4 << 20 // a larger buffer is dropped after Write
)

// Sink writes records as lines to files in a directory. A file is written
// under a hidden in-progress name, ".<name>.<owner>.inprogress", and renamed
// to <name> once complete: when it is rolled (max_size, max_age) or on
// Close, after an fsync, with the directory synced after the rename. So a
// file under its final name is never partial. The owner is 8 hex digits
// derived from the pipeline name and the sink's place in the pipeline
// file, so several sinks may share a directory (and prefix): each recovers
// only its own in-progress files.
//
// Write returns nil only after the lines are written and fsynced to the
// in-progress file: the records are durable, and the runtime acknowledges
// them to the source. A crash can therefore leave acknowledged records in
// an in-progress file. Open recovers such leftovers (of this sink's prefix,
// suffix and owner): it cuts a partial last line (from a Write that did not
// return nil, whose records are redelivered) and renames the file to its
// final name. Deleting them instead would lose acknowledged records. In the
// text format a value containing a newline may make the cut fall inside a
// record; the json format has no such ambiguity.
//
// When a Write fails part-way through, the records already in files that
// were rolled (and so finalised) are reported as written with a
// *runtime.BatchError; the current file is truncated back to its last
// durable size.
//
// Write and Close are not safe for concurrent use with each other; a
// max_age roll runs on a timer and takes the sink's lock.
type Sink struct {
	cfg    SinkConfig
	format lines.Format
	dir    string
	owner  string // marks this sink's in-progress files
	log    *slog.Logger

	mu      sync.Mutex
	f       *os.File
	name    string // final name of the file being written
	size    int64  // bytes durably in f
	created time.Time
	timer   *time.Timer
	lastTS  string // time part of the last name used
	lastSeq int
	buf     []byte

	openFile func(name string, flag int, perm os.FileMode) (*os.File, error) // os.OpenFile; replaced in tests
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
	return &Sink{cfg: *cfg, format: f, openFile: os.OpenFile}, nil
}

// Open creates the directory and finalises in-progress files left by a
// previous run.
func (s *Sink) Open(_ context.Context, env runtime.Env) error {
	s.log = env.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(s.cfg.Path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", s.cfg.Path, err)
	}
	s.dir = dir
	s.owner = ownerOf(env.Pipeline, env.Component)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating output directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing output directory: %w", err)
	}
	for _, e := range entries {
		name, owner, inProgress, ok := s.parseName(e.Name())
		if !ok {
			continue
		}
		s.noteName(name) // also another writer's: names stay unique
		switch {
		case !inProgress || owner != s.owner && owner != "":
		case owner == "":
			s.log.Warn("leaving an in-progress file without an owner mark (from an older version): it may be another writer's; rename it to its final name if it is this sink's",
				"file", filepath.Join(dir, e.Name()))
		default:
			if err := s.recover(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// ownerOf returns the mark of a sink's in-progress files: 8 hex digits of
// a hash of the pipeline name and the component path.
func ownerOf(pipeline, component string) string {
	h := fnv.New32a()
	h.Write([]byte(pipeline))
	h.Write([]byte{0})
	h.Write([]byte(component))
	return fmt.Sprintf("%08x", h.Sum32())
}

// inProgressName returns the hidden name the file name is written under.
func (s *Sink) inProgressName(name string) string {
	return "." + name + "." + s.owner + inProgressExt
}

// parseName reports whether file is a file of this sink's prefix and
// suffix, final or in progress, and returns its final name and, for an
// in-progress file, its owner mark ("" for an unmarked one).
func (s *Sink) parseName(file string) (name, owner string, inProgress, ok bool) {
	name = file
	if strings.HasPrefix(file, ".") && strings.HasSuffix(file, inProgressExt) {
		name, inProgress = strings.TrimSuffix(file[1:], inProgressExt), true
		if i := strings.LastIndexByte(name, '.'); i >= 0 && isOwner(name[i+1:]) {
			name, owner = name[:i], name[i+1:]
		}
	}
	mid, ok := strings.CutPrefix(name, s.cfg.Prefix+"-")
	if !ok {
		return "", "", false, false
	}
	mid, ok = strings.CutSuffix(mid, s.cfg.Suffix)
	if !ok || len(mid) != len(timeLayout)+1+seqDigits || mid[len(timeLayout)] != '-' {
		return "", "", false, false
	}
	if _, err := time.Parse(timeLayout, mid[:len(timeLayout)]); err != nil {
		return "", "", false, false
	}
	if _, err := strconv.Atoi(mid[len(timeLayout)+1:]); err != nil {
		return "", "", false, false
	}
	return name, owner, inProgress, true
}

// isOwner reports whether s has the form of an owner mark.
func isOwner(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// noteName remembers the greatest name in use, so new names sort after it
// even if the clock went back.
func (s *Sink) noteName(name string) {
	mid := strings.TrimSuffix(strings.TrimPrefix(name, s.cfg.Prefix+"-"), s.cfg.Suffix)
	ts := mid[:len(timeLayout)]
	seq, _ := strconv.Atoi(mid[len(timeLayout)+1:])
	if ts > s.lastTS || (ts == s.lastTS && seq > s.lastSeq) {
		s.lastTS, s.lastSeq = ts, seq
	}
}

// recover finalises an in-progress file left by a crash: everything up to
// its last newline was durably written by a Write that returned nil.
func (s *Sink) recover(name string) error {
	path := filepath.Join(s.dir, s.inProgressName(name))
	final := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("recovering in-progress file: %w", err)
	}
	size, keep, err := lastLineEnd(f)
	if err == nil && keep == 0 {
		err = f.Close()
		if err == nil {
			err = os.Remove(path)
		}
		if err != nil {
			return fmt.Errorf("removing in-progress file %s without a complete line: %w", path, err)
		}
		s.log.Info("removed an in-progress file without a complete line", "file", path, "bytes", size)
		return nil
	}
	if err == nil {
		if _, serr := os.Lstat(final); serr == nil {
			err = fmt.Errorf("%s already exists", final)
		}
	}
	if err == nil && keep < size {
		err = f.Truncate(keep)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.Rename(path, final)
	}
	if err != nil {
		return fmt.Errorf("recovering in-progress file %s: %w", path, err)
	}
	s.log.Info("recovered an in-progress file", "file", final, "bytes", keep, "cut", size-keep)
	return nil
}

// lastLineEnd returns f's size and the offset just after its last newline
// (0 if it has none), reading backwards in chunks.
func lastLineEnd(f *os.File) (size, end int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = fi.Size()
	buf := make([]byte, 64<<10)
	for off := size; off > 0; {
		n := min(int64(len(buf)), off)
		off -= n
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return 0, 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return size, off + int64(i) + 1, nil
		}
	}
	return size, 0, nil
}

// nextName returns a new final name, after every name used so far.
func (s *Sink) nextName(now time.Time) string {
	ts := now.UTC().Format(timeLayout)
	if ts > s.lastTS {
		s.lastTS, s.lastSeq = ts, 0
	} else {
		s.lastSeq++
	}
	return fmt.Sprintf("%s-%s-%0*d%s", s.cfg.Prefix, s.lastTS, seqDigits, s.lastSeq, s.cfg.Suffix)
}

// create starts a new in-progress file. Names already taken (by another
// process) are skipped.
func (s *Sink) create() error {
	for range 100 {
		now := time.Now()
		name := s.nextName(now)
		if _, err := os.Lstat(filepath.Join(s.dir, name)); err == nil {
			continue
		}
		path := filepath.Join(s.dir, s.inProgressName(name))
		f, err := s.openFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("creating file: %w", err)
		}
		// A Write returning nil acknowledges records in this file, so its
		// directory entry must survive a crash too.
		if err := durable.SyncDir(s.dir); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("creating file: %w", err)
		}
		s.f, s.name, s.size, s.created = f, name, 0, now
		if s.cfg.MaxAge > 0 {
			s.timer = time.AfterFunc(s.cfg.MaxAge, func() { s.rollAfterAge(f) })
		}
		return nil
	}
	return fmt.Errorf("creating file in %s: no free name after 100 attempts", s.dir)
}

// rollAfterAge rolls f when max_age has passed and it is still current.
func (s *Sink) rollAfterAge(f *os.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != f {
		return
	}
	if err := s.roll(); err != nil {
		s.log.Error("rolling file after max_age", "err", err)
	}
}

// roll finalises the current file: fsync, close, rename, fsync the
// directory. An empty file is removed.
func (s *Sink) roll() error {
	f, name := s.f, s.name
	if f == nil {
		return nil
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.f = nil
	tmp := filepath.Join(s.dir, s.inProgressName(name))
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && s.size == 0 {
		if err := os.Remove(tmp); err != nil {
			return fmt.Errorf("removing empty file: %w", err)
		}
		return nil
	}
	if err == nil {
		err = durable.Rename(tmp, filepath.Join(s.dir, name))
	}
	if err != nil {
		return fmt.Errorf("finalising %s: %w", filepath.Join(s.dir, name), err)
	}
	return nil
}

// Write appends one line per record to the current file, rolling when it
// would pass max_size or is older than max_age, and fsyncs before
// returning nil. It keeps no record bytes.
func (s *Sink) Write(_ context.Context, recs []runtime.Record) error {
	if len(recs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		if cap(s.buf) > keepBuffer {
			s.buf = nil
		}
	}()
	if s.f != nil && s.cfg.MaxAge > 0 && time.Since(s.created) >= s.cfg.MaxAge {
		if err := s.roll(); err != nil {
			return err
		}
	}
	first := 0 // first record not yet in a finalised file
	var written int64
	s.buf = s.buf[:0]
	fail := func(err error) error {
		s.abort()
		if first == 0 {
			return err
		}
		be := &runtime.BatchError{}
		for i := first; i < len(recs); i++ {
			be.Failed = append(be.Failed, i)
			be.Errs = append(be.Errs, err)
		}
		return be
	}
	for i := range recs {
		start := len(s.buf)
		s.buf = lines.Append(s.buf, &recs[i], s.format)
		n := int64(len(s.buf) - start)
		if s.f == nil {
			if err := s.create(); err != nil {
				return fail(err)
			}
		}
		if s.size+written+int64(start)+n > int64(s.cfg.MaxSize) && s.size+written+int64(start) > 0 {
			// Flush the lines before this one, finalise, start anew.
			if err := s.writeBuf(s.buf[:start]); err != nil {
				return fail(err)
			}
			s.size += written + int64(start)
			written = 0
			if err := s.roll(); err != nil {
				return fail(err)
			}
			first = i
			s.buf = append(s.buf[:0], s.buf[start:]...)
			if err := s.create(); err != nil {
				return fail(err)
			}
			continue
		}
		if len(s.buf) >= writeChunk {
			if err := s.writeBuf(s.buf); err != nil {
				return fail(err)
			}
			written += int64(len(s.buf))
			s.buf = s.buf[:0]
		}
	}
	if err := s.writeBuf(s.buf); err != nil {
		return fail(err)
	}
	written += int64(len(s.buf))
	if err := s.f.Sync(); err != nil {
		return fail(fmt.Errorf("syncing %s: %w", s.f.Name(), err))
	}
	s.size += written
	return nil
}

func (s *Sink) writeBuf(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", s.f.Name(), err)
	}
	return nil
}

// abort undoes the unsynced part of the current file after a failed Write:
// it truncates the file to its durable size. If that fails too, the file
// is closed and left in progress, for the next Open to recover.
func (s *Sink) abort() {
	if s.f == nil {
		return
	}
	err := s.f.Truncate(s.size)
	if err == nil {
		_, err = s.f.Seek(s.size, io.SeekStart)
	}
	if err == nil {
		return
	}
	s.log.Error("truncating a file after a failed write; leaving it for recovery", "file", s.f.Name(), "err", err)
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if cerr := s.f.Close(); cerr != nil {
		s.log.Error("closing file", "file", s.f.Name(), "err", cerr)
	}
	s.f = nil
}

// Close finalises the current file.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roll()
}
