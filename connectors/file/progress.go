package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/wasmstream/wasmstream/internal/durable"
)

// progressName is the source's progress file in its data directory.
const progressName = "progress.json"

// progressVersion is the version of the progress file layout.
const progressVersion = 1

// fileID identifies a file's contents: in directory mode a file with the
// same path but another size or modification time is a new file.
type fileID struct {
	path    string
	size    int64
	mtimeNS int64
}

// span is the part of a file one batch covers, [previous end, end).
type span struct {
	end     int64 // byte offset after the batch
	endLine int64 // lines consumed after the batch
	partial int64 // bytes of an unterminated last line emitted after end
	state   spanState
}

type spanState uint8

const (
	spanPending spanState = iota
	spanAcked
	spanNacked
)

// fileProgress is what is known of one file: the committed position (the
// end of the longest prefix of batches all acknowledged) and the batches
// read beyond it.
type fileProgress struct {
	id      fileID
	node    node  // the file's device and inode, zero when unknown
	offset  int64 // committed byte offset
	line    int64 // committed line count
	partial int64 // bytes of an unterminated last line emitted after offset
	done    bool  // read to the end and everything acknowledged
	readAll bool  // the reader reached the end this run
	pending []*span
}

// tracker holds the progress of every file and persists it. Its methods
// are safe for concurrent use: acks arrive from any goroutine.
type tracker struct {
	path string // the progress file

	mu     sync.Mutex
	files  map[string]*fileProgress // by path
	dirty  bool
	closed bool

	// saves wakes the saver when something changed; its buffer of one
	// coalesces the changes made while a write is in flight.
	saves   chan struct{}
	writeMu sync.Mutex   // serialises writes of the progress file
	writes  atomic.Int64 // progress files written
}

// newTracker returns an empty tracker saving to the progress file in dir.
func newTracker(dir string) *tracker {
	return &tracker{path: filepath.Join(dir, progressName), files: map[string]*fileProgress{}, saves: make(chan struct{}, 1)}
}

// changed marks the progress as not saved yet and wakes the saver. t.mu
// must be held.
func (t *tracker) changed() {
	t.dirty = true
	select {
	case t.saves <- struct{}{}:
	default: // a save is already due: it will take this change too
	}
}

// progressFile is the persisted form.
type progressFile struct {
	Version int             `json:"version"`
	Files   []progressEntry `json:"files"`
}

type progressEntry struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	MtimeNS int64  `json:"mtime_ns"`
	Offset  int64  `json:"offset"`
	Line    int64  `json:"line"`
	Partial int64  `json:"partial,omitempty"`
	Dev     uint64 `json:"dev,omitempty"`
	Ino     uint64 `json:"ino,omitempty"`
	Done    bool   `json:"done,omitempty"`
}

// loadTracker reads the progress file in dir, creating dir if needed. A
// missing file is an empty progress; a corrupt one is an error naming it.
func loadTracker(dir string) (*tracker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	t := newTracker(dir)
	b, err := os.ReadFile(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading progress file: %w", err)
	}
	if err := t.load(b, "reading progress file "+t.path); err != nil {
		return nil, err
	}
	return t, nil
}

// trackerAt starts from a checkpointed position (empty: from the start)
// instead of the progress file, which it then keeps up to date as usual.
func trackerAt(dir string, pos []byte) (*tracker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	t := newTracker(dir)
	t.changed()
	if len(pos) == 0 {
		return t, nil
	}
	if err := t.load(pos, "reading the checkpointed position"); err != nil {
		return nil, err
	}
	return t, nil
}

// load reads the persisted form into t.
func (t *tracker) load(b []byte, what string) error {
	var pf progressFile
	if err := json.Unmarshal(b, &pf); err != nil {
		return fmt.Errorf("%s: corrupt (%v); delete it to read every file again from the start", what, err)
	}
	if pf.Version != progressVersion {
		return fmt.Errorf("%s: version %d, want %d", what, pf.Version, progressVersion)
	}
	for i, e := range pf.Files {
		if e.Path == "" || e.Offset < 0 || e.Line < 0 || e.Size < 0 || e.Partial < 0 {
			return fmt.Errorf("%s: corrupt entry %d", what, i)
		}
		t.files[e.Path] = &fileProgress{
			id:     fileID{path: e.Path, size: e.Size, mtimeNS: e.MtimeNS},
			node:   node{dev: e.Dev, ino: e.Ino},
			offset: e.Offset, line: e.Line, partial: e.Partial, done: e.Done,
		}
	}
	return nil
}

// committed is a consistent copy of what is known of a file.
type committed struct {
	id      fileID
	node    node
	offset  int64
	line    int64
	partial int64
	done    bool
}

// lookup returns what is known of path; ok is false when nothing is.
func (t *tracker) lookup(path string) (c committed, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fp := t.files[path]
	if fp == nil {
		return committed{}, false
	}
	return committed{id: fp.id, node: fp.node, offset: fp.offset, line: fp.line, partial: fp.partial, done: fp.done}, true
}

// begin starts reading id (the file n) from offset (line lines in, partial
// bytes of an unterminated line already emitted after it), replacing what
// was known of its path.
func (t *tracker) begin(id fileID, n node, offset, line, partial int64) *fileProgress {
	t.mu.Lock()
	defer t.mu.Unlock()
	fp := &fileProgress{id: id, node: n, offset: offset, line: line, partial: partial}
	t.files[id.path] = fp
	t.changed()
	return fp
}

// add records a batch of fp that ends at end. A batch without records
// (every line skipped) is acknowledged at once.
func (t *tracker) add(fp *fileProgress, end, endLine, partial int64, records int) *span {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := &span{end: end, endLine: endLine, partial: partial}
	fp.pending = append(fp.pending, sp)
	if records == 0 {
		sp.state = spanAcked
		t.advance(fp)
	}
	return sp
}

// finish records that fp was read to its end.
func (t *tracker) finish(fp *fileProgress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fp.readAll = true
	t.advance(fp)
}

// ack settles a batch. A nacked batch is never committed: it blocks the
// file's committed offset until a restart re-reads it.
func (t *tracker) ack(fp *fileProgress, sp *span, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || sp.state != spanPending {
		return
	}
	if err != nil {
		sp.state = spanNacked
		return
	}
	sp.state = spanAcked
	t.advance(fp)
}

// advance moves fp's committed position over acknowledged batches.
func (t *tracker) advance(fp *fileProgress) {
	n := 0
	for n < len(fp.pending) && fp.pending[n].state == spanAcked {
		fp.offset, fp.line, fp.partial = fp.pending[n].end, fp.pending[n].endLine, fp.pending[n].partial
		n++
	}
	if n > 0 {
		fp.pending = fp.pending[n:]
		t.changed()
	}
	if fp.readAll && len(fp.pending) == 0 && !fp.done {
		fp.done = true
		t.changed()
	}
}

// prune forgets files that are no longer listed and not being read, so the
// progress file holds only files still present.
func (t *tracker) prune(listed map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, fp := range t.files {
		if !listed[p] && len(fp.pending) == 0 {
			delete(t.files, p)
			t.changed()
		}
	}
}

// snapshot returns the persisted form if it changed since the last one.
func (t *tracker) snapshot(force bool) (*progressFile, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.dirty && !force {
		return nil, false
	}
	t.dirty = false
	return t.entries(), true
}

// entries returns the persisted form. t.mu must be held.
func (t *tracker) entries() *progressFile {
	pf := &progressFile{Version: progressVersion, Files: make([]progressEntry, 0, len(t.files))}
	for _, fp := range t.files {
		pf.Files = append(pf.Files, progressEntry{
			Path: fp.id.path, Size: fp.id.size, MtimeNS: fp.id.mtimeNS,
			Offset: fp.offset, Line: fp.line, Partial: fp.partial,
			Dev: fp.node.dev, Ino: fp.node.ino, Done: fp.done,
		})
	}
	sort.Slice(pf.Files, func(i, j int) bool { return pf.Files[i].Path < pf.Files[j].Path })
	return pf
}

// position returns the committed progress, encoded as the progress file
// is, for a pipeline checkpoint.
func (t *tracker) position() ([]byte, error) {
	t.mu.Lock()
	pf := t.entries()
	t.mu.Unlock()
	return json.Marshal(pf)
}

// flush writes the progress file if it changed. On failure the progress
// stays dirty so the next flush tries again.
func (t *tracker) flush() error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	pf, changed := t.snapshot(false)
	if !changed {
		return nil
	}
	if err := writeAtomic(t.path, pf); err != nil {
		t.mu.Lock()
		t.dirty = true
		t.mu.Unlock()
		return err
	}
	t.writes.Add(1)
	return nil
}

// close flushes for the last time; later acks are ignored.
func (t *tracker) close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	return t.flush()
}

// writeAtomic replaces path with v as JSON through durable.WriteFile
// (temporary file, fsync, rename, fsync of the directory), so a crash
// leaves either the old or the new contents.
func writeAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := durable.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing progress file: %w", err)
	}
	return nil
}
