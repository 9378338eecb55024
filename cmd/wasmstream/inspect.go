package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
)

func cmdInspect(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("inspect", "MODULE.wasm", "Loads a module as the host would and shows its ABI version, language, exports, imports and memory. Exits 2 if the host would refuse it, saying why.", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	path, code, ok := parseArgs(fs, args, stdout)
	if !ok {
		return code
	}
	ctx := context.Background()
	engine, err := host.NewEngine(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	defer engine.Close(ctx)
	m, err := engine.Load(ctx, path)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitConfig
	}
	info := m.Info()
	// A module may import a function twice (Go's wasip1 port imports
	// fd_write twice); it is one import to the reader.
	imports := slices.CompactFunc(slices.SortedStableFunc(slices.Values(info.Imports), func(a, b host.Func) int {
		return strings.Compare(a.Module+"."+a.Name, b.Module+"."+b.Name)
	}), func(a, b host.Func) bool { return a.Module == b.Module && a.Name == b.Name })
	if *asJSON {
		type fn struct {
			Module    string `json:"module,omitempty"`
			Name      string `json:"name"`
			Signature string `json:"signature"`
		}
		out := struct {
			Path       string `json:"path"`
			SHA256     string `json:"sha256"`
			Size       int    `json:"size"`
			ABIVersion int    `json:"abi_version"`
			Language   string `json:"language"`
			LangFrom   string `json:"language_from,omitempty"`
			MemoryMin  uint32 `json:"memory_min_pages"`
			MemoryMax  uint32 `json:"memory_max_pages,omitempty"`
			UsesState  bool   `json:"uses_state"`
			Exports    []fn   `json:"exports"`
			Imports    []fn   `json:"imports"`
		}{Path: path, SHA256: m.Digest(), Size: info.Size, ABIVersion: info.ABIVersion, Language: info.Language.String(),
			LangFrom: info.LanguageFrom, MemoryMin: info.MemoryMin, MemoryMax: info.MemoryMax, UsesState: info.UsesState()}
		for _, f := range info.Exports {
			out.Exports = append(out.Exports, fn{Name: f.Name, Signature: f.Signature()})
		}
		for _, f := range imports {
			out.Imports = append(out.Imports, fn{Module: f.Module, Name: f.Name, Signature: f.Signature()})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // signatures read "(i32) -> (i32)"
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFailure
		}
		return exitOK
	}
	lang := info.Language.String()
	if info.LanguageFrom != "" {
		lang += " (from " + info.LanguageFrom + ")"
	}
	fmt.Fprintf(stdout, "module       %s\nsha256       %s\nsize         %s\nabi version  %d (supported by this host)\nlanguage     %s\n",
		path, m.Digest(), runtime.ByteSize(info.Size), info.ABIVersion, lang)
	max := "none"
	if info.MemoryMax > 0 {
		max = fmt.Sprintf("%d pages (%s)", info.MemoryMax, runtime.ByteSize(int64(info.MemoryMax)*65536))
	}
	fmt.Fprintf(stdout, "memory       initial %d pages (%s), maximum %s\n", info.MemoryMin, runtime.ByteSize(int64(info.MemoryMin)*65536), max)
	if info.UsesState() {
		fmt.Fprintln(stdout, "state        uses keyed state (imports state functions)")
	} else {
		fmt.Fprintln(stdout, "state        none (imports no state function)")
	}
	fmt.Fprintf(stdout, "exports      %d functions\n", len(info.Exports))
	for _, f := range info.Exports {
		fmt.Fprintf(stdout, "  %-28s %s\n", f.Name, f.Signature())
	}
	fmt.Fprintf(stdout, "imports      %d functions\n", len(imports))
	for _, f := range imports {
		fmt.Fprintf(stdout, "  %-28s %s\n", f.Module+"."+f.Name, f.Signature())
	}
	return exitOK
}

func cmdComponents(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("components", "[NAME]", "Lists every source, operator and sink with its settings, as Markdown; with NAME, only the components of that name (a source and a sink may share one).", stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitConfig
	}
	ctx := context.Background()
	reg, engine, err := newRegistry(ctx, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	defer engine.Close(ctx)
	if fs.NArg() == 0 {
		fmt.Fprint(stdout, runtime.ReferenceMarkdown(reg))
		return exitOK
	}
	name := fs.Arg(0)
	var all []string
	found := false
	for _, k := range []runtime.Kind{runtime.KindSource, runtime.KindOperator, runtime.KindSink, runtime.KindAsync} {
		for _, c := range reg.Components(k) {
			all = append(all, c.Name)
			if c.Name == name {
				found = true
				fmt.Fprint(stdout, runtime.ComponentMarkdown(c))
			}
		}
	}
	if !found {
		slices.Sort(all)
		fmt.Fprintf(stderr, "wasmstream: no component named %q; there are: %s\n", name, strings.Join(slices.Compact(all), ", "))
		return exitConfig
	}
	return exitOK
}
