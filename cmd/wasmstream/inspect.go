package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

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
			Exports    []fn   `json:"exports"`
			Imports    []fn   `json:"imports"`
		}{Path: path, SHA256: m.Digest(), Size: info.Size, ABIVersion: info.ABIVersion, Language: info.Language.String(),
			LangFrom: info.LanguageFrom, MemoryMin: info.MemoryMin, MemoryMax: info.MemoryMax}
		for _, f := range info.Exports {
			out.Exports = append(out.Exports, fn{Name: f.Name, Signature: f.Signature()})
		}
		for _, f := range info.Imports {
			out.Imports = append(out.Imports, fn{Module: f.Module, Name: f.Name, Signature: f.Signature()})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
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
	fmt.Fprintf(stdout, "exports      %d functions\n", len(info.Exports))
	for _, f := range info.Exports {
		fmt.Fprintf(stdout, "  %-28s %s\n", f.Name, f.Signature())
	}
	fmt.Fprintf(stdout, "imports      %d functions\n", len(info.Imports))
	for _, f := range info.Imports {
		fmt.Fprintf(stdout, "  %-28s %s\n", f.Module+"."+f.Name, f.Signature())
	}
	return exitOK
}

func cmdComponents(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("components", "", "Lists every source, operator and sink with its settings, as Markdown.", stderr)
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	ctx := context.Background()
	reg, engine, err := newRegistry(ctx, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	defer engine.Close(ctx)
	fmt.Fprint(stdout, runtime.ReferenceMarkdown(reg))
	return exitOK
}
