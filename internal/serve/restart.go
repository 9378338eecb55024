package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/internal/durable"
	"github.com/wasmstream/wasmstream/runtime"
)

// record is a pipeline's deployment as the server keeps it on disk, in
// <data_dir>/tenants/T/deployments/P.json, rewritten (durably) when the
// pipeline is deployed, stopped, swapped or ends, and removed when it is
// deleted. Restore reads them back when the server starts.
type record struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	// File is the pipeline file as the tenant submitted it.
	File string `json:"file"`
	// Run: the pipeline is meant to run. It is set when the pipeline is
	// deployed and cleared when a user stops it or it ends cleanly by
	// itself (a bounded source finished); a failure leaves it set, and a
	// server shutdown does not touch it.
	Run bool `json:"run"`
	// Modules is, per operator of File (in order), the name of the
	// tenant's module in force: the one File names, or the one a swap
	// put in its place. File itself is kept as submitted.
	Modules []string `json:"modules"`
	// Swaps is the pipeline's swap history.
	Swaps []SwapRecord `json:"swaps"`
	// Error is why the pipeline failed, when it did.
	Error string `json:"error,omitempty"`
}

func (s *Server) recordPath(tenant, name string) string {
	return filepath.Join(s.tenantDir(tenant), "deployments", name+".json")
}

// persistLocked writes d's record. s.mu is held.
func (s *Server) persistLocked(d *deployed) error {
	rec := record{Tenant: d.tenant, Name: d.name, File: d.spec, Run: d.run, Modules: slices.Clone(d.modules), Swaps: slices.Clone(d.swaps)}
	if d.err != nil { // set once Run has returned
		rec.Error = d.err.Error()
	}
	if rec.Swaps == nil {
		rec.Swaps = []SwapRecord{}
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	path := s.recordPath(d.tenant, d.name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(path, b, 0o600)
}

// persist writes d's record, unless another deploy has replaced d
// meanwhile, logging a failure (the pipeline runs on; only a restart
// would miss the change).
func (s *Server) persist(d *deployed) {
	s.mu.Lock()
	var err error
	if s.pipelines[key(d.tenant, d.name)] == d {
		err = s.persistLocked(d)
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Error("writing the pipeline's deployment", "tenant", d.tenant, "pipeline", d.name, "err", err)
	}
}

// Restore brings back, after a server start, every pipeline the data
// directory records: those meant to run (deployed and neither stopped by
// a user nor ended cleanly; a failed one too) are deployed again through
// the checks of Deploy, with the modules in force after their swaps
// (resolved by name, as a deploy does: a module uploaded again under the
// same name runs its new bytes) and their swap history; their keyed
// state and source positions are recovered from the last checkpoint in
// their data directory. Stopped pipelines come back listed as stopped.
// A pipeline that cannot be restored (its module is gone, its file no
// longer passes, a quota refuses it, its record does not read) is listed
// as failed with the reason; the others run. Restore returns an error
// only when the data directory cannot be read. Call it once, after New
// and before serving.
func (s *Server) Restore(ctx context.Context) error {
	s.mu.Lock()
	if s.restoreDone {
		s.mu.Unlock()
		return errors.New("serve: Restore was called already")
	}
	s.restoreDone = true
	tenants := make([]string, 0, len(s.tenants))
	for name := range s.tenants {
		tenants = append(tenants, name)
	}
	s.mu.Unlock()
	sort.Strings(tenants)
	type item struct {
		rec record
		err error
	}
	var run []item
	restored, stopped, failed := 0, 0, 0
	for _, tenant := range tenants {
		dir := filepath.Join(s.tenantDir(tenant), "deployments")
		ents, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("serve: restoring tenant %s's pipelines: %w", tenant, err)
		}
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), ".json")
			if !ok || e.IsDir() || !namePattern.MatchString(name) {
				continue // a leftover temporary file, or not ours
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			var rec record
			if err == nil {
				err = json.Unmarshal(b, &rec)
			}
			if err == nil && (rec.Tenant != tenant || rec.Name != name) {
				err = fmt.Errorf("it names pipeline %s/%s", rec.Tenant, rec.Name)
			}
			if err != nil {
				// Kept on disk: a redeploy or a delete replaces it.
				s.broken(record{Tenant: tenant, Name: name}, fmt.Errorf("restoring after the server restarted: the stored deployment %s does not read: %v", filepath.Join(dir, e.Name()), err))
				failed++
				continue
			}
			if !rec.Run {
				s.restoreStopped(rec)
				stopped++
				continue
			}
			run = append(run, item{rec: rec})
		}
	}
	// The stopped pipelines are in place first: they count against the
	// pipelines quota of the ones restarted.
	for _, it := range run {
		rec := it.rec
		opts := deployOptions{modules: rec.Modules, swaps: rec.Swaps, restored: true, previousError: rec.Error}
		if _, err := s.deploy(ctx, rec.Tenant, rec.Name, []byte(rec.File), opts); err != nil {
			s.broken(rec, fmt.Errorf("restoring after the server restarted: %w", err))
			failed++
			continue
		}
		restored++
	}
	s.log.Info("pipelines restored", "running", restored, "stopped", stopped, "failed", failed)
	return nil
}

// restoreStopped lists rec's pipeline as stopped, with its graph when its
// file still passes (nothing is built or run).
func (s *Server) restoreStopped(rec record) {
	d := s.placeholder(rec.Tenant, rec.Name, rec.File, rec.Swaps, nil)
	d.modules = slices.Clone(rec.Modules)
	if rec.Error != "" {
		d.err = errors.New(rec.Error)
	}
	if t, err := s.tenant(rec.Tenant); err == nil {
		dataDir := filepath.Join(s.tenantDir(rec.Tenant), "pipelines", rec.Name)
		if out, modules, err := s.rewrite(t, rec.Name, dataDir, []byte(rec.File), rec.Modules); err == nil {
			if spec, err := runtime.Parse(out, s.cfg.Registry); err == nil {
				d.graph = s.graph(t, spec, modules)
				if n, err := s.check(t, spec); err == nil {
					d.instances = n
				}
			}
		}
	}
	s.mu.Lock()
	s.pipelines[key(rec.Tenant, rec.Name)] = d
	s.mu.Unlock()
}

// broken lists rec's pipeline, which could not be restored, as failed
// with err. Its record stays as it was: the next start tries again,
// unless it is deployed again, stopped or deleted meanwhile.
func (s *Server) broken(rec record, err error) {
	s.log.Error("pipeline not restored", "tenant", rec.Tenant, "pipeline", rec.Name, "err", err)
	d := s.placeholder(rec.Tenant, rec.Name, rec.File, rec.Swaps, err)
	d.run, d.modules, d.previousError = true, slices.Clone(rec.Modules), rec.Error
	s.mu.Lock()
	s.pipelines[key(rec.Tenant, rec.Name)] = d
	s.mu.Unlock()
}

// placeholder is a pipeline that is listed but does not run: its figures
// are zeros and it has no query server.
func (s *Server) placeholder(tenant, name, file string, swaps []SwapRecord, err error) *deployed {
	done := make(chan struct{})
	close(done)
	return &deployed{tenant: tenant, name: name, spec: file, p: &runtime.Pipeline{}, started: time.Now().UTC(), cancel: func() {}, done: done,
		err: err, swaps: slices.Clone(swaps), restored: true}
}
