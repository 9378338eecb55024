package host_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/host"
)

// TestLoadWAT guards issue #9 item 9: a WebAssembly text file given as a
// module was refused as "not a WebAssembly binary", which does not say what
// to do. It is named as text, with the tool that assembles it; a binary
// module is never taken for text, whatever its name.
func TestLoadWAT(t *testing.T) {
	e, err := host.NewEngine(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(t.Context())
	cases := []struct {
		name, file, content string
		text                bool
	}{
		{"named .wat", "op.wat", "(module)\n", true},
		{"text named .wasm", "op.wasm", "\n  (module (func (export \"process\")))", true},
		{"comment first", "op.wasm", ";; an operator\n(module)", true},
		{"binary named .wat", "op.wat", "\x00asm\x01\x00\x00\x00", false},
		{"neither", "op.wasm", "hello", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.file)
			if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := e.Load(t.Context(), path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			said := strings.Contains(err.Error(), "this is WebAssembly text: assemble it with wat2wasm")
			if said != c.text {
				t.Fatalf("Load: %v (says it is text: %v, want %v)", err, said, c.text)
			}
		})
	}
}
