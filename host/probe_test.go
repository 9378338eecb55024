package host_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/connectors/collection"
	"github.com/wasmstream/wasmstream/connectors/stdio"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
)

// TestCheckProbesInit guards issue #9: validate (runtime.Check) runs each
// Wasm operator's init with its params in a throwaway instance, so params
// its init refuses fail validation at the params line; an init that writes
// state passes (the probe gets a throwaway state store) and leaves nothing
// in the pipeline's data directory.
func TestCheckProbesInit(t *testing.T) {
	e := newEngine(t)
	reg := runtime.NewRegistry()
	host.Register(reg, e)
	collection.Register(reg)
	stdio.Register(reg)
	tests := []struct {
		name, module, settings string
		want                   string // a problem's start; "" for none
	}{
		{"init writes state", buildWat(t, "initstate"), "params: {}", ""},
		{"init never returns", buildWat(t, "initloop"), "params: {x: 1}, deadline: 50ms", "line 5: operators[0].wasm.params: init failed with these params: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "pipeline.yaml")
			data := filepath.Join(dir, "data")
			body := fmt.Sprintf("pipeline: probe\ndata_dir: %q\nsource: {collection: {values: [a]}}\noperators:\n  - wasm: {module: %q, %s}\nsink: {stdout: {}}\n", data, tt.module, tt.settings)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := runtime.Check(t.Context(), p, reg)
			if _, statErr := os.Stat(data); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("Check left the data directory behind (%v)", statErr)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var ce *runtime.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.HasPrefix(ce.Problems[0].String(), tt.want) {
				t.Fatalf("Check = %v, want one problem starting with %q", err, tt.want)
			}
		})
	}
}
