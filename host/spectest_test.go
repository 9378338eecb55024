package host

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The WebAssembly specification's test suite, as the wazero module ships
// it (internal/integration_test/spectest: wast2json's commands and the
// binary modules they name), replayed through the rewriter.
//
// Run: v1 (WebAssembly 1.0, with wazero's 1.0 features) and v2
// (WebAssembly 2.0, the features the host runs: multi-value, bulk memory,
// reference types, SIMD, non-trapping conversions, sign extension).
// Not run, as the host refuses these features at load: tail-call
// (return_call; instrument refuses it), threads, exception-handling,
// extended-const and typed-function-references (outside
// api.CoreFeaturesV2, so wazero's validation refuses them). No file of
// v1 or v2 is skipped.
var specSuites = []struct {
	dir      string
	features api.CoreFeatures
}{
	{"v1", api.CoreFeaturesV1},
	{"v2", api.CoreFeaturesV2},
}

// wazeroAccepts lists the invalid modules of the suite that wazero accepts:
// constant expressions that read a mutable imported global. The rewriter
// refuses them, and with it Engine.Compile.
var wazeroAccepts = map[string]bool{
	"v2/data.57.wasm": true, "v2/data.60.wasm": true,
	"v2/elem.47.wasm": true, "v2/elem.50.wasm": true,
	"v2/global.22.wasm": true,
}

// specDir returns wazero's spectest directory in the module cache.
func specDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero").Output()
	if err != nil {
		t.Fatalf("locating the wazero module (go list -m): %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "internal", "integration_test", "spectest")
	if _, err := os.Stat(filepath.Join(dir, "testdata", "spectest.wasm")); err != nil {
		t.Fatalf("the spec test suite is missing from the module cache (go mod download github.com/tetratelabs/wazero): %v", err)
	}
	return dir
}

type specFile struct {
	Commands []specCommand `json:"commands"`
}

type specCommand struct {
	Type       string      `json:"type"`
	Line       int         `json:"line"`
	Name       string      `json:"name"`
	Filename   string      `json:"filename"`
	As         string      `json:"as"`
	Action     specAction  `json:"action"`
	ModuleType string      `json:"module_type"`
	Text       string      `json:"text"`
	Expected   []specValue `json:"expected"`
}

type specAction struct {
	Type   string      `json:"type"`
	Module string      `json:"module"`
	Field  string      `json:"field"`
	Args   []specValue `json:"args"`
}

type specValue struct {
	Type     string `json:"type"`
	LaneType string `json:"lane_type"`
	Value    any    `json:"value"`
}

// encode returns v as wazero passes it: one uint64, or two for a v128.
func (v specValue) encode() ([]uint64, error) {
	switch v.Type {
	case "i32", "f32":
		s, _ := v.Value.(string)
		n, err := strconv.ParseUint(s, 10, 32)
		return []uint64{n}, err
	case "i64", "f64":
		s, _ := v.Value.(string)
		n, err := strconv.ParseUint(s, 10, 64)
		return []uint64{n}, err
	case "funcref":
		return []uint64{0}, nil // always null in the suite
	case "externref":
		s, _ := v.Value.(string)
		if s == "null" {
			return []uint64{0}, nil
		}
		n, err := strconv.ParseUint(s, 10, 64)
		return []uint64{n + 1}, err // 0 is null in wazero
	case "v128":
		lanes, _ := v.Value.([]any)
		bits := map[string]int{"i8": 8, "i16": 16, "i32": 32, "f32": 32, "i64": 64, "f64": 64}[v.LaneType]
		if bits == 0 || len(lanes)*bits != 128 {
			return nil, fmt.Errorf("v128 of %d %q lanes", len(lanes), v.LaneType)
		}
		var w [2]uint64
		for i, l := range lanes {
			s, _ := l.(string)
			n, err := strconv.ParseUint(s, 10, bits)
			if err != nil {
				return nil, err
			}
			pos := i * bits
			w[pos/64] |= n << (pos % 64)
		}
		return w[:], nil
	}
	return nil, fmt.Errorf("unknown value type %q", v.Type)
}

// specSide is one of the two runs of a spec file: the original modules in
// plain wazero, or their rewritten form.
type specSide struct {
	rt        wazero.Runtime
	rewritten bool
	named     map[string]api.Module
	last      api.Module
	all       []api.Module
}

// compile compiles wasm as this side does: as it is, or rewritten.
func (s *specSide) compile(ctx context.Context, wasm []byte) (wazero.CompiledModule, error) {
	if s.rewritten {
		ins, err := instrument(wasm)
		if err != nil {
			return nil, err
		}
		wasm = ins.wasm
	}
	return s.rt.CompileModule(ctx, wasm)
}

func (s *specSide) instantiate(ctx context.Context, wasm []byte, name string) (api.Module, error) {
	cm, err := s.compile(ctx, wasm)
	if err != nil {
		return nil, err
	}
	mc := wazero.NewModuleConfig().WithName(name)
	if s.rewritten {
		mc = mc.WithStartFunctions("_start", exportStart)
	}
	mod, err := s.rt.InstantiateModule(ctx, cm, mc)
	if err == nil {
		s.all = append(s.all, mod)
	}
	return mod, err
}

// invoke calls an export. On the rewritten side every module's depth is
// reset first, as the host does by replacing an instance after a trap.
func (s *specSide) invoke(ctx context.Context, a specAction) ([]uint64, []api.ValueType, error) {
	m := s.last
	if a.Module != "" {
		m = s.named[a.Module]
	}
	if m == nil {
		return nil, nil, fmt.Errorf("no module to invoke %q in", a.Field)
	}
	if s.rewritten {
		for _, mod := range s.all {
			if g, ok := mod.ExportedGlobal(exportDepth).(api.MutableGlobal); ok {
				g.Set(0)
			}
		}
	}
	if a.Type == "get" {
		g := m.ExportedGlobal(a.Field)
		if g == nil {
			return nil, nil, fmt.Errorf("no global %q", a.Field)
		}
		return []uint64{g.Get()}, []api.ValueType{g.Type()}, nil
	}
	fn := m.ExportedFunction(a.Field)
	if fn == nil {
		return nil, nil, fmt.Errorf("no function %q", a.Field)
	}
	var args []uint64
	for _, v := range a.Args {
		w, err := v.encode()
		if err != nil {
			return nil, nil, err
		}
		args = append(args, w...)
	}
	res, err := fn.Call(ctx, args...)
	return res, fn.Definition().ResultTypes(), err
}

// firstLine is an error's message without wazero's stack trace.
func firstLine(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// Value types api does not name.
const (
	valueTypeFuncref api.ValueType = 0x70
	valueTypeV128    api.ValueType = 0x7b
)

// sameResults compares results by type: references by null-ness (function
// references are addresses in their own runtime), the rest bit for bit.
func sameResults(a, b []uint64, types []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if i < len(types) && types[i] == valueTypeFuncref {
			if (a[i] == 0) != (b[i] == 0) {
				return false
			}
		} else if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSpecRewrite guards issue #8 (item 2): every module and assertion of
// the WebAssembly spec test suite behaves the same before and after the
// rewrite. Malformed and invalid modules stay rejected by the rewriter
// alone, without the validation Engine.Compile runs first (the rewriter is
// strict by itself); valid modules are accepted; every action returns the
// same results, bit for bit, or the same trap; stack exhaustion is a trap
// on both sides (the host's limit comes first on the rewritten one).
func TestSpecRewrite(t *testing.T) {
	dir := specDir(t)
	spectest, err := os.ReadFile(filepath.Join(dir, "testdata", "spectest.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range specSuites {
		files, err := filepath.Glob(filepath.Join(dir, suite.dir, "testdata", "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no spec files in %s: %v", filepath.Join(dir, suite.dir, "testdata"), err)
		}
		for _, f := range files {
			name := suite.dir + "/" + strings.TrimSuffix(filepath.Base(f), ".json")
			t.Run(name, func(t *testing.T) { runSpecFile(t, suite.dir, f, suite.features, spectest) })
		}
	}
}

func runSpecFile(t *testing.T, suite, path string, features api.CoreFeatures, spectest []byte) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sf specFile
	if err := json.Unmarshal(raw, &sf); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	config := wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features)
	orig := &specSide{rt: wazero.NewRuntimeWithConfig(ctx, config), named: map[string]api.Module{}}
	t.Cleanup(func() { orig.rt.Close(context.Background()) })
	rew := &specSide{rt: bareRuntimeWith(t, config, nil), rewritten: true, named: map[string]api.Module{}}
	for _, s := range []*specSide{orig, rew} {
		if _, err := s.rt.InstantiateWithConfig(ctx, spectest, wazero.NewModuleConfig()); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Dir(path)
	read := func(c specCommand) []byte {
		b, err := os.ReadFile(filepath.Join(dir, c.Filename))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	failures := 0
	for i := 0; i < len(sf.Commands) && failures < 20; i++ {
		c := sf.Commands[i]
		at := fmt.Sprintf("line %d: %s", c.Line, c.Type)
		fail := func(format string, args ...any) {
			failures++
			t.Errorf("%s: %s", at, fmt.Sprintf(format, args...))
		}
		switch c.Type {
		case "module":
			wasm := read(c)
			name := ""
			if i+1 < len(sf.Commands) && sf.Commands[i+1].Type == "register" {
				name = sf.Commands[i+1].As
				i++
			}
			mo, eo := orig.instantiate(ctx, wasm, name)
			mr, er := rew.instantiate(ctx, wasm, name)
			if eo != nil {
				fail("the original module is refused: %v", eo)
			}
			if er != nil {
				fail("the rewritten module is refused: %v", er)
			}
			orig.last, rew.last = mo, mr
			if c.Name != "" {
				orig.named[c.Name], rew.named[c.Name] = mo, mr
			}
		case "register":
			fail("register apart from its module is not supported")
		case "assert_return", "action", "assert_trap", "assert_exhaustion":
			ro, types, eo := orig.invoke(ctx, c.Action)
			rr, _, er := rew.invoke(ctx, c.Action)
			switch {
			case c.Type == "assert_return" && eo != nil:
				fail("%s: the original fails: %v", c.Action.Field, eo)
			case (c.Type == "assert_trap" || c.Type == "assert_exhaustion") && eo == nil:
				fail("%s: the original does not trap", c.Action.Field)
			case (eo == nil) != (er == nil):
				fail("%s: original: %v, %v; rewritten: %v, %v", c.Action.Field, ro, eo, rr, er)
			case eo == nil && !sameResults(ro, rr, types):
				fail("%s: original returns %v, rewritten %v", c.Action.Field, ro, rr)
			case eo != nil && c.Type == "assert_exhaustion":
				if firstLine(er) != firstLine(eo) && !strings.Contains(er.Error(), "call stack exhausted") {
					fail("%s: original: %v; rewritten: %v", c.Action.Field, firstLine(eo), firstLine(er))
				}
			case eo != nil && firstLine(eo) != firstLine(er):
				fail("%s: original traps with %q, rewritten with %q", c.Action.Field, firstLine(eo), firstLine(er))
			}
		case "assert_invalid", "assert_malformed":
			if c.ModuleType == "text" {
				continue // no binary to check
			}
			wasm := read(c)
			cm, err := orig.compile(ctx, wasm)
			if err == nil {
				cm.Close(ctx)
			}
			if accepts := wazeroAccepts[suite+"/"+c.Filename]; (err == nil) != accepts {
				fail("%s: wazero accepts the original (%s): %v; listed in wazeroAccepts: %v", c.Filename, c.Text, err == nil, accepts)
			}
			if cm, err := rew.compile(ctx, wasm); err == nil {
				cm.Close(ctx)
				fail("%s: the rewrite made an invalid module (%s) valid", c.Filename, c.Text)
			}
		case "assert_unlinkable", "assert_uninstantiable":
			if c.ModuleType == "text" {
				continue
			}
			wasm := read(c)
			_, eo := orig.instantiate(ctx, wasm, "")
			_, er := rew.instantiate(ctx, wasm, "")
			if (eo == nil) != (er == nil) {
				fail("%s: original: %v; rewritten: %v", c.Filename, eo, er)
			}
		default:
			fail("unknown command")
		}
	}
}
