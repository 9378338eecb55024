package json_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// TestOtherSDKsReplayTheVectors guards issue #9 item 3: the Rust, C,
// AssemblyScript and Zig SDKs pass the same vectors file as this package,
// through each language's own test command. A missing toolchain skips its
// language, or fails the test when WASMSTREAM_REQUIRE_TOOLCHAINS=1.
func TestOtherSDKsReplayTheVectors(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four toolchains")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	sdk := func(lang string) string { return filepath.Join(root, "guest-sdk", lang) }
	vectors, err := filepath.Abs(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	zig := filepath.Join(root, "tools", "npm", "node_modules", "@ryoppippi", "zig-linux-x64", "zig")
	tests := []struct {
		lang  string
		tools []string // must all exist, or the language is skipped
		steps [][]string
		dir   string
		env   []string
	}{
		{"rust", []string{"/usr/bin/cargo", "/usr/bin/rustc"}, [][]string{{"/usr/bin/cargo", "test", "--offline", "--quiet", "--test", "json"}},
			sdk("rust"), []string{"RUSTC=/usr/bin/rustc", "RUSTDOC=/usr/bin/rustdoc", "RUSTFLAGS=", "CARGO_TARGET_DIR=" + filepath.Join(root, ".cache", "rust-target")}},
		{"c", []string{"cc"}, [][]string{
			{"cc", "-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror", "-I.", "-o", filepath.Join(tmp, "json_test"), "tests/json_test.c", "wasmstream_json.c"},
			{filepath.Join(tmp, "json_test"), vectors},
		}, sdk("c"), nil},
		{"assemblyscript", []string{filepath.Join(root, "tools", "npm", "node_modules", ".bin", "asc"), "node"}, [][]string{
			{"./build-guest", "tests/json.ts", filepath.Join(tmp, "json.wasm")},
			{"node", "--test", "tests/json.test.mjs"},
		}, sdk("assemblyscript"), []string{"WASM_DIR=" + tmp}},
		{"zig", []string{zig}, [][]string{{zig, "test", "--cache-dir", filepath.Join(root, ".cache", "zig", "local"),
			"--global-cache-dir", filepath.Join(root, ".cache", "zig", "global"), "json_tests.zig"}}, sdk("zig"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			for _, tool := range tt.tools {
				if _, err := exec.LookPath(tool); err != nil {
					if guestbuild.Required() {
						t.Fatalf("%s: %v", tt.lang, err)
					}
					t.Skipf("%s toolchain missing: %v", tt.lang, err)
				}
			}
			for _, step := range tt.steps {
				cmd := exec.CommandContext(t.Context(), step[0], step[1:]...)
				cmd.Dir = tt.dir
				cmd.Env = append(os.Environ(), tt.env...)
				out, err := cmd.CombinedOutput()
				var exit *exec.ExitError
				if errors.As(err, &exit) && exit.ExitCode() == 3 && !guestbuild.Required() {
					t.Skipf("%s toolchain missing:\n%s", tt.lang, out)
				}
				if err != nil {
					t.Fatalf("running %v in %s: %v\n%s", step, tt.dir, err, out)
				}
			}
		})
	}
}
