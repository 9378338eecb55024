package asyncio_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/asyncio"
	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/runtime"
)

type nop struct{}

func (nop) Open(context.Context, runtime.Env) error { return nil }
func (nop) Read(context.Context) ([]runtime.Record, runtime.AckFunc, error) {
	return nil, nil, io.EOF
}
func (nop) Write(context.Context, []runtime.Record) error { return nil }
func (nop) Close(context.Context) error                   { return nil }

type probeConfig struct {
	runtime.OperatorSettings `yaml:",inline"`
}

// parseTargets parses a pipeline whose operator declares targets (the YAML
// of async.targets), as wasmstream would, returning Parse's error.
func parseTargets(t *testing.T, targets string) error {
	t.Helper()
	r := runtime.NewRegistry()
	asyncio.Register(r)
	runtime.AddSource(r, "none", "nothing", func(*struct{}) (runtime.Source, error) { return nop{}, nil })
	runtime.AddSink(r, "none", "nothing", func(*struct{}) (runtime.Sink, error) { return nop{}, nil })
	runtime.AddOperator(r, "probe", "declares targets", func(*probeConfig) (runtime.OperatorFactory, error) {
		return nil, errors.New("not built")
	})
	file := "pipeline: test\nsource: {none: {}}\noperators:\n  - probe:\n      async:\n        targets: " + targets + "\nsink: {none: {}}\n"
	_, err := runtime.Parse([]byte(file), r)
	return err
}

// decode decodes settings into a C exactly as a pipeline file's would be
// (defaults, required, oneof, Validate), through a probe sink taking C.
func decode[C any](t *testing.T, settings string) *C {
	t.Helper()
	register := func(r *runtime.Registry) {
		runtime.AddSink(r, "config-probe", "config probe", func(*C) (runtime.Sink, error) { return nop{}, nil })
	}
	return connectortest.MustDecodeSink[C](t, register, "config-probe", settings)
}

// open opens target and closes it at the end of the test.
func open(t *testing.T, target runtime.AsyncTarget) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := target.Open(ctx, connectortest.Env(t, 16)); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := target.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// checkCase is a request Check must refuse with a message holding want, or
// accept when want is "".
type checkCase struct {
	name   string
	fields map[string]any
	want   string
}

func runChecks(t *testing.T, target runtime.AsyncTarget, cases []checkCase) {
	t.Helper()
	for _, c := range cases {
		err := target.Check(&runtime.AsyncRequest{Target: "t", Fields: c.fields})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: accepted, want a refusal with %q", c.name, c.want)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: refused with %q, want it to say %q", c.name, err, c.want)
		}
	}
}

// do runs one attempt with a timeout.
func do(t *testing.T, target runtime.AsyncTarget, fields map[string]any) (runtime.AsyncResponse, error) {
	t.Helper()
	req := &runtime.AsyncRequest{Target: "t", Fields: fields}
	if err := target.Check(req); err != nil {
		t.Fatalf("Check refused %v: %v", fields, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return target.Do(ctx, req)
}

// mustDo is do failing the test on an error.
func mustDo(t *testing.T, target runtime.AsyncTarget, fields map[string]any) runtime.AsyncResponse {
	t.Helper()
	resp, err := do(t, target, fields)
	if err != nil {
		t.Fatalf("Do %v: %v", fields, err)
	}
	return resp
}

// checkExpired checks that a Do with an expired ctx fails promptly.
func checkExpired(t *testing.T, target runtime.AsyncTarget, fields map[string]any) {
	t.Helper()
	req := &runtime.AsyncRequest{Target: "t", Fields: fields}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	start := time.Now()
	_, err := target.Do(ctx, req)
	if err == nil {
		t.Fatal("Do with an expired ctx succeeded")
	}
	if errors.Is(err, runtime.ErrRejected) {
		t.Errorf("Do with an expired ctx: %v is marked rejected: it would not be retried", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Do with an expired ctx took %v", d)
	}
}

func TestDocs(t *testing.T) {
	r := runtime.NewRegistry()
	asyncio.Register(r)
	comps := r.Components(runtime.KindAsync)
	if got := r.Names(runtime.KindAsync); !reflect.DeepEqual(got, []string{"http", "redis", "sql"}) {
		t.Fatalf("registered async targets %v, want http, redis and sql", got)
	}
	for _, c := range comps {
		if c.Summary == "" {
			t.Errorf("%s has no summary", c.Name)
		}
		for _, f := range c.Fields() {
			if f.Doc == "" {
				t.Errorf("%s: config key %q has no doc tag", c.Name, f.Name)
			}
		}
	}
}
