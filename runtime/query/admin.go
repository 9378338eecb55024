package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
	"github.com/wasmstream/wasmstream/runtime/state"
)

// stopped is a pipeline that is not running: its store, opened directly
// from the data directory, holds exactly the last checkpoint.
type stopped struct {
	spec  *runtime.Spec
	store *state.Store
}

// Stopped returns a Pipeline over a store the caller opened from the data
// directory of spec while the pipeline is not running (state.Open on
// <data_dir>/state). Reads see the last checkpoint whatever the
// consistency asked for, since nothing was written after it; a savepoint
// copies it. The caller closes the store after the Server.
func Stopped(spec *runtime.Spec, store *state.Store) Pipeline { return stopped{spec, store} }

func (p stopped) Spec() *runtime.Spec                { return p.spec }
func (p stopped) Stateful() bool                     { return true }
func (p stopped) Stats() runtime.Stats               { return runtime.Stats{} }
func (p stopped) Store(context.Context) *state.Store { return p.store }
func (p stopped) Savepoint(_ context.Context, dir string) (state.Meta, error) {
	if p.store.LastCheckpoint().ID == 0 {
		return state.Meta{}, &notFound{"the store has no checkpoint to copy yet"}
	}
	meta, wait, err := p.store.Savepoint(dir)
	if err != nil {
		return state.Meta{}, err
	}
	return meta, wait()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func metaDoc(m state.Meta) doc {
	d := doc{"id": m.ID, "entries": m.Keys}
	if !m.Time.IsZero() {
		d["time"] = m.Time.UTC().Format(time.RFC3339Nano)
	}
	return d
}

// handleStatus answers GET /v1/status.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	spec := s.p.Spec()
	d := doc{"pipeline": spec.Name, "data_dir": s.dataDir, "running": s.running, "stateful": s.p.Stateful()}
	if s.running {
		st := s.p.Stats()
		d["records_in"], d["records_out"], d["dead_lettered"] = st.RecordsIn, st.RecordsOut, st.DeadLettered
		d["checkpoints_taken"] = st.Checkpoints
		ops := make([]any, len(st.Operators))
		for i, o := range st.Operators {
			ops[i] = doc{"name": o.Name, "records_in": o.RecordsIn, "records_out": o.RecordsOut, "failures": o.Failures}
		}
		d["operators"] = ops
	}
	s.mu.RLock()
	d["store"] = s.phase.String()
	if s.phase == phaseOpen {
		stats := s.store.Stats()
		if stats.LastCheckpoint.ID > 0 {
			d["last_checkpoint"] = metaDoc(stats.LastCheckpoint)
		}
		d["cache"] = doc{"write_bytes": stats.DirtyBytes, "read_bytes": stats.CleanBytes}
		// As verified when each was written: a status request reads no
		// checkpoint file.
		metas := s.store.Retained()
		list := make([]any, len(metas))
		for i, m := range metas {
			list[i] = metaDoc(m)
		}
		d["retained_checkpoints"] = list
	}
	s.mu.RUnlock()
	writeDoc(w, r, http.StatusOK, d)
}

// handleSavepoint answers POST /v1/savepoints: {"dir": "..."} (optional;
// relative to the data directory) takes a checkpoint at the pipeline's
// next read boundary and copies it there. The server is unauthenticated:
// dir must lie under the data directory or the configured savepoint
// directory (state.savepoint_dir, WithSavepointDir).
func (s *Server) handleSavepoint(w http.ResponseWriter, r *http.Request) {
	if !s.p.Stateful() {
		writeError(w, r, http.StatusNotFound, "pipeline %s keeps no state", s.p.Spec().Name)
		return
	}
	var req struct {
		Dir string `json:"dir"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, r, http.StatusBadRequest, "the body must be JSON like {\"dir\": \"/path\"} or empty: %v", err)
		return
	}
	dir := req.Dir
	switch {
	case dir == "":
		dir = filepath.Join(s.savepDir, time.Now().UTC().Format("20060102T150405.000Z"))
	case !filepath.IsAbs(dir):
		dir = filepath.Join(s.dataDir, dir)
	}
	if err := s.allowedSavepoint(dir); err != nil {
		writeError(w, r, http.StatusForbidden, "%v", err)
		return
	}
	if _, err := os.Stat(dir); err == nil {
		writeError(w, r, http.StatusConflict, "%s already exists: a savepoint needs a new directory", dir)
		return
	}
	s.mu.RLock()
	ph := s.phase
	s.mu.RUnlock()
	if ph == phaseStopped {
		writeError(w, r, http.StatusServiceUnavailable, "the pipeline has stopped")
		return
	}
	// The request gives up when its client does or the pipeline stops.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	meta, err := s.p.Savepoint(ctx, dir)
	switch {
	case errors.Is(err, runtime.ErrNoState):
		writeError(w, r, http.StatusNotFound, "pipeline %s keeps no state", s.p.Spec().Name)
		return
	case err != nil && s.ctx.Err() != nil:
		writeError(w, r, http.StatusServiceUnavailable, "the pipeline stopped before it could take the savepoint")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	d := metaDoc(meta)
	d["dir"], d["pipeline"] = dir, s.p.Spec().Name
	writeDoc(w, r, http.StatusCreated, doc{"savepoint": d})
}

// allowedSavepoint checks that dir lies under the data directory,
// state.savepoint_dir or the server's default savepoint directory.
func (s *Server) allowedSavepoint(dir string) error {
	return allowedUnder(dir, s.dataDir, s.savepointRoots())
}

func (s *Server) savepointRoots() []string {
	roots := []string{s.dataDir, s.savepDir}
	if d := s.p.Spec().State.SavepointDir; d != "" {
		roots = append(roots, d)
	}
	return roots
}

// SavepointAllowed reports whether a savepoint request may write to dir:
// only directories strictly under spec's data directory or
// state.savepoint_dir are accepted (the query server is unauthenticated),
// after resolving symbolic links in the part of dir that exists.
func SavepointAllowed(spec *runtime.Spec, dir string) error {
	roots := []string{spec.DataDir}
	if spec.State.SavepointDir != "" {
		roots = append(roots, spec.State.SavepointDir)
	}
	return allowedUnder(dir, spec.DataDir, roots)
}

func allowedUnder(dir, dataDir string, roots []string) error {
	target, err := resolveExisting(dir)
	if err != nil {
		return fmt.Errorf("savepoint directory %s: %v", dir, err)
	}
	for _, root := range roots {
		r, err := resolveExisting(root)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, target); err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("savepoint directory %s is outside the data directory %s and state.savepoint_dir: savepoints are written only under them", dir, dataDir)
}

// resolveExisting makes path absolute and resolves symbolic links in its
// longest existing prefix, keeping the rest as written.
func resolveExisting(path string) (string, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(append([]string{p}, rest...)...), nil
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = parent
	}
}
