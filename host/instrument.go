package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Deadlines and bounds without wazero's context checks.
//
// wazero can stop a running guest when its context is done
// (RuntimeConfig.WithCloseOnContextDone), but it does so by leaving compiled
// code for Go at every loop header to look at the context: on a tight guest
// loop that costs several times the loop itself. Nor can a guest simply be
// left to run: compiled code cannot be preempted, so a guest in a long loop
// holds up every stop-the-world pause of Go's garbage collector, and with it
// the whole process.
//
// Instead, the host rewrites each module once, before compiling it, after
// wazero has validated the original bytes (Engine.Compile):
//
//   - three mutable i32 globals are appended (the fuel, the call depth
//     and the count of table elements), a type for each host function and
//     one for each multi-value function result (the blocks below), and
//     two host functions are imported after the module's own imports:
//     yieldModule.yieldName (() -> i32) and stackModule.stackName
//     (() -> ()); defined functions move up two indices, and every
//     reference to them (calls, ref.func, exports, element segments, the
//     name section) is renumbered;
//   - every loop header and every function entry takes one unit of fuel,
//     and the bulk instructions (memory.copy, memory.fill, memory.init,
//     table.copy, table.fill, table.init) take fuel by their length; when
//     the fuel runs out the guest calls the host, which returns a new
//     allowance after checking the call's deadline (an overrun ends the
//     call) and giving Go's scheduler a safe point;
//   - every function entry adds the function's frame weight (frameWeight)
//     to the depth, and every exit takes it off again; past maxStackUnits
//     the guest calls stackModule.stackName, which ends the call with a
//     trap, long before wazero's own stack (up to 400 MB) would overflow;
//   - table.grow returns -1, as the specification allows, when it would
//     take the module's tables past maxTableElements in all: a third
//     appended global counts their elements (a module whose tables start
//     larger is refused);
//   - a start section is removed and its function exported as exportStart,
//     so the host calls it under a deadline like any other call; the depth
//     is exported as exportDepth, so that a caller that keeps an instance
//     after a trap can reset it.
//
// Code between two fuel checks is straight-line code of one function
// body, or one bulk instruction whose work was charged before it ran, so
// every call returns to Go within about fuelPerYield units of work. Tail
// calls, which could loop without a function entry, are refused.
//
// See RATIONALE.md for the costs and the reasons for these numbers.
const (
	yieldModule  = "wasmstream.runtime"
	yieldName    = "yield"
	stackModule  = "wasmstream.stack"
	stackName    = "exhausted"
	exportStart  = "wasmstream.start"
	exportDepth  = "wasmstream.depth"
	fuelPerYield = 1 << 16

	// memoryFuelShift: a bulk memory instruction takes one unit of fuel
	// per 16 bytes, about what one loop iteration costs.
	memoryFuelShift = 4
	// tableFuelShift: a bulk table instruction takes one unit per 4
	// elements.
	tableFuelShift = 2
	// maxTableElements caps the elements of a module's tables together:
	// 8 MiB of host memory at 8 bytes an element.
	maxTableElements = 1 << 20
	// maxStackUnits bounds the sum of the frame weights of the active
	// calls: 32,768 calls of small functions. A unit is about 80 bytes of
	// wazero's stack, so the stack stays under 3 MiB.
	maxStackUnits  = 1 << 15
	stackUnitBytes = 80
	// maxFrameWeight keeps one frame's weight, and so the depth global,
	// far from overflowing.
	maxFrameWeight = 1 << 10
)

// frameWeight estimates, in stack units, the frame of a function with n
// locals (parameters included) and a body of size bytes: a frame holds its
// locals and the values its code keeps live, which grow with its size.
// Measured: a small function's frame takes 80 bytes, and one with 21 i64
// locals 240.
func frameWeight(n uint64, size int) uint32 {
	w := 1 + n/8 + uint64(size)/1024
	if w > maxFrameWeight {
		w = maxFrameWeight
	}
	return uint32(w)
}

// errStackExhausted ends a call whose depth passed maxStackUnits.
var errStackExhausted = fmt.Errorf("call stack exhausted: the active calls passed the host's limit of %d frames of small functions (about %d KiB of stack)",
	maxStackUnits, maxStackUnits*stackUnitBytes>>10)

// stackExhausted is the host function stackModule.stackName.
func stackExhausted(context.Context, api.Module, []uint64) { panic(errStackExhausted) }

// instantiateStackModule adds stackModule to rt; instrumented modules
// import it besides yieldModule.
func instantiateStackModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(stackModule)
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(stackExhausted), nil, nil).Export(stackName)
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiating the %s host module: %w", stackModule, err)
	}
	return nil
}

// instrumented is a rewritten module.
type instrumented struct {
	wasm     []byte
	hasStart bool // the start function is exported as exportStart
	checks   int  // loop headers and function entries that take one unit of fuel
	bulk     int  // bulk instructions that take fuel by length
	grows    int  // table.grow instructions bounded by maxTableElements
}

// errInstrument wraps every rewriting failure.
var errInstrument = errors.New("invalid module")

type section struct {
	id   byte
	body []byte
}

// sectionRank orders known sections as the binary format requires.
func sectionRank(id byte) int {
	switch id {
	case 1, 2, 3, 4, 5:
		return int(id)
	case 13: // tag
		return 6
	case 6, 7, 8, 9:
		return int(id) + 1
	case 12: // data count
		return 11
	case 10:
		return 12
	case 11:
		return 13
	}
	return 0 // custom
}

// funcType is what the rewriter needs of a function type.
type funcType struct {
	params  uint32
	results []byte // value types
}

// rewriter holds what renumbering and instrumenting need. Every index it
// reads is checked against the module's own index spaces, so that no
// reference can reach what the rewriter adds even without validation.
type rewriter struct {
	types          []funcType
	funcTypes      []uint32 // type index of every function, imports first
	importedFuncs  uint32   // defined functions start here, before the shift
	globals        uint32   // imported and defined globals
	importedGlobal uint32   // imported globals
	mutable        []bool   // of every global, imports first
	tableTypes     []byte   // element type of every table, imports first
	fuel, depth    uint32   // global indices of what is appended
	elems          uint32   // global index of the count of table elements
	tableElems     uint64   // the defined tables' initial elements
	yield, stack   uint32   // function indices of the imports added
	blockTypes     map[string]uint32
	extraTypes     [][]byte // () -> results types, for function-body blocks
	checks, bulk   int
	grows          int

	// declared holds the functions ref.func may name in function bodies:
	// those named outside them (exports, element segments, globals).
	declared map[uint32]bool
	// initGlobals is set while a global's initializer is read.
	initGlobals bool

	// The function body being rewritten.
	locals      uint32 // its locals, parameters included: the first scratch local
	usedScratch bool
	weight      uint32
}

const addedFuncs = 2 // yield and stack

// fn renumbers a function index, which must be one the module has.
func (w *rewriter) fn(r *reader, idx uint32) uint32 {
	if idx >= uint32(len(w.funcTypes)) {
		r.fail("function index %d out of range (%d functions)", idx, len(w.funcTypes))
		return 0
	}
	if idx >= w.importedFuncs {
		return idx + addedFuncs
	}
	return idx
}

func (w *rewriter) global(r *reader, idx uint32) {
	if idx >= w.globals {
		r.fail("global index %d out of range (%d globals)", idx, w.globals)
	}
}

func (w *rewriter) typeIdx(r *reader, idx uint32) {
	if idx >= uint32(len(w.types)) {
		r.fail("type index %d out of range (%d types)", idx, len(w.types))
	}
}

func (w *rewriter) table(r *reader, idx uint32) byte {
	if idx >= uint32(len(w.tableTypes)) {
		r.fail("table index %d out of range (%d tables)", idx, len(w.tableTypes))
		return 0x70
	}
	return w.tableTypes[idx]
}

// splitSections reads a module's header and sections, with no vector
// longer than its section. Engine.Compile runs it
// before wazero's validation: wazero's decoder allocates for a vector's
// declared length before it reads its entries.
func splitSections(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: not a WebAssembly binary", errInstrument)
	}
	if v := binary.LittleEndian.Uint32(wasm[4:8]); v != 1 {
		return nil, fmt.Errorf("%w: binary format version %d, want 1", errInstrument, v)
	}
	var sections []section
	r := reader{b: wasm, off: 8}
	for r.off < len(r.b) {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, r.err
		}
		rank := sectionRank(id)
		if rank == 0 && id != 0 {
			return nil, fmt.Errorf("%w: unknown section id %d", errInstrument, id)
		}
		if rank > 0 && id != 8 && id != 12 {
			// Every vector entry takes at least one byte: a larger count
			// is malformed (and would make a decoder allocate for it).
			sr := reader{b: body}
			if n := sr.u32(); sr.err != nil || int(n) > len(body)-sr.off {
				return nil, fmt.Errorf("%w: section %d declares %d entries in %d bytes", errInstrument, id, n, len(body))
			}
		}
		sections = append(sections, section{id: id, body: body})
	}
	return sections, nil
}

// instrument rewrites a module for deadlines and bounds (see above). It
// reads every section and every instruction of every function body, so
// that loop headers, exits and function references are found exactly;
// anything it cannot read, an out-of-range index and trailing bytes are
// errors naming the offset. It is meant for modules wazero has validated,
// but it does not depend on that to keep what it adds out of the guest's
// reach.
func instrument(wasm []byte) (*instrumented, error) {
	sections, err := splitSections(wasm)
	if err != nil {
		return nil, err
	}
	lastRank := 0
	for _, s := range sections {
		switch rank := sectionRank(s.id); {
		case rank > 0 && rank <= lastRank:
			return nil, fmt.Errorf("%w: section %d is repeated or out of order", errInstrument, s.id)
		case rank > 0:
			lastRank = rank
		}
	}
	w := rewriter{blockTypes: map[string]uint32{}, declared: map[uint32]bool{}}
	var (
		definedGlobals uint32
		startFunc      = -1
		definedFuncs   uint32
		codeCount      = -1
	)
	for _, s := range sections {
		sr := reader{b: s.body}
		switch s.id {
		case 1:
			w.readTypes(&sr)
		case 2:
			w.readImports(&sr)
		case 3:
			definedFuncs = sr.u32()
			for i := uint32(0); i < definedFuncs && sr.err == nil; i++ {
				t := sr.u32()
				w.typeIdx(&sr, t)
				w.funcTypes = append(w.funcTypes, t)
			}
		case 4:
			for n := sr.u32(); n > 0 && sr.err == nil; n-- {
				w.tableTypes = append(w.tableTypes, sr.refType())
				w.tableElems += uint64(sr.limits())
				if w.tableElems > maxTableElements {
					sr.fail("tables of %d elements; the host allows at most %d", w.tableElems, maxTableElements)
				}
			}
		case 5:
			for n := sr.u32(); n > 0 && sr.err == nil; n-- {
				sr.limits()
			}
		case 6:
			definedGlobals = sr.u32()
			w.globals += definedGlobals
			sr.off = len(sr.b) // read, with the initializers, below
		case 8:
			start := sr.u32()
			w.fn(&sr, start)
			if sr.err == nil {
				if t := w.types[w.funcTypes[start]]; t.params != 0 || len(t.results) != 0 {
					sr.fail("start function %d has parameters or results", start)
				}
			}
			startFunc = int(start)
		case 10:
			codeCount = int(sr.u32())
			sr.off = len(sr.b)
		case 12:
			if unterminated(sr.b) {
				sr.off = len(sr.b) // wazero reads a count cut short as none
			} else {
				sr.u32()
			}
		default:
			sr.off = len(sr.b)
		}
		if sr.err == nil && sr.off != len(sr.b) {
			sr.fail("%d trailing bytes", len(sr.b)-sr.off)
		}
		if sr.err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, sr.err)
		}
	}
	if codeCount < 0 && definedFuncs > 0 || codeCount >= 0 && uint32(codeCount) != definedFuncs {
		return nil, fmt.Errorf("%w: %d functions declared, %d bodies", errInstrument, definedFuncs, max(codeCount, 0))
	}
	w.fuel = w.globals
	w.depth = w.globals + 1
	w.elems = w.globals + 2
	w.yield = w.importedFuncs
	w.stack = w.importedFuncs + 1
	nTypes := uint32(len(w.types))

	out := &instrumented{hasStart: startFunc >= 0}
	added := map[byte][]byte{} // sections the module lacks
	for idx := range sections {
		s := &sections[idx]
		sr := reader{b: s.body}
		var body []byte
		switch s.id {
		case 2:
			body = appendU32(nil, sr.u32()+addedFuncs)
			body = append(body, s.body[sr.off:]...)
			body = appendAddedImports(body, nTypes)
			sr.off = len(sr.b)
		case 6:
			body = w.globalSection(&sr, definedGlobals)
		case 7:
			body = w.exports(&sr, startFunc)
		case 9:
			body = w.elements(&sr)
		case 10:
			body = w.code(&sr)
		case 11:
			w.data(&sr)
			body = s.body
		case 0:
			if name := sr.name(); name == "name" && sr.err == nil {
				body = w.names(&sr)
				break
			}
			continue
		default:
			continue
		}
		if sr.err == nil && sr.off != len(sr.b) {
			sr.fail("%d trailing bytes", len(sr.b)-sr.off)
		}
		if sr.err != nil {
			if s.id == 0 {
				return nil, fmt.Errorf("the name section, which the rewriter renumbers, cannot be read exactly: %w", sr.err)
			}
			return nil, fmt.Errorf("section %d: %w", s.id, sr.err)
		}
		s.body = body
	}
	// The type section is written last: function bodies add block types.
	types := appendU32(nil, nTypes+2+uint32(len(w.extraTypes)))
	if s := findSection(sections, 1); s != nil {
		sr := reader{b: s}
		types = append(types, s[sr.skipU32():]...)
	}
	types = append(types, 0x60, 0x00, 0x01, 0x7f) // () -> i32
	types = append(types, 0x60, 0x00, 0x00)       // () -> ()
	for _, t := range w.extraTypes {
		types = append(types, 0x60, 0x00)
		types = appendU32(types, uint32(len(t)))
		types = append(types, t...)
	}
	for idx := range sections {
		if sections[idx].id == 1 {
			sections[idx].body = types
		}
	}
	if findSection(sections, 1) == nil {
		added[1] = types
	}
	if findSection(sections, 2) == nil {
		added[2] = appendAddedImports([]byte{addedFuncs}, nTypes)
	}
	if findSection(sections, 6) == nil {
		added[6] = w.globalSection(&reader{b: []byte{0}}, 0)
	}
	if findSection(sections, 7) == nil {
		added[7] = w.exports(&reader{b: []byte{0}}, startFunc)
	}
	out.checks, out.bulk, out.grows = w.checks, w.bulk, w.grows

	res := make([]byte, 0, len(wasm)+len(wasm)/4+256)
	res = append(res, wasm[:8]...)
	emit := func(id byte, body []byte) {
		res = append(res, id)
		res = appendU32(res, uint32(len(body)))
		res = append(res, body...)
	}
	// flush emits the added sections that go before a section of rank.
	flush := func(rank int) {
		for _, id := range []byte{1, 2, 6, 7} {
			if b, ok := added[id]; ok && sectionRank(id) < rank {
				emit(id, b)
				delete(added, id)
			}
		}
	}
	for i, s := range sections {
		rank := sectionRank(s.id)
		if rank > 0 {
			flush(rank)
		}
		if trailingCustom(sections[i:]) {
			// Custom sections that end a module end the rewritten one
			// too: wazero refuses an empty one at the end.
			flush(1 << 30)
		}
		if s.id == 8 {
			continue // the start section is dropped (exported instead)
		}
		emit(s.id, s.body)
	}
	flush(1 << 30)
	out.wasm = res
	return out, nil
}

// appendAddedImports appends the yield import (type typeIdx) and the stack
// import (type typeIdx+1).
// unterminated reports whether b is a LEB128 integer cut short by its
// end, before the fifth byte.
func unterminated(b []byte) bool {
	for _, c := range b {
		if c&0x80 == 0 {
			return false
		}
	}
	return len(b) < 5
}

// trailingCustom reports whether sections are all custom sections.
func trailingCustom(sections []section) bool {
	for _, s := range sections {
		if s.id != 0 {
			return false
		}
	}
	return true
}

func appendAddedImports(b []byte, typeIdx uint32) []byte {
	b = appendName(b, yieldModule)
	b = appendName(b, yieldName)
	b = append(b, 0x00)
	b = appendU32(b, typeIdx)
	b = appendName(b, stackModule)
	b = appendName(b, stackName)
	b = append(b, 0x00)
	return appendU32(b, typeIdx+1)
}

func findSection(sections []section, id byte) []byte {
	for _, s := range sections {
		if s.id == id {
			return s.body
		}
	}
	return nil
}

// readTypes reads the type section.
func (w *rewriter) readTypes(r *reader) {
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		if form := r.byte(); form != 0x60 {
			r.fail("type form 0x%02x, want a function type (0x60)", form)
			return
		}
		var t funcType
		t.params = r.u32()
		for i := t.params; i > 0 && r.err == nil; i-- {
			r.valType()
		}
		start := r.off
		for i := r.u32(); i > 0 && r.err == nil; i-- {
			r.valType()
		}
		if r.err == nil {
			rr := reader{b: r.b[start:r.off]}
			t.results = rr.b[rr.skipU32():]
		}
		w.types = append(w.types, t)
	}
}

// readImports reads the import section, and refuses a module that imports
// from a module name the host reserves.
func (w *rewriter) readImports(r *reader) {
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		if mod := r.name(); mod == yieldModule || mod == stackModule {
			r.fail("imports from %q, a module name the host reserves", mod)
		}
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // function
			t := r.u32()
			w.typeIdx(r, t)
			w.funcTypes = append(w.funcTypes, t)
			w.importedFuncs++
		case 0x01: // table
			w.tableTypes = append(w.tableTypes, r.refType())
			r.limits()
		case 0x02: // memory
			r.limits()
		case 0x03: // global
			r.valType()
			w.mutable = append(w.mutable, r.mutability())
			w.globals++
			w.importedGlobal++
		default:
			r.fail("unknown import kind 0x%02x", kind)
		}
	}
}

// globalSection copies the global section, renumbering ref.func in
// initializers, and appends the fuel and the depth.
func (w *rewriter) globalSection(r *reader, n uint32) []byte {
	r.u32()
	b := appendU32(nil, n+3)
	for ; n > 0 && r.err == nil; n-- {
		at := r.off
		r.valType()
		mut := r.mutability()
		b = append(b, r.b[at:r.off]...)
		w.initGlobals = true
		b = w.expr(r, b)
		w.initGlobals = false
		w.mutable = append(w.mutable, mut)
	}
	b = append(b, 0x7f, 0x01, 0x41) // mut i32 = i32.const fuelPerYield
	b = appendS32(b, fuelPerYield)
	b = append(b, 0x0b)
	b = append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b) // mut i32 = i32.const 0
	b = append(b, 0x7f, 0x01, 0x41)             // mut i32 = the tables' elements
	b = appendS33(b, int64(w.tableElems))
	return append(b, 0x0b)
}

// exports renumbers function exports, and exports the start function and
// the depth.
func (w *rewriter) exports(r *reader, start int) []byte {
	n := r.u32()
	count := n + 1
	if start >= 0 {
		count++
	}
	b := appendU32(nil, count)
	for ; n > 0 && r.err == nil; n-- {
		name := r.name()
		if name == exportStart || name == exportDepth {
			r.fail("exports %q, a name the host reserves", name)
		}
		kind := r.byte()
		idx := r.u32()
		switch kind {
		case 0x00:
			w.declared[idx] = true
			idx = w.fn(r, idx)
		case 0x01:
			w.table(r, idx)
		case 0x02:
		case 0x03:
			w.global(r, idx)
		default:
			r.fail("unknown export kind 0x%02x", kind)
		}
		b = appendName(b, name)
		b = append(b, kind)
		b = appendU32(b, idx)
	}
	if start >= 0 {
		b = appendName(b, exportStart)
		b = append(b, 0x00)
		b = appendU32(b, w.fn(r, uint32(start)))
	}
	b = appendName(b, exportDepth)
	b = append(b, 0x03)
	return appendU32(b, w.depth)
}

// elements renumbers the functions of element segments, in every encoding.
func (w *rewriter) elements(r *reader) []byte {
	n := r.u32()
	b := appendU32(nil, n)
	for ; n > 0 && r.err == nil; n-- {
		flags := r.u32()
		b = appendU32(b, flags)
		if flags > 7 {
			r.fail("unknown element segment kind %d", flags)
			break
		}
		if flags&0x02 != 0 && flags&0x01 == 0 { // 2, 6: explicit table index
			t := r.u32()
			w.table(r, t)
			b = appendU32(b, t)
		}
		if flags&0x01 == 0 { // 0, 2, 4, 6: active, with an offset
			b = w.expr(r, b)
		}
		if flags&0x03 != 0 { // 1, 2, 3, 5, 6, 7: element kind or reference type
			b = append(b, r.byte())
		}
		m := r.u32()
		b = appendU32(b, m)
		for ; m > 0 && r.err == nil; m-- {
			if flags&0x04 == 0 {
				idx := r.u32()
				w.declared[idx] = true
				b = appendU32(b, w.fn(r, idx))
			} else {
				b = w.expr(r, b)
			}
		}
	}
	return b
}

// data reads the data section, for its structure only.
func (w *rewriter) data(r *reader) {
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		switch flags := r.u32(); flags {
		case 0:
			w.expr(r, nil)
		case 1:
		case 2:
			r.u32()
			w.expr(r, nil)
		default:
			r.fail("unknown data segment kind %d", flags)
		}
		r.bytes(int(r.u32()))
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
}

// code rewrites every function body.
func (w *rewriter) code(r *reader) []byte {
	n := r.u32()
	b := appendU32(make([]byte, 0, len(r.b)+len(r.b)/4), n)
	var body, instrs []byte
	for f := uint32(0); f < n && r.err == nil; f++ {
		size := r.u32()
		br := reader{b: r.bytes(int(size))}
		if r.err != nil {
			break
		}
		t := w.types[w.funcTypes[w.importedFuncs+f]]
		nLocals := uint64(t.params)
		localsStart := br.off
		for groups := br.u32(); groups > 0 && br.err == nil; groups-- {
			nLocals += uint64(br.u32())
			br.valType()
		}
		if nLocals > 1<<32-8 {
			br.fail("%d locals", nLocals)
		}
		localsEnd := br.off
		w.locals = uint32(nLocals)
		w.usedScratch = false
		w.weight = frameWeight(nLocals, int(size))
		instrs = w.prologue(instrs[:0], t)
		instrs = w.instrs(&br, instrs, false)
		if br.err != nil {
			r.fail("function body %d: %v", f, br.err)
			break
		}
		body = body[:0]
		if w.usedScratch {
			lr := reader{b: br.b[localsStart:localsEnd]}
			groups := lr.u32()
			body = appendU32(body, groups+3)
			body = append(body, lr.b[lr.off:]...)
			body = append(body, 0x02, 0x7f, 0x01, 0x70, 0x01, 0x6f) // 2 i32, funcref, externref
		} else {
			body = append(body, br.b[localsStart:localsEnd]...)
		}
		body = append(body, instrs...)
		b = appendU32(b, uint32(len(body)))
		b = append(b, body...)
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return b
}

// prologue appends what a function body starts with: one unit of fuel,
// the frame's weight added to the depth, and the block the original body
// runs in, so that a branch out of the body reaches the epilogue.
func (w *rewriter) prologue(b []byte, t funcType) []byte {
	b = w.takeFuel(b)
	b = append(b, 0x23)
	b = appendU32(b, w.depth)
	b = append(b, 0x41)
	b = appendS32(b, int32(w.weight))
	b = append(b, 0x6a, 0x24) // i32.add, global.set
	b = appendU32(b, w.depth)
	b = append(b, 0x23)
	b = appendU32(b, w.depth)
	b = append(b, 0x41)
	b = appendS32(b, maxStackUnits)
	b = append(b, 0x4a, 0x04, 0x40, 0x10) // i32.gt_s, if, call
	b = appendU32(b, w.stack)
	b = append(b, 0x0b, 0x02) // end, block
	switch len(t.results) {
	case 0:
		return append(b, 0x40)
	case 1:
		return append(b, t.results[0])
	}
	key := string(t.results)
	idx, ok := w.blockTypes[key]
	if !ok {
		idx = uint32(len(w.types)) + 2 + uint32(len(w.extraTypes))
		w.blockTypes[key] = idx
		w.extraTypes = append(w.extraTypes, t.results)
	}
	return appendS33(b, int64(idx))
}

// leave appends what takes the frame's weight off the depth.
func (w *rewriter) leave(b []byte) []byte {
	b = append(b, 0x23)
	b = appendU32(b, w.depth)
	b = append(b, 0x41)
	b = appendS32(b, int32(w.weight))
	b = append(b, 0x6b, 0x24) // i32.sub, global.set
	return appendU32(b, w.depth)
}

// names renumbers the name section's function names and local and label
// names (subsections 1, 2 and 3). A section whose subsections, function
// names or local names cannot be read is refused, as wazero refuses it;
// label names that cannot be read are kept as they are, as wazero does
// not read them. A name of a function the module does not have names
// none after the rewrite either.
func (w *rewriter) names(r *reader) []byte {
	b := append([]byte(nil), r.b[:r.off]...)
	fn := func(idx uint32) uint32 {
		if idx >= w.importedFuncs && idx <= 1<<32-1-addedFuncs {
			return idx + addedFuncs
		}
		return idx
	}
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		raw := r.bytes(int(r.u32()))
		if r.err != nil {
			break
		}
		sub := reader{b: raw}
		var body []byte
		switch id {
		case 1: // function names
			n := sub.u32()
			body = appendU32(nil, n)
			for ; n > 0 && sub.err == nil; n-- {
				body = appendU32(body, fn(sub.u32()))
				body = appendName(body, sub.name())
			}
		case 2, 3: // local names, label names: by function
			n := sub.u32()
			body = appendU32(nil, n)
			for ; n > 0 && sub.err == nil; n-- {
				body = appendU32(body, fn(sub.u32()))
				start := sub.off
				for m := sub.u32(); m > 0 && sub.err == nil; m-- {
					sub.u32()
					sub.name()
				}
				body = append(body, sub.b[start:sub.off]...)
			}
		default:
			body = raw
		}
		if id >= 1 && id <= 3 && (sub.err != nil || sub.off != len(sub.b)) {
			if id != 3 {
				r.fail("name subsection %d cannot be read", id)
				break
			}
			body = raw
		}
		b = append(b, id)
		b = appendU32(b, uint32(len(body)))
		b = append(b, body...)
	}
	return b
}

// expr copies a constant expression up to its end.
func (w *rewriter) expr(r *reader, b []byte) []byte { return w.instrs(r, b, true) }

// instrs copies instructions into b: function references renumbered, fuel
// taken at every loop header and bulk instruction, table.grow bounded, the
// depth restored at every exit. With untilEnd it stops after the first end
// at depth 0 (a constant expression); otherwise it reads all of r, a
// function body after its locals, which prologue has opened.
func (w *rewriter) instrs(r *reader, b []byte, untilEnd bool) []byte {
	depth := 0
	for r.off < len(r.b) && r.err == nil {
		at := r.off
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x04: // block, if
			w.blockType(r)
			depth++
		case op == 0x03: // loop
			w.blockType(r)
			depth++
			if !untilEnd {
				b = append(b, r.b[at:r.off]...)
				b = w.takeFuel(b)
				continue
			}
		case op == 0x0b: // end
			if depth == 0 {
				if untilEnd {
					return append(b, op)
				}
				if r.off != len(r.b) {
					r.fail("%d bytes after the end of the function body", len(r.b)-r.off)
					return b
				}
				b = append(b, 0x0b) // the body's block
				b = w.leave(b)
				return append(b, 0x0b)
			}
			depth--
		case op == 0x0f: // return
			if !untilEnd {
				b = w.leave(b)
			}
		case op == 0x00 || op == 0x01 || op == 0x05: // unreachable nop else
		case op == 0x0c || op == 0x0d: // br, br_if
			label(r, depth)
		case op == 0x0e: // br_table
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				label(r, depth)
			}
			label(r, depth)
		case op == 0x10 || op == 0xd2: // call, ref.func
			orig := r.u32()
			idx := w.fn(r, orig)
			switch {
			case op == 0xd2 && untilEnd: // in a global or element segment
				w.declared[orig] = true
			case op == 0xd2 && !w.declared[orig] && r.err == nil:
				r.fail("ref.func %d of a function not declared outside function bodies", orig)
			}
			b = append(b, op)
			b = appendU32(b, idx)
			continue
		case op == 0x11: // call_indirect
			w.typeIdx(r, r.u32())
			w.table(r, r.u32())
		case op == 0x12 || op == 0x13:
			r.fail("tail calls (return_call) are not supported")
		case op == 0x1a || op == 0x1b: // drop, select
		case op == 0x1c: // select t*
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.valType()
			}
		case op >= 0x20 && op <= 0x22: // local.get/set/tee
			if idx := r.u32(); idx >= w.locals && r.err == nil {
				r.fail("local index %d out of range (%d locals)", idx, w.locals)
			}
		case op == 0x23 || op == 0x24: // global.get/set
			idx := r.u32()
			w.global(r, idx)
			if untilEnd && r.err == nil {
				// Constant expressions read immutable globals; a
				// global's initializer only imported ones.
				if op == 0x24 || w.initGlobals && idx >= w.importedGlobal || idx < uint32(len(w.mutable)) && w.mutable[idx] {
					r.fail("constant expression reads global %d, which is mutable or not imported", idx)
				}
			}
		case op == 0x25 || op == 0x26: // table.get/set
			w.table(r, r.u32())
		case op >= 0x28 && op <= 0x3e: // loads and stores
			r.memarg()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			r.zero()
		case op == 0x41: // i32.const
			r.sleb(32)
		case op == 0x42: // i64.const
			r.sleb(64)
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op >= 0x45 && op <= 0xc4: // numeric, no immediates
		case op == 0xd0: // ref.null t
			r.refType()
		case op == 0xd1: // ref.is_null
		case op == 0xfc:
			if b = w.prefixFC(r, b, at, untilEnd); r.err == nil {
				continue
			}
		case op == 0xfd:
			r.prefixFD()
		default:
			r.fail("unknown opcode 0x%02x", op)
		}
		b = append(b, r.b[at:r.off]...)
	}
	if r.err == nil {
		if untilEnd {
			r.fail("constant expression without end")
		} else {
			r.fail("function body without end")
		}
	}
	return b
}

// blockType reads an empty type, a value type or a type index (s33).
func (w *rewriter) blockType(r *reader) {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return
	}
	switch r.b[r.off] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.off++
		return
	}
	if idx := r.sleb(33); r.err == nil && (idx < 0 || idx >= int64(len(w.types))) {
		r.fail("block type index %d out of range (%d types)", idx, len(w.types))
	}
}

// prefixFC copies one 0xfc instruction that began at at, charging fuel for
// the bulk ones and bounding table.grow in function bodies.
func (w *rewriter) prefixFC(r *reader, b []byte, at int, constExpr bool) []byte {
	shift := -1
	switch op := r.u32(); {
	case op <= 7: // saturating truncations
	case op == 8: // memory.init data mem
		r.u32()
		r.zero()
		shift = memoryFuelShift
	case op == 9: // data.drop
		r.u32()
	case op == 10: // memory.copy
		r.zero()
		r.zero()
		shift = memoryFuelShift
	case op == 11: // memory.fill
		r.zero()
		shift = memoryFuelShift
	case op == 12: // table.init elem table
		r.u32()
		w.table(r, r.u32())
		shift = tableFuelShift
	case op == 13: // elem.drop
		r.u32()
	case op == 14: // table.copy
		w.table(r, r.u32())
		w.table(r, r.u32())
		shift = tableFuelShift
	case op == 15: // table.grow
		t := r.u32()
		typ := w.table(r, t)
		if r.err != nil || constExpr {
			break
		}
		w.grows++
		return w.boundGrow(b, t, typ)
	case op == 16: // table.size
		w.table(r, r.u32())
	case op == 17: // table.fill
		w.table(r, r.u32())
		shift = tableFuelShift
	default:
		r.fail("unknown instruction 0xfc %d", op)
	}
	if shift >= 0 && !constExpr && r.err == nil {
		w.bulk++
		b = w.chargeLength(b, shift)
	}
	return append(b, r.b[at:r.off]...)
}

// takeFuel appends, at a loop header or function entry:
//
//	global.get $fuel; i32.const 1; i32.sub; global.set $fuel
//	global.get $fuel; i32.eqz
//	if; call $yield; global.set $fuel; end
//
// The fuel is at least 1 after every check, so the decrement reaches 0.
func (w *rewriter) takeFuel(b []byte) []byte {
	w.checks++
	b = append(b, 0x23)
	b = appendU32(b, w.fuel)
	b = append(b, 0x41, 0x01, 0x6b, 0x24)
	b = appendU32(b, w.fuel)
	b = append(b, 0x23)
	b = appendU32(b, w.fuel)
	b = append(b, 0x45, 0x04, 0x40, 0x10)
	b = appendU32(b, w.yield)
	b = append(b, 0x24)
	b = appendU32(b, w.fuel)
	return append(b, 0x0b)
}

// chargeLength appends, before a bulk instruction whose length is on top
// of the stack:
//
//	local.tee $len
//	global.get $fuel; local.get $len; i32.const shift; i32.shr_u; i32.sub; global.set $fuel
//	global.get $fuel; i32.const 1; i32.lt_s
//	if; call $yield; global.set $fuel; end
//
// A length of at most 2^32-1 shifted by 2 or more cannot wrap the fuel.
func (w *rewriter) chargeLength(b []byte, shift int) []byte {
	w.usedScratch = true
	b = append(b, 0x22)
	b = appendU32(b, w.locals)
	b = append(b, 0x23)
	b = appendU32(b, w.fuel)
	b = append(b, 0x20)
	b = appendU32(b, w.locals)
	b = append(b, 0x41, byte(shift), 0x76, 0x6b, 0x24) // i32.const, i32.shr_u, i32.sub, global.set
	b = appendU32(b, w.fuel)
	b = append(b, 0x23)
	b = appendU32(b, w.fuel)
	b = append(b, 0x41, 0x01, 0x48, 0x04, 0x40, 0x10) // i32.const 1, i32.lt_s, if, call
	b = appendU32(b, w.yield)
	b = append(b, 0x24)
	b = appendU32(b, w.fuel)
	return append(b, 0x0b)
}

// boundGrow appends table.grow t, refused past maxTableElements in all:
//
//	local.set $len; local.set $ref
//	global.get $elems; i64.extend_i32_u; local.get $len; i64.extend_i32_u; i64.add
//	i64.const maxTableElements; i64.gt_u
//	if (result i32)
//	  i32.const -1
//	else
//	  local.get $ref; local.get $len; table.grow t; local.tee $res
//	  i32.const -1; i32.ne
//	  if; global.get $elems; local.get $len; i32.add; global.set $elems; end
//	  local.get $res
//	end
func (w *rewriter) boundGrow(b []byte, t uint32, typ byte) []byte {
	w.usedScratch = true
	n, res := w.locals, w.locals+1
	ref := w.locals + 2 // funcref
	if typ == 0x6f {
		ref = w.locals + 3 // externref
	}
	b = append(b, 0x21)
	b = appendU32(b, n)
	b = append(b, 0x21)
	b = appendU32(b, ref)
	b = append(b, 0x23)
	b = appendU32(b, w.elems)
	b = append(b, 0xad, 0x20) // i64.extend_i32_u, local.get
	b = appendU32(b, n)
	b = append(b, 0xad, 0x7c, 0x42) // i64.extend_i32_u, i64.add, i64.const
	b = appendS33(b, maxTableElements)
	b = append(b, 0x56, 0x04, 0x7f, 0x41, 0x7f, 0x05, 0x20) // i64.gt_u, if i32, i32.const -1, else, local.get
	b = appendU32(b, ref)
	b = append(b, 0x20)
	b = appendU32(b, n)
	b = append(b, 0xfc, 15)
	b = appendU32(b, t)
	b = append(b, 0x22)
	b = appendU32(b, res)
	b = append(b, 0x41, 0x7f, 0x47, 0x04, 0x40, 0x23) // i32.const -1, i32.ne, if, global.get
	b = appendU32(b, w.elems)
	b = append(b, 0x20)
	b = appendU32(b, n)
	b = append(b, 0x6a, 0x24) // i32.add, global.set
	b = appendU32(b, w.elems)
	b = append(b, 0x0b, 0x20) // end, local.get
	b = appendU32(b, res)
	return append(b, 0x0b)
}
