package wasmstream_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	wasmstream "github.com/wasmstream/wasmstream/guest-sdk/go"
)

func TestConfigGetters(t *testing.T) {
	cfg := &wasmstream.Config{Params: map[string]any{
		"s": "text", "b": true, "i": int64(42), "neg": int64(-7), "goint": 3, "u": uint64(math.MaxUint64),
		"f": 2.5, "whole": 8.0, "null": nil, "list": []any{"x"},
	}}
	type result struct {
		v   any
		err string // "" for none, else a substring of the error
	}
	tests := []struct {
		name string
		get  func() (any, error)
		want result
	}{
		{"String", func() (any, error) { return cfg.String("s", "d") }, result{"text", ""}},
		{"String absent", func() (any, error) { return cfg.String("missing", "d") }, result{"d", ""}},
		{"String null", func() (any, error) { return cfg.String("null", "d") }, result{"d", ""}},
		{"String wrong type", func() (any, error) { return cfg.String("i", "d") }, result{"d", "params.i: want a string, got int64 42"}},
		{"Bool", func() (any, error) { return cfg.Bool("b", false) }, result{true, ""}},
		{"Bool absent", func() (any, error) { return cfg.Bool("missing", true) }, result{true, ""}},
		{"Bool wrong type", func() (any, error) { return cfg.Bool("s", true) }, result{true, `params.s: want a boolean, got string "text"`}},
		{"Int", func() (any, error) { return cfg.Int("i", 0) }, result{42, ""}},
		{"Int negative", func() (any, error) { return cfg.Int("neg", 0) }, result{-7, ""}},
		{"Int from Go int", func() (any, error) { return cfg.Int("goint", 0) }, result{3, ""}},
		{"Int from whole float", func() (any, error) { return cfg.Int("whole", 0) }, result{8, ""}},
		{"Int from fraction", func() (any, error) { return cfg.Int("f", 1) }, result{1, "params.f: want an integer, got float64 2.5"}},
		{"Int overflow", func() (any, error) { return cfg.Int("u", 1) }, result{1, "want an integer"}},
		{"Int wrong type", func() (any, error) { return cfg.Int("list", 1) }, result{1, "params.list: want an integer, got []interface {}"}},
		{"Int absent", func() (any, error) { return cfg.Int("missing", 9) }, result{9, ""}},
		{"Float", func() (any, error) { return cfg.Float("f", 0) }, result{2.5, ""}},
		{"Float from int", func() (any, error) { return cfg.Float("i", 0) }, result{42.0, ""}},
		{"Float wrong type", func() (any, error) { return cfg.Float("b", 0.5) }, result{0.5, "params.b: want a number, got bool true"}},
		{"Float absent", func() (any, error) { return cfg.Float("missing", 0.5) }, result{0.5, ""}},
		{"nil Config", func() (any, error) { return (*wasmstream.Config)(nil).String("s", "d") }, result{"d", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.get()
			if v != tt.want.v {
				t.Errorf("value = %#v, want %#v", v, tt.want.v)
			}
			switch {
			case tt.want.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want.err != "":
				if _, ok := errors.AsType[*wasmstream.ParamError](err); !ok || !strings.Contains(err.Error(), tt.want.err) {
					t.Errorf("error = %v, want a *ParamError containing %q", err, tt.want.err)
				}
			}
		})
	}
	if cfg.HasOutput("a") || !(&wasmstream.Config{Outputs: []string{"a"}}).HasOutput("a") {
		t.Error("HasOutput disagrees with Outputs")
	}
}

// TestInit checks that Init passes the configuration through the host's
// encoding: params arrive with the types a Wasm module sees.
func TestInit(t *testing.T) {
	var got *wasmstream.Config
	setup(t, func() {
		wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil })
		wasmstream.OnInit(func(cfg *wasmstream.Config) error {
			got = cfg
			return nil
		})
	})
	err := wasmstream.Init(&wasmstream.Config{
		Pipeline: "p", Operator: "op", Instance: 3, Outputs: []string{"alerts", "audit"},
		Params: map[string]any{"n": 7, "name": "x", "nested": map[string]any{"on": true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Pipeline != "p" || got.Operator != "op" || got.Instance != 3 || strings.Join(got.Outputs, ",") != "alerts,audit" {
		t.Errorf("got %+v", got)
	}
	if n, ok := got.Params["n"].(int64); !ok || n != 7 {
		t.Errorf("params.n = %#v, want int64(7) as the host encodes it", got.Params["n"])
	}
	if nested, ok := got.Params["nested"].(map[string]any); !ok || nested["on"] != true {
		t.Errorf("params.nested = %#v", got.Params["nested"])
	}
	if err := wasmstream.Init(nil); err != nil || got.Params == nil {
		t.Errorf("Init(nil) = %v; params %v, want an empty config", err, got.Params)
	}
}

func TestInitErrors(t *testing.T) {
	errNo := errors.New("no, not like that")
	tests := []struct {
		name     string
		register func()
		cfg      *wasmstream.Config
		check    func(error) bool
	}{
		{"hook error", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil })
			wasmstream.OnInit(func(*wasmstream.Config) error { return errNo })
		}, nil, func(err error) bool { return err == errNo }},
		{"hook panic", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil })
			wasmstream.OnInit(func(*wasmstream.Config) error { panic("init exploded") })
		}, nil, func(err error) bool { return err != nil && err.Error() == "panic: init exploded" }},
		{"no handler", func() {
			wasmstream.OnInit(func(*wasmstream.Config) error { return nil })
		}, nil, func(err error) bool { return errors.Is(err, wasmstream.ErrNoHandler) }},
		{"nil hook", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil })
			wasmstream.OnInit(nil)
		}, nil, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "OnInit called with a nil function")
		}},
		{"unencodable param", func() {
			wasmstream.Map(func(r wasmstream.Record) (wasmstream.Record, error) { return r, nil })
		}, &wasmstream.Config{Params: map[string]any{"ch": make(chan int)}}, func(err error) bool {
			return err != nil && strings.HasPrefix(err.Error(), "encoding init config: ")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setup(t, tt.register)
			if err := wasmstream.Init(tt.cfg); !tt.check(err) {
				t.Fatalf("Init = %v", err)
			}
		})
	}
}
