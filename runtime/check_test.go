package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// pathConfig has a setting of each path kind and a Validate.
type pathConfig struct {
	File  string `yaml:"file" path:"file"`
	Dir   string `yaml:"dir" path:"dir"`
	Out   string `yaml:"out" path:"any"`
	Count int    `yaml:"count" default:"1"`
}

func (c *pathConfig) Validate() error {
	var errs []error
	if c.Count < 1 {
		errs = append(errs, runtime.FieldErr("count", "must be at least 1"))
	}
	if c.Out == "" {
		errs = append(errs, runtime.FieldErr("out", "required by Validate"))
	}
	return errors.Join(errs...)
}

type probeConfig struct {
	runtime.OperatorSettings `yaml:",inline"`
	Fail                     bool `yaml:"fail"`
	Build                    bool `yaml:"build" default:"true"`
}

// probeFactory fails its Probe when told to.
type probeFactory struct {
	funcFactory
	fail bool
}

func (f *probeFactory) Probe(ctx context.Context, env runtime.OperatorEnv) error {
	if f.fail {
		return runtime.FieldErr("fail", "probe of %s failed", env.Operator)
	}
	return nil
}

var gotConfig *pathConfig

func checkRegistry() *runtime.Registry {
	r := testRegistry(nil)
	runtime.AddSource(r, "paths", "path settings", func(c *pathConfig) (runtime.Source, error) {
		gotConfig = c
		return &memSource{}, nil
	})
	runtime.AddOperator(r, "probe", "a Prober", func(c *probeConfig) (runtime.OperatorFactory, error) {
		if !c.Build {
			return nil, errors.New("cannot build")
		}
		return &probeFactory{fail: c.Fail}, nil
	})
	return r
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckOnePass guards issue #9: a config's Validate runs although other
// settings have problems (once per field), files that must exist are
// checked, build and probe errors are reported, all in one *ConfigError
// with lines and field paths.
func TestCheckOnePass(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "in.txt"), "x")
	p := filepath.Join(dir, "p.yaml")
	writeTestFile(t, p, `pipeline: check
source:
  paths: {file: inn.txt, dir: in.txt, count: many, bogus: 1}
operators:
  - name: a
    probe: {fail: true}
  - name: a
    probe: {build: false}
  - probe: {}
sink: {test: {}}
`)
	_, err := runtime.Check(t.Context(), p, checkRegistry())
	var ce *runtime.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want *ConfigError", err)
	}
	tests := []struct {
		mistake string
		want    string
	}{
		{"unknown field", `line 3: source.paths.bogus: unknown field`},
		{"a value that does not decode, not repeated by Validate", `line 3: source.paths.count: want an integer, found "many"`},
		{"Validate although other fields have problems", `line 3: source.paths.out: required by Validate`},
		{"a missing file with a did-you-mean", `line 3: source.paths.file: ` + filepath.Join(dir, "inn.txt") + ` does not exist (did you mean "` + filepath.Join(dir, "in.txt") + `"?)`},
		{"a file where a directory must be", `line 3: source.paths.dir: ` + filepath.Join(dir, "in.txt") + ` is not a directory`},
		{"a probe failure at its field", `line 6: operators[0].probe.fail: probe of a failed`},
		{"a duplicate name", `line 7: operators[1].name: "a" is already the name of operators[0]`},
		{"a build failure", `line 8: operators[1].probe: cannot build`},
	}
	var got []string
	for _, pr := range ce.Problems {
		got = append(got, pr.String())
	}
	if len(got) != len(tests) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(tests), strings.Join(got, "\n"))
	}
	for _, tt := range tests {
		t.Run(tt.mistake, func(t *testing.T) {
			for _, g := range got {
				if strings.HasPrefix(g, tt.want) {
					return
				}
			}
			t.Errorf("no problem %q in:\n%s", tt.want, strings.Join(got, "\n"))
		})
	}
}

// TestLoadResolvesPaths guards issue #9: Load resolves relative path
// settings against the pipeline file's directory (absolute ones stay);
// Parse, which has no file, leaves them relative to the working directory.
func TestLoadResolvesPaths(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(t.TempDir(), "elsewhere")
	body := "pipeline: paths\ndata_dir: d\nsource: {paths: {file: in.txt, dir: sub/dir, out: " + abs + "}}\nsink: {test: {}}\n"
	p := filepath.Join(dir, "p.yaml")
	writeTestFile(t, p, body)
	tests := []struct {
		name                    string
		load                    func() (*runtime.Spec, error)
		file, subdir, out, data string
	}{
		{"Load", func() (*runtime.Spec, error) { return runtime.Load(p, checkRegistry()) },
			filepath.Join(dir, "in.txt"), filepath.Join(dir, "sub", "dir"), abs, filepath.Join(dir, "d")},
		{"Parse", func() (*runtime.Spec, error) { return runtime.Parse([]byte(body), checkRegistry()) },
			"in.txt", "sub/dir", abs, "d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.load()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := runtime.Build(s); err != nil {
				t.Fatal(err)
			}
			if gotConfig.File != tt.file || gotConfig.Dir != tt.subdir || gotConfig.Out != tt.out {
				t.Errorf("file %q dir %q out %q, want %q %q %q", gotConfig.File, gotConfig.Dir, gotConfig.Out, tt.file, tt.subdir, tt.out)
			}
			if s.DataDir != tt.data {
				t.Errorf("data_dir %q, want %q", s.DataDir, tt.data)
			}
		})
	}
}
