package runtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/runtime"
)

// A pipeline file's settings expand ${ENV} references, and a problem with
// an expanded value names the reference, never the value.
func TestParseInterpolatesEnvironment(t *testing.T) {
	t.Setenv("WS_TEST_BATCH", "250")
	t.Setenv("WS_TEST_SECRET", "s3cret-value")
	t.Setenv("WS_TEST_BADNAME", "s3cret-value/not a name")
	reg := testRegistry(nil)
	spec, err := runtime.Parse([]byte(`pipeline: ${WS_TEST_NAME:-interp}
batch: { size: "${WS_TEST_BATCH}", linger: "${WS_TEST_LINGER:-5ms}" }
source: {test: {}}
sink: {test: {}}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "interp" || spec.Batch.Size != 250 || spec.Batch.Linger != 5*time.Millisecond {
		t.Errorf("name %q, batch %+v", spec.Name, spec.Batch)
	}

	_, err = runtime.Parse([]byte(`pipeline: ${WS_TEST_BADNAME}
batch:
  size: ${WS_TEST_UNSET}
  linger: ${WS_TEST_SECRET}
source: {test: {}}
sink: {test: {}}
`), reg)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"line 3: batch.size: environment variable WS_TEST_UNSET is not set",
		"line 4: batch.linger: the value of ${WS_TEST_SECRET} is not a duration",
		"line 1: pipeline: the value of ${WS_TEST_BADNAME} is not a valid name",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "s3cret-value") {
		t.Errorf("the error shows the value:\n%s", msg)
	}
}
