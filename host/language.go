package host

import (
	"strings"

	"github.com/wasmstream/wasmstream/abi"
)

// guessLanguage says which toolchain appears to have built a module that
// does not export wasmstream_language, from its custom sections: Go writes
// "go:buildid"; LLVM-based compilers (rustc, clang, zig) and others write a
// "producers" section naming the language and the tools. It returns
// LanguageUnknown and "" when nothing says.
func guessLanguage(wasm []byte) (abi.Language, string) {
	r := reader{b: wasm, off: 8}
	var producers []string
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		body := r.bytes(int(r.u32()))
		if id != 0 || r.err != nil {
			continue
		}
		sr := reader{b: body}
		switch name := sr.name(); name {
		case "go:buildid", "go.buildid":
			return abi.LanguageGo, "the go:buildid section"
		case "producers":
			producers = append(producers, readProducers(&sr)...)
		}
	}
	// "language" fields first, then "processed-by" tools.
	for _, p := range producers {
		field, value, _ := strings.Cut(p, "=")
		if field != "language" {
			continue
		}
		switch v := strings.ToLower(value); {
		case v == "rust":
			return abi.LanguageRust, "the producers section: language " + value
		case v == "c" || v == "c99" || v == "c11" || v == "c17":
			return abi.LanguageC, "the producers section: language " + value
		case v == "go":
			return abi.LanguageGo, "the producers section: language " + value
		case v == "zig":
			return abi.LanguageZig, "the producers section: language " + value
		case v == "assemblyscript":
			return abi.LanguageAssemblyScript, "the producers section: language " + value
		}
	}
	for _, p := range producers {
		field, value, _ := strings.Cut(p, "=")
		if field != "processed-by" {
			continue
		}
		switch v := strings.ToLower(value); {
		case v == "rustc":
			return abi.LanguageRust, "the producers section: processed by " + value
		case v == "zig":
			return abi.LanguageZig, "the producers section: processed by " + value
		case v == "assemblyscript" || v == "asc":
			return abi.LanguageAssemblyScript, "the producers section: processed by " + value
		case v == "clang":
			return abi.LanguageC, "the producers section: processed by " + value
		}
	}
	return abi.LanguageUnknown, ""
}

// readProducers returns a producers section's entries as "field=name".
func readProducers(r *reader) []string {
	var out []string
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		field := r.name()
		for m := r.u32(); m > 0 && r.err == nil; m-- {
			name := r.name()
			r.name() // version
			out = append(out, field+"="+name)
		}
	}
	if r.err != nil {
		return nil
	}
	return out
}
