// Package outsidetest checks that the Go, Rust and C SDKs can be used from
// a project outside this repository, exactly as each SDK's README says
// under "Using the SDK outside this repository".
//
// The README marks what the test runs with an HTML comment before a fenced
// block:
//
//	<!-- outside-test: LANG FILE -->         the block is FILE's contents
//	<!-- outside-test: LANG -->              the block is a shell script to run
//	<!-- outside-test: LANG no-checkout -->  a script run with the checkout gone
//
// The test writes and runs the blocks in order in a fresh directory outside
// the repository, with WASMSTREAM set to the path of a link to the
// repository root (removed before a no-checkout script), and then runs the
// clicks.wasm they build through the host.
package outsidetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmstream/wasmstream/abi"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// block is one marked fenced block of a README.
type block struct {
	file       string // "" for a shell script
	noCheckout bool   // a script to run with the checkout gone
	text       string
	line       int // of the marker
}

var marker = regexp.MustCompile(`^<!-- outside-test: ([a-z]+)(?: (\S+))? -->$`)

// blocks returns the blocks of readme marked for lang, in order.
func blocks(readme []byte, lang string) ([]block, error) {
	var out []block
	sc := bufio.NewScanner(strings.NewReader(string(readme)))
	n := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		n++
		return sc.Text(), true
	}
	for {
		l, ok := next()
		if !ok {
			return out, sc.Err()
		}
		m := marker.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		at := n
		fence, ok := next()
		for ok && fence == "" {
			fence, ok = next()
		}
		if !ok || !strings.HasPrefix(fence, "```") {
			return nil, fmt.Errorf("line %d: %s is not followed by a fenced block", at, l)
		}
		var text strings.Builder
		for {
			l, ok := next()
			if !ok {
				return nil, fmt.Errorf("line %d: the block after %s never ends", at, m[0])
			}
			if l == "```" {
				break
			}
			text.WriteString(l + "\n")
		}
		if m[1] == lang {
			b := block{file: m[2], text: text.String(), line: at}
			if b.file == "no-checkout" {
				b.file, b.noCheckout = "", true
			}
			out = append(out, b)
		}
	}
}

// haveToolchain reports why lang's toolchain is missing, or "".
func haveToolchain(lang string) string {
	switch lang {
	case "rust":
		// The README builds with Debian's rustc, whose standard library
		// includes wasm32.
		out, err := exec.Command("/usr/bin/rustc", "--print", "sysroot").Output()
		if err != nil {
			return "no /usr/bin/rustc (run scripts/toolchains/rust.sh)"
		}
		libs, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib"))
		if len(libs) == 0 {
			return "no wasm32 standard library for /usr/bin/rustc (run scripts/toolchains/rust.sh)"
		}
		if _, err := os.Stat("/usr/bin/cargo"); err != nil {
			return "no /usr/bin/cargo (run scripts/toolchains/rust.sh)"
		}
	case "c":
		for _, tool := range []string{"clang", "wasm-ld"} {
			if _, err := exec.LookPath(tool); err != nil {
				return "no " + tool + " (run scripts/toolchains/c.sh)"
			}
		}
		rt, err := exec.Command("clang", "--target=wasm32-wasi", "-print-libgcc-file-name").Output()
		if _, serr := os.Stat(strings.TrimSpace(string(rt))); err != nil || serr != nil {
			return "no compiler runtime for wasm32-wasi (run scripts/toolchains/c.sh)"
		}
		cpp := exec.Command("clang", "--target=wasm32-wasi", "-E", "-o", os.DevNull, "-")
		cpp.Stdin = strings.NewReader("#include <stdlib.h>\n")
		if cpp.Run() != nil {
			return "no wasi-libc (run scripts/toolchains/c.sh)"
		}
	}
	return ""
}

// environ is the test's environment without the settings that would make
// the build differ from a user's, with the checkout, an empty Go module
// cache and an empty cargo home, and no network for Go.
func environ(checkout, scratch string) []string {
	drop := []string{"RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_TARGET_DIR",
		"CARGO_HOME", "GOFLAGS", "GOWORK", "GOOS", "GOARCH", "GOMODCACHE", "GOPROXY", "CFLAGS", "WASMSTREAM"}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(drop, name)
	})
	return append(env,
		"WASMSTREAM="+checkout,
		"GOPROXY=off",
		"GOMODCACHE="+filepath.Join(scratch, "gomodcache"),
		"GOFLAGS=-modcacherw", // so t.TempDir can remove the cache
		"CARGO_HOME="+filepath.Join(scratch, "cargo-home"),
	)
}

// outside fails the test unless dir is outside the repository with no Go
// or Cargo project above it that a build could pick up.
func outside(t *testing.T, root, dir string) {
	t.Helper()
	if rel, err := filepath.Rel(root, dir); err != nil || !strings.HasPrefix(rel, "..") {
		t.Fatalf("%s is inside the repository %s", dir, root)
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		for _, f := range []string{"go.mod", "go.work", "Cargo.toml"} {
			if _, err := os.Stat(filepath.Join(d, f)); err == nil {
				t.Fatalf("%s is above the test directory %s: the build would not be a fresh project's", filepath.Join(d, f), dir)
			}
		}
		if d == filepath.Dir(d) {
			return
		}
	}
}

// TestOutsideRepository guards issue #9 item 7: a user following an SDK
// README's "Using the SDK outside this repository" literally, in a fresh
// directory outside the checkout (offline, empty module cache and cargo
// home), builds a JSON operator that the host loads and runs correctly.
func TestOutsideRepository(t *testing.T) {
	root, err := guestbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	e, err := host.NewEngine(context.WithoutCancel(ctx), host.WithCacheDir(filepath.Join(t.TempDir(), "cache")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.WithoutCancel(ctx)) })

	in := []abi.Record{
		{Key: []byte("old"), Value: []byte(`{"event":"click","user":{"name":"ada"}}`), Timestamp: 1},
		{Value: []byte(`{"event":"view","user":{"name":"bob"}}`), Timestamp: 2},
		{Value: []byte(`{"event":"click","user":{"name":"Z\u00fcrich \"q\""}}`), Timestamp: 3},
		{Key: []byte("kept"), Value: []byte(`{"event":"click"}`), Timestamp: 4},
		{Value: []byte(`{"event":"click",`), Timestamp: 5},
		{Value: []byte(`not json`), Timestamp: 6},
	}
	want := []string{
		fmt.Sprintf("key=%q value=%q ts=1", "ada", in[0].Value),
		fmt.Sprintf("key=%q value=%q ts=3", `Zürich "q"`, in[2].Value),
		fmt.Sprintf("key=%q value=%q ts=4", "kept", in[3].Value),
	}

	for _, lang := range []string{"go", "rust", "c"} {
		t.Run(lang, func(t *testing.T) {
			readme := filepath.Join(root, "guest-sdk", lang, "README.md")
			data, err := os.ReadFile(readme)
			if err != nil {
				t.Fatal(err)
			}
			bs, err := blocks(data, lang)
			if err != nil {
				t.Fatalf("reading %s: %v", readme, err)
			}
			var files, scripts int
			for _, b := range bs {
				if b.file == "" {
					scripts++
				} else {
					files++
				}
			}
			if files == 0 || scripts == 0 {
				t.Fatalf("%s marks %d source blocks and %d command blocks with <!-- outside-test: %s ... -->, want at least one of each",
					readme, files, scripts, lang)
			}
			if why := haveToolchain(lang); why != "" {
				if guestbuild.Required() {
					t.Fatalf("WASMSTREAM_REQUIRE_TOOLCHAINS=1 but %s", why)
				}
				t.Skip(why)
			}

			scratch := t.TempDir()
			dir := filepath.Join(scratch, "clicks")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			outside(t, root, dir)
			// The checkout as a user's: a path the test can take away.
			checkout := filepath.Join(scratch, "wasmstream")
			if err := os.Symlink(root, checkout); err != nil {
				t.Fatal(err)
			}
			env := environ(checkout, scratch)
			for _, b := range bs {
				if b.file != "" {
					path := filepath.Join(dir, b.file)
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(b.text), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if b.noCheckout {
					// What it builds must not be what an earlier block built.
					for _, p := range []string{checkout, filepath.Join(dir, "clicks.wasm")} {
						if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
							t.Fatal(err)
						}
					}
				}
				// A stuck build must not stall the test run.
				sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				cmd := exec.CommandContext(sctx, "bash", "-euo", "pipefail", "-c", b.text)
				cmd.Dir, cmd.Env = dir, env
				out, err := cmd.CombinedOutput()
				cancel()
				if err != nil {
					t.Fatalf("running the commands of %s:%d: %v\n%s\n%s", readme, b.line, err, b.text, out)
				}
			}

			m, err := e.Load(ctx, filepath.Join(dir, "clicks.wasm"))
			if err != nil {
				t.Fatalf("loading the module built as %s says: %v", readme, err)
			}
			op := host.NewOperator(m, host.InstanceConfig{Pipeline: "outside", Operator: "clicks-" + lang})
			t.Cleanup(func() { op.Close(context.WithoutCancel(ctx)) })
			recs, err := op.Process(ctx, slices.Clone(in), nil)
			if err != nil {
				t.Fatalf("processing: %v", err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, fmt.Sprintf("key=%q value=%q ts=%d", r.Key, r.Value, r.Timestamp))
			}
			if !slices.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
