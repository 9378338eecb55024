package connectortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/runtime"
)

// Names of the placeholder components DecodeSource and DecodeSink pair the
// component under test with.
const (
	placeholderSource = "connectortest-source"
	placeholderSink   = "connectortest-sink"
)

type placeholderConfig struct{}

type placeholder struct{}

func (placeholder) Open(context.Context, runtime.Env) error { return nil }
func (placeholder) Read(ctx context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	return nil, nil, io.EOF
}
func (placeholder) Write(context.Context, []runtime.Record) error { return nil }
func (placeholder) Close(context.Context) error                   { return nil }

func registry(register func(*runtime.Registry)) *runtime.Registry {
	r := runtime.NewRegistry()
	register(r)
	runtime.AddSource(r, placeholderSource, "placeholder", func(*placeholderConfig) (runtime.Source, error) { return placeholder{}, nil })
	runtime.AddSink(r, placeholderSink, "placeholder", func(*placeholderConfig) (runtime.Sink, error) { return placeholder{}, nil })
	return r
}

// DecodeSource decodes settings, the YAML of a source's settings such as
// "{path: in.txt, format: json}", for the source registered as name by
// register, exactly as a pipeline file would (defaults, oneof, required,
// Validate). It returns the config, or the *runtime.ConfigError.
func DecodeSource[C any](t *testing.T, register func(*runtime.Registry), name, settings string) (*C, error) {
	t.Helper()
	file := fmt.Sprintf("pipeline: test\nsource: {%s: %s}\nsink: {%s: {}}\n", name, settings, placeholderSink)
	spec, err := runtime.Parse([]byte(file), registry(register))
	if err != nil {
		return nil, err
	}
	return config[C](t, spec.Source)
}

// DecodeSink is DecodeSource for a sink.
func DecodeSink[C any](t *testing.T, register func(*runtime.Registry), name, settings string) (*C, error) {
	t.Helper()
	file := fmt.Sprintf("pipeline: test\nsource: {%s: {}}\nsink: {%s: %s}\n", placeholderSource, name, settings)
	spec, err := runtime.Parse([]byte(file), registry(register))
	if err != nil {
		return nil, err
	}
	return config[C](t, spec.Sink)
}

func config[C any](t *testing.T, c *runtime.ComponentSpec) (*C, error) {
	t.Helper()
	cfg, ok := c.Config.(*C)
	if !ok {
		t.Fatalf("%s: config is %T, not *%T", c.Path, c.Config, *new(C))
	}
	return cfg, nil
}

// MustDecodeSource is DecodeSource failing t on an error.
func MustDecodeSource[C any](t *testing.T, register func(*runtime.Registry), name, settings string) *C {
	t.Helper()
	cfg, err := DecodeSource[C](t, register, name, settings)
	if err != nil {
		t.Fatalf("decoding %s source settings %s: %v", name, settings, err)
	}
	return cfg
}

// MustDecodeSink is DecodeSink failing t on an error.
func MustDecodeSink[C any](t *testing.T, register func(*runtime.Registry), name, settings string) *C {
	t.Helper()
	cfg, err := DecodeSink[C](t, register, name, settings)
	if err != nil {
		t.Fatalf("decoding %s sink settings %s: %v", name, settings, err)
	}
	return cfg
}

// ConfigProblems returns the problems of a *runtime.ConfigError as sorted
// "path: message" strings, or fails t when err is not one.
func ConfigProblems(t *testing.T, err error) []string {
	t.Helper()
	var ce *runtime.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *runtime.ConfigError, got %T: %v", err, err)
	}
	out := make([]string, len(ce.Problems))
	for i, p := range ce.Problems {
		out[i] = p.Path + ": " + p.Msg
	}
	sort.Strings(out)
	return out
}

// CheckProblems fails t unless err is a *runtime.ConfigError whose
// problems, sorted, start with the wanted ones, in any order: one each.
func CheckProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	got := ConfigProblems(t, err)
	want = slices.Clone(want)
	sort.Strings(want)
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// CheckDocs fails t unless every component register adds has a summary and
// every config key of it a doc string (the reference docs are generated
// from them).
func CheckDocs(t *testing.T, register func(*runtime.Registry)) {
	t.Helper()
	r := runtime.NewRegistry()
	register(r)
	n := 0
	for _, k := range []runtime.Kind{runtime.KindSource, runtime.KindSink, runtime.KindOperator} {
		for _, c := range r.Components(k) {
			n++
			if c.Summary == "" {
				t.Errorf("%s %q has no summary", k, c.Name)
			}
			for _, f := range c.Fields() {
				if f.Doc == "" {
					t.Errorf("%s %q: config key %q has no doc tag", k, c.Name, f.Name)
				}
			}
			checkNestedDocs(t, fmt.Sprintf("%s %q", k, c.Name), c.Config, "")
		}
	}
	if n == 0 {
		t.Error("register adds no components")
	}
}

// checkNestedDocs checks the doc tags of structs nested in a config (list
// items, sub-objects), which Component.Fields does not describe.
func checkNestedDocs(t *testing.T, comp string, typ reflect.Type, path string) {
	t.Helper()
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
			ft = ft.Elem()
		}
		if opts == "inline" {
			checkNestedDocs(t, comp, ft, path)
			continue
		}
		if path != "" && f.Tag.Get("doc") == "" {
			t.Errorf("%s: config key %s%s has no doc tag", comp, path, name)
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() != "gopkg.in/yaml.v3" && ft.PkgPath() != "time" {
			checkNestedDocs(t, comp, ft, path+name+".")
		}
	}
}
