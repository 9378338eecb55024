package host

import (
	"testing"

	"github.com/wasmstream/wasmstream/abi"
)

// custom builds a module holding one custom section.
func custom(name string, body []byte) []byte {
	sec := appendName(nil, name)
	sec = append(sec, body...)
	b := []byte("\x00asm\x01\x00\x00\x00\x00")
	b = appendU32(b, uint32(len(sec)))
	return append(b, sec...)
}

// producers encodes a producers section body with one field.
func producers(field string, names ...string) []byte {
	b := appendU32(nil, 1)
	b = appendName(b, field)
	b = appendU32(b, uint32(len(names)))
	for _, n := range names {
		b = appendName(b, n)
		b = appendName(b, "1.0")
	}
	return b
}

func TestGuessLanguage(t *testing.T) {
	cases := []struct {
		wasm []byte
		want abi.Language
	}{
		{custom("go:buildid", []byte("abc")), abi.LanguageGo},
		{custom("producers", producers("language", "Rust")), abi.LanguageRust},
		{custom("producers", producers("processed-by", "rustc")), abi.LanguageRust},
		{custom("producers", producers("processed-by", "clang")), abi.LanguageC},
		{custom("producers", producers("language", "C11")), abi.LanguageC},
		{custom("producers", producers("processed-by", "Zig")), abi.LanguageZig},
		{custom("producers", producers("processed-by", "wasm-opt")), abi.LanguageUnknown},
		{custom("producers", []byte{0x05, 0xff}), abi.LanguageUnknown}, // malformed
		{[]byte("\x00asm\x01\x00\x00\x00"), abi.LanguageUnknown},
	}
	for i, c := range cases {
		got, from := guessLanguage(c.wasm)
		if got != c.want {
			t.Errorf("case %d: %v (%s), want %v", i, got, from, c.want)
		}
		if (got == abi.LanguageUnknown) != (from == "") {
			t.Errorf("case %d: language %v with evidence %q", i, got, from)
		}
	}
}
