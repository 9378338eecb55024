// Package guestbuild builds the example Wasm guests under examples/wasm from
// source, whatever their language, so tests and benchmarks run what the
// sources say rather than a stale binary.
//
// A guest is a directory. A directory holding Go files is built with the Go
// toolchain (GOOS=wasip1, -buildmode=c-shared). Any other guest directory
// holds an executable script named build, run in that directory as
//
//	./build OUT.wasm
//
// that writes the module to OUT.wasm. A script whose toolchain is not
// installed exits with status 3 and names the script under
// scripts/toolchains that installs it; Build reports that as ErrNoToolchain.
package guestbuild

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoToolchain reports that a guest's toolchain is not installed here.
var ErrNoToolchain = errors.New("toolchain not installed")

// exitNoToolchain is the status a build script exits with when its
// toolchain is missing.
const exitNoToolchain = 3

// Languages lists the guest languages in the order tools print them.
var Languages = []string{"go", "rust", "c", "assemblyscript", "zig"}

// Root returns the repository root: the nearest parent of the working
// directory holding go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("guestbuild: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Guest is one language's build of an example.
type Guest struct {
	Lang string // one of Languages
	Dir  string // the guest's source directory
}

// Guests returns the guests of one example, such as examples/wasm/uppercase,
// in Languages order, for the languages present.
func Guests(example string) []Guest {
	var out []Guest
	for _, lang := range Languages {
		dir := filepath.Join(example, lang)
		if isGuest(dir) {
			out = append(out, Guest{Lang: lang, Dir: dir})
		}
	}
	return out
}

func isGuest(dir string) bool {
	if st, err := os.Stat(filepath.Join(dir, "build")); err == nil && !st.IsDir() {
		return true
	}
	gos, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(gos) > 0
}

// Build builds the guest in dir into out (an absolute path or one relative
// to the working directory).
func Build(dir, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	var cmd *exec.Cmd
	if gos, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(gos) > 0 {
		cmd = exec.Command("go", "build", "-buildmode=c-shared", "-o", abs, ".")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	} else {
		cmd = exec.Command("./build", abs)
	}
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == exitNoToolchain {
		return fmt.Errorf("building %s: %w: %s", dir, ErrNoToolchain, strings.TrimSpace(buf.String()))
	}
	if err != nil {
		return fmt.Errorf("building %s: %v\n%s", dir, err, buf.String())
	}
	return nil
}

// Required reports whether a missing toolchain must fail a test rather than
// skip it: the test command sets WASMSTREAM_REQUIRE_TOOLCHAINS=1 after it
// installs every toolchain.
func Required() bool { return os.Getenv("WASMSTREAM_REQUIRE_TOOLCHAINS") == "1" }
