package kit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/connectors/connectortest"
	"github.com/wasmstream/wasmstream/connectors/kit"
	"github.com/wasmstream/wasmstream/runtime"
)

// fakeConfig is a connector config built from the kit's blocks.
type fakeConfig struct {
	URL   string    `yaml:"url" required:"true" doc:"Where to connect."`
	TLS   kit.TLS   `yaml:"tls" doc:"TLS settings."`
	SASL  kit.SASL  `yaml:"sasl" doc:"Authentication."`
	Retry kit.Retry `yaml:"retry" doc:"Retries of failed requests."`
}

func (c *fakeConfig) Validate() error {
	return errors.Join(kit.Under("tls", c.TLS.Validate()), kit.Under("sasl", c.SASL.Validate()), kit.Under("retry", c.Retry.Validate()))
}

type fakeSink struct{}

func (fakeSink) Open(context.Context, runtime.Env) error       { return nil }
func (fakeSink) Write(context.Context, []runtime.Record) error { return nil }
func (fakeSink) Close(context.Context) error                   { return nil }

func register(r *runtime.Registry) {
	runtime.AddSink(r, "fake", "a sink configured by kit blocks", func(c *fakeConfig) (runtime.Sink, error) { return fakeSink{}, nil })
}

func parse(t *testing.T, sink string) (*fakeConfig, error) {
	t.Helper()
	r := runtime.NewRegistry()
	register(r)
	runtime.AddSource(r, "none", "no records", func(*struct{}) (runtime.Source, error) { return nil, errors.New("unused") })
	spec, err := runtime.Parse([]byte("pipeline: p\nsource: {none: {}}\nsink:\n  fake:\n"+sink), r)
	if err != nil {
		return nil, err
	}
	return spec.Sink.Config.(*fakeConfig), nil
}

// The blocks decode from a pipeline file with their defaults, a secret
// from the environment, and field errors at their full path that never
// show the secret.
func TestBlocksInPipelineFile(t *testing.T) {
	const pw = "s3cret-from-env"
	t.Setenv("KIT_TEST_PW", pw)
	c, err := parse(t, `    url: x
    sasl:
      mechanism: scram-sha-512
      username: app
      password: ${KIT_TEST_PW}
    retry:
      max_attempts: 3
`)
	if err != nil {
		t.Fatal(err)
	}
	want := kit.Retry{Backoff: kit.Backoff{Initial: 100 * time.Millisecond, Max: 30 * time.Second, Multiplier: 2, Jitter: 0.5}, MaxAttempts: 3, MaxElapsed: 2 * time.Minute}
	if c.Retry.Backoff.Initial != want.Initial || c.Retry.Max != want.Max || c.Retry.Multiplier != want.Multiplier ||
		c.Retry.Jitter != want.Jitter || c.Retry.MaxAttempts != want.MaxAttempts || c.Retry.MaxElapsed != want.MaxElapsed {
		t.Errorf("retry = %+v, want %+v", c.Retry, want)
	}
	if c.SASL.Password.Reveal() != pw || c.TLS != (kit.TLS{}) {
		t.Errorf("sasl = %+v, tls = %+v", c.SASL, c.TLS)
	}

	_, err = parse(t, `    url: x
    sasl: {mechanism: plain, username: "${KIT_TEST_PW}"}
    tls: {enabled: true, cert_file: "${KIT_TEST_PW}", min_version: "1.0"}
    retry: {initial: "${KIT_TEST_PW}", jitter: 2}
`)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, pw) {
		t.Errorf("the error shows the secret:\n%s", msg)
	}
	for _, want := range []string{
		"sink.fake.sasl.password: required with mechanism plain",
		"sink.fake.tls.min_version:",
		"sink.fake.retry.initial: the value of ${KIT_TEST_PW} is not a duration",
		"sink.fake.retry.jitter: must be between 0 and 1",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestDocs(t *testing.T) { connectortest.CheckDocs(t, register) }
