package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"github.com/wasmstream/wasmstream/runtime/internal/confyaml"
)

// Prober is implemented by an OperatorFactory that can try its operator
// without running the pipeline: a Wasm operator runs its module's init with
// the configured params in a throwaway instance. Probe must leave nothing
// behind. A *FieldError in the error points at a setting.
type Prober interface {
	Probe(ctx context.Context, env OperatorEnv) error
}

// Check reads the pipeline file at path and reports, in one *ConfigError,
// everything wrong with it that can be known without running it: every
// setting, duplicate operator names, files and directories that must exist
// (path:"file" and path:"dir" settings), and every component built, which
// for a Wasm operator means its module loaded and ABI-checked and its init
// run with its params (see Prober). Each problem has the file, its line and
// the setting's path. It returns the spec when there is no problem.
func Check(ctx context.Context, path string, reg *Registry) (*Spec, error) {
	s, probs, err := load(path, reg)
	if err != nil {
		return nil, err
	}
	if s != nil {
		checkComponents(ctx, s, probs)
	}
	if err := probs.Err(); err != nil {
		err.(*ConfigError).File = path
		return nil, err
	}
	return s, nil
}

// checkComponents adds the problems found by checking paths, building and
// probing each component of s.
func checkComponents(ctx context.Context, s *Spec, probs *confyaml.Problems) {
	var comps []*ComponentSpec
	for _, c := range []*ComponentSpec{s.Source, s.Sink, s.DeadLetter} {
		if c != nil {
			comps = append(comps, c)
		}
	}
	names := make([]string, 0, len(s.Outputs))
	for name := range s.Outputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		comps = append(comps, s.Outputs[name])
	}
	comps = append(comps, s.Operators...)
	for _, c := range s.rejected {
		checkPaths(c, probs)
	}
	for _, c := range comps {
		if !checkPaths(c, probs) {
			continue
		}
		built, err := c.comp.build(c.Config)
		if err != nil {
			confyaml.AddError(err, c.node, c.Path, probs)
			continue
		}
		f, ok := built.(OperatorFactory)
		if !ok {
			continue
		}
		if p, ok := f.(Prober); ok {
			par := 1
			if oc, ok := c.Config.(operatorConfig); ok {
				par = oc.operatorSettings().Parallelism
			}
			env := OperatorEnv{
				Env:      Env{Pipeline: s.Name, Component: c.Path, Logger: slog.New(slog.DiscardHandler), BatchSize: s.Batch.Size},
				Operator: c.Label, Parallelism: par, KeyGroups: s.KeyGroups, Outputs: names,
			}
			if err := p.Probe(ctx, env); err != nil {
				confyaml.AddError(err, c.node, c.Path, probs)
			}
		}
		if err := f.Close(ctx); err != nil {
			confyaml.AddError(fmt.Errorf("closing: %w", err), c.node, c.Path, probs)
		}
	}
}

// checkPaths adds a problem for each path:"file" or path:"dir" setting of c
// that does not name an existing file or directory, and reports whether
// there was none.
func checkPaths(c *ComponentSpec, probs *confyaml.Problems) bool {
	ok := true
	for _, p := range c.paths {
		if *p.Value == "" || (p.Kind != "file" && p.Kind != "dir") {
			continue
		}
		fi, err := os.Stat(*p.Value)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			probs.Add(p.Path, p.Node, "%s does not exist%s", *p.Value, suggestSibling(*p.Value, p.Kind))
		case err != nil:
			probs.Add(p.Path, p.Node, "%v", err)
		case p.Kind == "file" && fi.IsDir():
			probs.Add(p.Path, p.Node, "%s is a directory, want a file", *p.Value)
		case p.Kind == "dir" && !fi.IsDir():
			probs.Add(p.Path, p.Node, "%s is not a directory", *p.Value)
		default:
			continue
		}
		ok = false
	}
	return ok
}

// suggestSibling returns ` (did you mean "dir/x"?)` for the entry of
// missing's directory whose name is closest to missing's, of the same kind,
// or "" when none is close.
func suggestSibling(missing, kind string) string {
	dir, base := filepath.Split(missing)
	entries, err := os.ReadDir(filepath.Clean(dir + "."))
	if err != nil {
		return fmt.Sprintf(" (nor does its directory %s)", filepath.Clean(dir+"."))
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() == (kind == "dir") {
			names = append(names, e.Name())
		}
	}
	var name string
	if _, err := fmt.Sscanf(confyaml.Suggest(base, names), " (did you mean %q?)", &name); err != nil {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", filepath.Join(dir, name))
}
