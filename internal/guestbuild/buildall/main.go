// Command buildall builds every example guest under examples/wasm from
// source, whatever its language: examples/wasm/<example>/<language>/ into
// <example>.wasm in that directory, and a Go example directory itself (such
// as examples/wasm/router) into <example>.wasm. A guest whose toolchain is
// missing is reported and skipped, or fails the build when
// WASMSTREAM_REQUIRE_TOOLCHAINS=1.
//
//	go run ./internal/guestbuild/buildall [-lang rust,c]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

func main() {
	langs := flag.String("lang", "", "comma-separated languages to build (default all)")
	flag.Parse()
	root, err := guestbuild.Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	want := func(lang string) bool { return *langs == "" || slices.Contains(strings.Split(*langs, ","), lang) }
	examples, _ := filepath.Glob(filepath.Join(root, "examples", "wasm", "*"))
	failed := false
	for _, ex := range examples {
		name := filepath.Base(ex)
		guests := guestbuild.Guests(ex)
		if len(guests) == 0 {
			if gos, _ := filepath.Glob(filepath.Join(ex, "*.go")); len(gos) > 0 {
				guests = []guestbuild.Guest{{Lang: "go", Dir: ex}}
			}
		}
		for _, g := range guests {
			if !want(g.Lang) {
				continue
			}
			out := filepath.Join(g.Dir, name+".wasm")
			rel, _ := filepath.Rel(root, out)
			err := guestbuild.Build(g.Dir, out)
			switch {
			case errors.Is(err, guestbuild.ErrNoToolchain) && !guestbuild.Required():
				fmt.Fprintf(os.Stderr, "skipped %s: %v\n", rel, err)
			case err != nil:
				fmt.Fprintln(os.Stderr, err)
				failed = true
			default:
				fmt.Fprintf(os.Stderr, "built %s\n", rel)
			}
		}
	}
	if failed {
		os.Exit(1)
	}
}
