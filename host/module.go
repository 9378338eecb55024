package host

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmstream/wasmstream/abi"
)

// SupportedVersions lists the ABI versions this host runs.
var SupportedVersions = []int{abi.Version}

// Module is a compiled, ABI-checked guest module. Safe for concurrent use.
type Module struct {
	engine   *Engine
	name     string
	digest   string
	key      string // the engine's cache key (moduleKey)
	size     int
	compiled wazero.CompiledModule
	info     Info
	hasStart bool // the module's start function is exported as exportStart
	// preempt: the module was rewritten (instrument.go), so a call can be
	// stopped at its deadline. Without it the module is as the guest built
	// it: it has no exportStart or exportDepth, and its start function runs
	// during instantiation.
	preempt bool
}

func (m *Module) withName(name string) *Module {
	c := *m
	c.name = name
	return &c
}

// Name is the module's path or the name it was compiled under.
func (m *Module) Name() string { return m.name }

// Digest is the SHA-256 of the module's bytes, in hex.
func (m *Module) Digest() string { return m.digest }

// Info describes the module.
func (m *Module) Info() Info { return m.info }

// Preemptive reports whether the module was compiled with preemption (see
// WithPreemption): a call past its deadline is stopped.
func (m *Module) Preemptive() bool { return m.preempt }

// Info is what a module declares.
type Info struct {
	Size       int
	ABIVersion int
	Language   abi.Language
	// LanguageFrom says how Language was learnt: the wasmstream_language
	// export, or a custom section when the module has no such export.
	LanguageFrom string
	Exports      []Func
	Imports      []Func
	// MemoryMin and MemoryMax are in 64 KiB pages; MemoryMax is 0 when
	// the module sets no maximum.
	MemoryMin, MemoryMax uint32
	HasMemory            bool
}

// Func is an exported or imported function.
type Func struct {
	Module  string // import module; "" for exports
	Name    string
	Params  []api.ValueType
	Results []api.ValueType
}

// Signature formats the function's type, e.g. "(i32, i32) -> i64".
func (f Func) Signature() string {
	return fmt.Sprintf("(%s) -> (%s)", types(f.Params), types(f.Results))
}

func types(ts []api.ValueType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = api.ValueTypeName(t)
	}
	return strings.Join(s, ", ")
}

// describe lists what cm declares; of a rewritten module (instrumented),
// without what the rewrite added.
func describe(cm wazero.CompiledModule, instrumented bool) Info {
	var info Info
	for name, d := range cm.ExportedFunctions() {
		if instrumented && name == exportStart {
			continue // added by instrument
		}
		info.Exports = append(info.Exports, Func{Name: name, Params: d.ParamTypes(), Results: d.ResultTypes()})
	}
	sort.Slice(info.Exports, func(i, j int) bool { return info.Exports[i].Name < info.Exports[j].Name })
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		if instrumented && (mod == yieldModule || mod == stackModule) {
			continue // added by instrument; a module as built is refused them (check)
		}
		info.Imports = append(info.Imports, Func{Module: mod, Name: name, Params: d.ParamTypes(), Results: d.ResultTypes()})
	}
	if mem, ok := cm.ExportedMemories()[abi.ExportMemory]; ok {
		info.HasMemory = true
		info.MemoryMin = mem.Min()
		if max, ok := mem.Max(); ok {
			info.MemoryMax = max
		}
	}
	return info
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// required guest exports and their signatures.
var requiredExports = []Func{
	{Name: abi.ExportABIVersion, Results: []api.ValueType{i32}},
	{Name: abi.ExportAlloc, Params: []api.ValueType{i32}, Results: []api.ValueType{i32}},
	{Name: abi.ExportProcess, Params: []api.ValueType{i32, i32}, Results: []api.ValueType{i64}},
}

var optionalExports = []Func{
	{Name: abi.ExportDealloc, Params: []api.ValueType{i32, i32}},
	{Name: abi.ExportInit, Params: []api.ValueType{i32, i32}, Results: []api.ValueType{i32}},
	{Name: abi.ExportLanguage, Results: []api.ValueType{i32}},
	{Name: abi.ExportInitialize},
}

// maxProblems bounds the problems one refused module's error lists.
const maxProblems = 20

// check validates exports and imports, then runs a probe instance to read the
// declared ABI version.
func (m *Module) check(ctx context.Context) error {
	var problems []string
	exports := map[string]Func{}
	for _, f := range m.info.Exports {
		exports[f.Name] = f
	}
	checkSig := func(want Func, required bool) {
		got, ok := exports[want.Name]
		if !ok {
			if required {
				problems = append(problems, fmt.Sprintf("missing required export %q %s", want.Name, want.Signature()))
			}
			return
		}
		if got.Signature() != want.Signature() {
			problems = append(problems, fmt.Sprintf("export %q has type %s, want %s", want.Name, got.Signature(), want.Signature()))
		}
	}
	for _, f := range requiredExports {
		checkSig(f, true)
	}
	for _, f := range optionalExports {
		checkSig(f, false)
	}
	if !m.info.HasMemory {
		problems = append(problems, fmt.Sprintf("missing required export %q (the module's linear memory)", abi.ExportMemory))
	}
	for _, imp := range m.info.Imports {
		// Import names are the module author's bytes: escaped and cut
		// before they reach an error message.
		impName := guestText([]byte(imp.Module), len(imp.Module)) + "." + guestText([]byte(imp.Name), len(imp.Name))
		switch imp.Module {
		case abi.WASIModule:
		case abi.HostModule:
			want, ok := hostFuncs[imp.Name]
			if !ok {
				if reserved[imp.Name] {
					problems = append(problems, fmt.Sprintf("imports %s, which ABI version 1 reserves but this host does not implement yet (implemented: %s)",
						impName, strings.Join(hostFuncNames(), ", ")))
				} else {
					problems = append(problems, fmt.Sprintf("imports unknown host function %s (the host provides: %s)",
						impName, strings.Join(hostFuncNames(), ", ")))
				}
				continue
			}
			if sig := (Func{Params: want.params, Results: want.results}).Signature(); imp.Signature() != sig {
				problems = append(problems, fmt.Sprintf("imports %s with type %s, want %s", impName, imp.Signature(), sig))
			}
		default:
			problems = append(problems, fmt.Sprintf("imports %s; the host provides only the %q and %q modules",
				impName, abi.WASIModule, abi.HostModule))
		}
	}
	if len(problems) > 0 {
		// A module may declare thousands of bad imports: the message lists
		// the first maxProblems and counts the rest.
		if n := len(problems); n > maxProblems {
			problems = append(problems[:maxProblems], fmt.Sprintf("and %d more problems", n-maxProblems))
		}
		return &ModuleError{Module: m.name, Err: fmt.Errorf("not a wasmstream operator module:\n  - %s", strings.Join(problems, "\n  - "))}
	}
	inst, err := m.instantiate(ctx, InstanceConfig{Pipeline: "(probe)", Operator: "(probe)", Deadline: m.engine.loadDeadline})
	if err != nil {
		return err
	}
	defer inst.Close(ctx)
	v, err := inst.callI32(ctx, inst.abiVersion)
	if err != nil {
		return &ModuleError{Module: m.name, Err: fmt.Errorf("calling %s: %w", abi.ExportABIVersion, err)}
	}
	m.info.ABIVersion = int(v)
	supported := false
	for _, s := range SupportedVersions {
		supported = supported || s == int(v)
	}
	if !supported {
		return &ModuleError{Module: m.name, Err: fmt.Errorf("%w: the module speaks ABI version %d; this host supports %v", ErrUnsupportedABI, v, SupportedVersions)}
	}
	if f := inst.mod.ExportedFunction(abi.ExportLanguage); f != nil {
		if l, err := inst.callI32(ctx, f); err == nil {
			m.info.Language, m.info.LanguageFrom = abi.Language(l), "the "+abi.ExportLanguage+" export"
		}
	}
	return nil
}
