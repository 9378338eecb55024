package wasmstream_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wasmstream/wasmstream/abi"
)

// TestWasip1Build builds every Go example for GOOS=wasip1 as a reactor, the
// way users build operators, so that a change that breaks the Wasm build of
// the SDK fails the test suite, and checks each module's exports and host
// imports against the ABI's names and signatures.
func TestWasip1Build(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the examples for wasip1: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	const (
		i32 = 0x7f
		i64 = 0x7e
		f64 = 0x7c
	)
	wantExports := map[string]funcType{
		abi.ExportABIVersion: {nil, []byte{i32}},
		abi.ExportLanguage:   {nil, []byte{i32}},
		abi.ExportAlloc:      {[]byte{i32}, []byte{i32}},
		abi.ExportDealloc:    {[]byte{i32, i32}, nil},
		abi.ExportInit:       {[]byte{i32, i32}, []byte{i32}},
		abi.ExportProcess:    {[]byte{i32, i32}, []byte{i64}},
		abi.ExportInitialize: {nil, nil},
	}
	hostImports := map[string]funcType{
		abi.ImportSetError:    {[]byte{i32, i32}, nil},
		abi.ImportLog:         {[]byte{i32, i32, i32}, nil},
		abi.ImportMetricAdd:   {[]byte{i32, i32, i64}, nil},
		abi.ImportStateGet:    {[]byte{i32, i32, i32, i32, i32, i32, i32}, []byte{i64}},
		abi.ImportStatePut:    {[]byte{i32, i32, i32, i32, i32, i32, i32, i64}, []byte{i32}},
		abi.ImportStateDelete: {[]byte{i32, i32, i32, i32, i32}, []byte{i32}},
		abi.ImportStateAdd:    {[]byte{i32, i32, i32, i32, i32, i64, i32}, []byte{i32}},
		abi.ImportStateAppend: {[]byte{i32, i32, i32, i32, i32, i32, i32}, []byte{i32}},
		abi.ImportStateAddF64: {[]byte{i32, i32, i32, i32, i32, f64, i32}, []byte{i32}},
		abi.ImportAsyncSubmit: {[]byte{i32, i32}, []byte{i64}},
	}
	for _, pkg := range []string{"examples/wasm/uppercase/go", "examples/wasm/router", "examples/wasm/conformance/go", "examples/wasm/wordcount/go"} {
		t.Run(pkg, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "op.wasm")
			cmd := exec.CommandContext(t.Context(), goTool, "build", "-buildmode=c-shared", "-o", out, "./"+pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared ./%s: %v\n%s", pkg, err, msg)
			}
			code, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			m, err := parseModule(code)
			if err != nil {
				t.Fatalf("reading %s: %v", out, err)
			}
			for name, want := range wantExports {
				got, ok := m.exports[name]
				if !ok {
					t.Errorf("export %q missing", name)
				} else if !got.equal(want) {
					t.Errorf("export %q is %v, want %v", name, got, want)
				}
			}
			if !m.memory {
				t.Errorf("export %q missing", abi.ExportMemory)
			}
			for name, got := range m.imports[abi.HostModule] {
				want, ok := hostImports[name]
				if !ok {
					t.Errorf("imports %s.%s, which ABI v1 hosts do not provide", abi.HostModule, name)
				} else if !got.equal(want) {
					t.Errorf("import %s.%s is %v, want %v", abi.HostModule, name, got, want)
				}
			}
			for module := range m.imports {
				if module != abi.HostModule && module != abi.WASIModule {
					t.Errorf("imports from module %q; hosts provide only %q and %q", module, abi.HostModule, abi.WASIModule)
				}
			}
			if _, ok := m.imports[abi.HostModule][abi.ImportSetError]; !ok {
				t.Errorf("does not import %s.%s, through which it reports errors", abi.HostModule, abi.ImportSetError)
			}
		})
	}
}

type funcType struct{ params, results []byte }

func (f funcType) equal(g funcType) bool {
	return bytes.Equal(f.params, g.params) && bytes.Equal(f.results, g.results)
}

func (f funcType) String() string {
	names := func(ts []byte) string {
		var s []string
		for _, t := range ts {
			s = append(s, map[byte]string{0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64"}[t])
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(f.params) + " -> " + names(f.results)
}

// module is what TestWasip1Build reads from a Wasm binary: its function
// imports and exports with their types.
type module struct {
	imports map[string]map[string]funcType // module -> name -> type
	exports map[string]funcType
	memory  bool // exports "memory"
}

// parseModule reads the type, import, function and export sections of a
// Wasm binary.
func parseModule(b []byte) (*module, error) {
	if len(b) < 8 || !bytes.Equal(b[:4], []byte("\x00asm")) || binary.LittleEndian.Uint32(b[4:]) != 1 {
		return nil, errors.New("not a Wasm version 1 binary")
	}
	m := &module{imports: map[string]map[string]funcType{}, exports: map[string]funcType{}}
	var types []funcType
	var funcs []uint32 // type index of each function, imported ones first
	var exports []struct {
		name  string
		kind  byte
		index uint32
	}
	r := &wasmReader{b: b[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		sec := &wasmReader{b: r.bytes(int(r.u32()))}
		switch id {
		case 1: // types
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				if sec.byte() != 0x60 {
					return nil, errors.New("type section: not a function type")
				}
				var f funcType
				f.params = slices.Clone(sec.bytes(int(sec.u32())))
				f.results = slices.Clone(sec.bytes(int(sec.u32())))
				types = append(types, f)
			}
		case 2: // imports
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				mod, name := sec.name(), sec.name()
				switch kind := sec.byte(); kind {
				case 0: // function
					ti := sec.u32()
					funcs = append(funcs, ti)
					if int(ti) >= len(types) {
						return nil, fmt.Errorf("import %s.%s: type %d out of range", mod, name, ti)
					}
					if m.imports[mod] == nil {
						m.imports[mod] = map[string]funcType{}
					}
					m.imports[mod][name] = types[ti]
				case 1: // table: reftype, limits
					sec.byte()
					sec.limits()
				case 2: // memory
					sec.limits()
				case 3: // global: valtype, mutability
					sec.byte()
					sec.byte()
				default:
					return nil, fmt.Errorf("import %s.%s: unknown kind %d", mod, name, kind)
				}
			}
		case 3: // functions
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				funcs = append(funcs, sec.u32())
			}
		case 7: // exports
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				e := struct {
					name  string
					kind  byte
					index uint32
				}{sec.name(), sec.byte(), sec.u32()}
				exports = append(exports, e)
			}
		}
		if sec.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, e := range exports {
		switch e.kind {
		case 0:
			if int(e.index) >= len(funcs) || int(funcs[e.index]) >= len(types) {
				return nil, fmt.Errorf("export %q: function %d out of range", e.name, e.index)
			}
			m.exports[e.name] = types[funcs[e.index]]
		case 2:
			m.memory = m.memory || e.name == abi.ExportMemory
		}
	}
	return m, nil
}

type wasmReader struct {
	b   []byte
	err error
}

func (r *wasmReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("truncated %s", what)
	}
	r.b = nil
}

func (r *wasmReader) byte() byte {
	if len(r.b) == 0 {
		r.fail("byte")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128")
	return 0
}

func (r *wasmReader) bytes(n int) []byte {
	if n > len(r.b) {
		r.fail("vector")
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *wasmReader) name() string { return string(r.bytes(int(r.u32()))) }

func (r *wasmReader) limits() {
	if r.byte()&1 != 0 {
		r.u32()
	}
	r.u32()
}
