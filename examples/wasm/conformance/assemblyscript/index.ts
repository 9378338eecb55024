// The AssemblyScript guest SDK's conformance operator: abi.ConformanceProcess's
// reference semantics (abi/SPEC.md, section 7), so the host's conformance
// test can replay the golden vectors in abi/testdata/conformance through a
// real AssemblyScript Wasm module. By the prefix of each record's value:
//
//   "drop"         no output
//   "dup"          the record, value upper-cased, emitted twice
//   "route:NAME:"  the record unchanged, routed to output NAME
//   "error:MSG"    the whole call fails with the message MSG
//   "trap"         the module traps (executes unreachable)
//   anything else  the record with its value's ASCII letters upper-cased
//
// Build it with ./build OUT.wasm.

import { flatMap, fail, Record, Emitter, startsWith, indexOfByte, toString } from "../../../../guest-sdk/assemblyscript/assembly";
export * from "../../../../guest-sdk/assemblyscript/assembly/exports";

flatMap(process);

function process(r: Record, out: Emitter): void {
  const v = r.value;
  if (startsWith(v, "drop")) return;
  if (startsWith(v, "dup")) {
    upper(v!);
    out.emit(r);
    out.emit(r);
  } else if (startsWith(v, "route:")) {
    const rest = v!.subarray(6);
    const end = indexOfByte(rest, 0x3a); // ':'
    if (end <= 0) {
      fail("bad route record \"" + toString(v!) + "\"");
      return;
    }
    out.emitTo(toString(rest.subarray(0, end)), r);
  } else if (startsWith(v, "error:")) {
    fail(toString(v!.subarray(6)));
  } else if (startsWith(v, "trap")) {
    unreachable();
  } else {
    if (v !== null) upper(v);
    out.emit(r);
  }
}

/** Upper-cases v's ASCII letters in place. */
function upper(v: Uint8Array): void {
  const p = v.dataStart;
  for (let i = 0, n = v.length; i < n; i++) {
    const c = load<u8>(p + <usize>i);
    if (<u8>(c - 0x61) < 26) store<u8>(p + <usize>i, c - 0x20);
  }
}
