package host

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Deadlines without wazero's context checks.
//
// wazero can stop a running guest when its context is done
// (RuntimeConfig.WithCloseOnContextDone), but it does so by leaving compiled
// code for Go at every loop header to look at the context: on a tight guest
// loop that costs several times the loop itself. Nor can a guest simply be
// left to run: compiled code cannot be preempted, so a guest in a long loop
// holds up every stop-the-world pause of Go's garbage collector, and with it
// the whole process.
//
// Instead, the host rewrites each module once, before compiling it:
//
//   - a mutable i32 global, the fuel, is appended, and a host function
//     (yieldModule.yieldName, () -> i32) is imported after the module's
//     own imports; defined functions move up one index, and every reference
//     to them (calls, ref.func, exports, element segments, the name
//     section) is renumbered;
//   - every loop body starts by taking one unit of fuel; when the fuel runs
//     out it calls the host, which returns a new allowance after checking
//     the call's deadline (an overrun ends the call) and giving Go's
//     scheduler a safe point;
//   - a start section is removed and its function exported as exportStart,
//     so the host calls it under a deadline like any other call.
//
// Code without loops always terminates (recursion ends at the stack limit;
// tail calls, which could loop without one, are refused), so every call
// returns to Go within fuelPerYield loop iterations.
const (
	yieldModule  = "wasmstream.runtime"
	yieldName    = "yield"
	exportStart  = "wasmstream.start"
	fuelPerYield = 1 << 16
)

// instrumented is a rewritten module.
type instrumented struct {
	wasm     []byte
	hasStart bool // the start function is exported as exportStart
	loops    int  // loop headers that take fuel
}

// errInstrument wraps every rewriting failure.
var errInstrument = errors.New("malformed module")

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

// rewriter holds what renumbering needs.
type rewriter struct {
	importedFuncs uint32 // defined functions start here, before the shift
	fuel          uint32 // global index of the fuel
	yield         uint32 // function index of the yield import
	loops         int
}

// fn renumbers a function index.
func (w *rewriter) fn(idx uint32) uint32 {
	if idx >= w.importedFuncs {
		return idx + 1
	}
	return idx
}

// instrument rewrites a module for deadlines (see above). It reads every
// section it changes and every instruction of every function body, so that
// loop headers and function references are found exactly; anything it
// cannot read is an error naming the offset.
func instrument(wasm []byte) (*instrumented, error) {
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
		if rank := sectionRank(id); rank > 0 && id != 8 && id != 12 {
			// Every vector entry takes at least one byte: a larger count
			// is malformed (and would make a decoder allocate for it).
			sr := reader{b: body}
			if n := sr.u32(); sr.err != nil || int(n) > len(body)-sr.off {
				return nil, fmt.Errorf("%w: section %d declares %d entries in %d bytes", errInstrument, id, n, len(body))
			}
		} else if rank == 0 && id != 0 {
			return nil, fmt.Errorf("%w: unknown section id %d", errInstrument, id)
		}
		sections = append(sections, section{id: id, body: body})
	}

	var (
		w              rewriter
		nTypes         uint32
		importedGlobal uint32
		definedGlobals uint32
		startFunc      = -1
	)
	for _, s := range sections {
		sr := reader{b: s.body}
		switch s.id {
		case 1:
			nTypes = sr.u32()
		case 2:
			w.importedFuncs, importedGlobal = scanImports(&sr)
		case 6:
			definedGlobals = sr.u32()
		case 8:
			startFunc = int(sr.u32())
		}
		if sr.err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, sr.err)
		}
	}
	w.fuel = importedGlobal + definedGlobals
	w.yield = w.importedFuncs

	out := &instrumented{hasStart: startFunc >= 0}
	added := map[byte][]byte{} // sections the module lacks
	for idx := range sections {
		s := &sections[idx]
		sr := reader{b: s.body}
		var body []byte
		switch s.id {
		case 1:
			body = appendU32(nil, nTypes+1)
			body = append(body, s.body[sr.skipU32():]...)
			body = append(body, 0x60, 0x00, 0x01, 0x7f) // () -> i32
		case 2:
			body = appendU32(nil, sr.u32()+1)
			body = append(body, s.body[sr.off:]...)
			body = appendYieldImport(body, nTypes)
		case 6:
			body = w.globals(&sr, definedGlobals)
		case 7:
			body = w.exports(&sr, startFunc)
		case 9:
			body = w.elements(&sr)
		case 10:
			body = w.code(&sr)
		case 0:
			if name := sr.name(); name == "name" && sr.err == nil {
				s.body = w.names(s.body, sr.off) // nil when unreadable: dropped
			}
			continue
		default:
			continue
		}
		if sr.err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, sr.err)
		}
		s.body = body
	}
	if findSection(sections, 1) == nil {
		added[1] = []byte{0x01, 0x60, 0x00, 0x01, 0x7f}
	}
	if findSection(sections, 2) == nil {
		added[2] = appendYieldImport([]byte{0x01}, nTypes)
	}
	if findSection(sections, 6) == nil {
		added[6] = w.globals(&reader{b: []byte{0}}, 0)
	}
	if findSection(sections, 7) == nil {
		added[7] = w.exports(&reader{b: []byte{0}}, startFunc)
	}
	out.loops = w.loops

	res := make([]byte, 0, len(wasm)+w.loops*16+256)
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
	for _, s := range sections {
		rank := sectionRank(s.id)
		if rank > 0 {
			flush(rank)
		}
		if s.id == 8 || (s.id == 0 && s.body == nil) {
			continue // the start section is dropped (exported instead)
		}
		emit(s.id, s.body)
	}
	flush(1 << 30)
	out.wasm = res
	return out, nil
}

func appendYieldImport(b []byte, typeIdx uint32) []byte {
	b = appendName(b, yieldModule)
	b = appendName(b, yieldName)
	b = append(b, 0x00)
	return appendU32(b, typeIdx)
}

func findSection(sections []section, id byte) []byte {
	for _, s := range sections {
		if s.id == id {
			return s.body
		}
	}
	return nil
}

// scanImports counts imported functions and globals, and refuses a module
// that imports the yield function itself.
func scanImports(r *reader) (funcs, globals uint32) {
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		if mod := r.name(); mod == yieldModule {
			r.fail("imports from %q, a module name the host reserves", mod)
		}
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // function
			r.u32()
			funcs++
		case 0x01: // table
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
		case 0x03: // global
			r.byte()
			r.byte()
			globals++
		case 0x04: // tag
			r.byte()
			r.u32()
		default:
			r.fail("unknown import kind 0x%02x", kind)
		}
	}
	return funcs, globals
}

// globals copies the global section, renumbering ref.func in initializers,
// and appends the fuel.
func (w *rewriter) globals(r *reader, n uint32) []byte {
	r.u32()
	b := appendU32(nil, n+1)
	for ; n > 0 && r.err == nil; n-- {
		b = append(b, r.byte(), r.byte()) // value type, mutability
		b = w.expr(r, b)
	}
	b = append(b, 0x7f, 0x01, 0x41) // mut i32 = i32.const fuelPerYield
	b = appendS32(b, fuelPerYield)
	return append(b, 0x0b)
}

// exports renumbers function exports and exports the start function.
func (w *rewriter) exports(r *reader, start int) []byte {
	n := r.u32()
	count := n
	if start >= 0 {
		count++
	}
	b := appendU32(nil, count)
	for ; n > 0 && r.err == nil; n-- {
		name := r.name()
		if name == exportStart {
			r.fail("exports %q, a name the host reserves", name)
		}
		kind := r.byte()
		idx := r.u32()
		if kind == 0x00 {
			idx = w.fn(idx)
		}
		b = appendName(b, name)
		b = append(b, kind)
		b = appendU32(b, idx)
	}
	if start >= 0 {
		b = appendName(b, exportStart)
		b = append(b, 0x00)
		b = appendU32(b, w.fn(uint32(start)))
	}
	return b
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
			b = appendU32(b, r.u32())
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
				b = appendU32(b, w.fn(r.u32()))
			} else {
				b = w.expr(r, b)
			}
		}
	}
	return b
}

// code rewrites every function body.
func (w *rewriter) code(r *reader) []byte {
	n := r.u32()
	b := appendU32(make([]byte, 0, len(r.b)+len(r.b)/8), n)
	var body []byte
	for f := uint32(0); f < n && r.err == nil; f++ {
		size := r.u32()
		br := reader{b: r.bytes(int(size))}
		if r.err != nil {
			break
		}
		body = body[:0]
		locals := br.u32()
		body = appendU32(body, locals)
		for ; locals > 0 && br.err == nil; locals-- {
			body = appendU32(body, br.u32())
			t := br.off
			br.valType()
			body = append(body, br.b[t:br.off]...)
		}
		body = w.instrs(&br, body, false)
		if br.err != nil {
			r.fail("function body %d: %v", f, br.err)
			break
		}
		b = appendU32(b, uint32(len(body)))
		b = append(b, body...)
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return b
}

// names renumbers the name section's function names and local and label
// names (subsections 1, 2 and 3). It returns nil when the section cannot be
// read: it is debugging information, dropped rather than refused.
func (w *rewriter) names(sec []byte, off int) []byte {
	r := reader{b: sec, off: off}
	b := append([]byte(nil), sec[:off]...)
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		sub := reader{b: r.bytes(int(r.u32()))}
		var body []byte
		switch id {
		case 1: // function names
			n := sub.u32()
			body = appendU32(nil, n)
			for ; n > 0 && sub.err == nil; n-- {
				body = appendU32(body, w.fn(sub.u32()))
				body = appendName(body, sub.name())
			}
		case 2, 3: // local names, label names: by function
			n := sub.u32()
			body = appendU32(nil, n)
			for ; n > 0 && sub.err == nil; n-- {
				body = appendU32(body, w.fn(sub.u32()))
				start := sub.off
				for m := sub.u32(); m > 0 && sub.err == nil; m-- {
					sub.u32()
					sub.name()
				}
				body = append(body, sub.b[start:sub.off]...)
			}
		default:
			body = sub.b
		}
		if sub.err != nil {
			return nil
		}
		b = append(b, id)
		b = appendU32(b, uint32(len(body)))
		b = append(b, body...)
	}
	if r.err != nil {
		return nil
	}
	return b
}

// expr copies a constant expression up to its end.
func (w *rewriter) expr(r *reader, b []byte) []byte { return w.instrs(r, b, true) }

// instrs copies instructions into b: function references renumbered, fuel
// taken at every loop header. With untilEnd it stops after the first end at
// depth 0 (a constant expression); otherwise it reads all of r (a function
// body).
func (w *rewriter) instrs(r *reader, b []byte, untilEnd bool) []byte {
	depth := 0
	for r.off < len(r.b) && r.err == nil {
		at := r.off
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x04: // block, if
			r.blockType()
			depth++
		case op == 0x03: // loop
			r.blockType()
			depth++
			b = append(b, r.b[at:r.off]...)
			b = w.takeFuel(b)
			continue
		case op == 0x0b: // end
			if depth == 0 && untilEnd {
				return append(b, op)
			}
			depth--
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0f: // unreachable nop else return
		case op == 0x0c || op == 0x0d: // br, br_if
			r.u32()
		case op == 0x0e: // br_table
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.u32()
			}
			r.u32()
		case op == 0x10 || op == 0xd2: // call, ref.func
			b = append(b, op)
			b = appendU32(b, w.fn(r.u32()))
			continue
		case op == 0x11: // call_indirect
			r.u32()
			r.u32()
		case op == 0x12 || op == 0x13:
			r.fail("tail calls (return_call) are not supported")
		case op == 0x1a || op == 0x1b: // drop, select
		case op == 0x1c: // select t*
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.valType()
			}
		case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
			r.u32()
		case op >= 0x28 && op <= 0x3e: // loads and stores
			r.memarg()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			r.u32()
		case op == 0x41: // i32.const
			r.sleb(5)
		case op == 0x42: // i64.const
			r.sleb(10)
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op >= 0x45 && op <= 0xc4: // numeric, no immediates
		case op == 0xd0: // ref.null t
			r.byte()
		case op == 0xd1: // ref.is_null
		case op == 0xfc:
			r.prefixFC()
		case op == 0xfd:
			r.prefixFD()
		case op == 0xfe:
			r.prefixFE()
		default:
			r.fail("unknown opcode 0x%02x", op)
		}
		b = append(b, r.b[at:r.off]...)
	}
	if untilEnd && r.err == nil {
		r.fail("constant expression without end")
	}
	return b
}

// takeFuel appends, at a loop header:
//
//	global.get $fuel; i32.const 1; i32.sub; global.set $fuel
//	global.get $fuel; i32.eqz
//	if; call $yield; global.set $fuel; end
func (w *rewriter) takeFuel(b []byte) []byte {
	w.loops++
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

// reader reads the binary format; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at offset %d: %s", errInstrument, r.off, fmt.Sprintf(format, args...))
	}
	r.off = len(r.b)
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.off {
		r.fail("%d bytes needed, %d left", n, len(r.b)-r.off)
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 integer too long")
	return 0
}

// sleb skips a signed LEB128 of at most max bytes.
func (r *reader) sleb(max int) {
	for i := 0; i < max; i++ {
		if c := r.byte(); r.err != nil || c&0x80 == 0 {
			return
		}
	}
	r.fail("LEB128 integer too long")
}

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&0x01 != 0 {
		r.u32()
	}
}

func (r *reader) valType() {
	switch t := r.byte(); t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
	default:
		r.fail("unknown value type 0x%02x", t)
	}
}

// blockType reads an empty type, a value type or a type index (s33).
func (r *reader) blockType() {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return
	}
	switch r.b[r.off] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.off++
	default:
		r.sleb(5)
	}
}

func (r *reader) memarg() {
	if align := r.u32(); align&0x40 != 0 { // bit 6 flags a memory index
		r.u32()
	}
	r.u32() // offset
}

func (r *reader) prefixFC() {
	switch op := r.u32(); {
	case op <= 7: // saturating truncations
	case op == 8: // memory.init data mem
		r.u32()
		r.byte()
	case op == 9: // data.drop
		r.u32()
	case op == 10: // memory.copy
		r.byte()
		r.byte()
	case op == 11: // memory.fill
		r.byte()
	case op == 12 || op == 14: // table.init, table.copy
		r.u32()
		r.u32()
	case op == 13 || op == 15 || op == 16 || op == 17: // elem.drop, table.grow/size/fill
		r.u32()
	default:
		r.fail("unknown instruction 0xfc %d", op)
	}
}

func (r *reader) prefixFD() {
	switch op := r.u32(); {
	case op <= 11 || op == 92 || op == 93: // v128 loads and stores
		r.memarg()
	case op == 12 || op == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case op >= 21 && op <= 34: // extract_lane, replace_lane
		r.byte()
	case op >= 84 && op <= 91: // load_lane, store_lane
		r.memarg()
		r.byte()
	case op <= 275: // no immediates
	default:
		r.fail("unknown instruction 0xfd %d", op)
	}
}

func (r *reader) prefixFE() {
	switch op := r.u32(); {
	case op == 3: // atomic.fence
		r.byte()
	case op <= 2 || (op >= 0x10 && op <= 0x4e):
		r.memarg()
	default:
		r.fail("unknown instruction 0xfe %d", op)
	}
}

// skipU32 reads a LEB128 integer and returns the offset after it.
func (r *reader) skipU32() int {
	r.u32()
	return r.off
}

// appendS32 appends a signed LEB128 integer.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
