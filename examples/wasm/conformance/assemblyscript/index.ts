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
//   "state:..."    a state operation (abi/conformance_state.go): the record
//                  with its result as the value
//   "async:...", "async-sql:...", "async-redis:..."
//                  an async request (abi/conformance_async.go), and for
//                  each result delivered, a record describing it
//   anything else  the record with its value's ASCII letters upper-cased
//
// Build it with ./build OUT.wasm.

import {
  flatMap, fail, hasFailed, Record, Emitter, startsWith, indexOfByte, toString, fromString, bytesEqualString,
  State, StateStatus, stateOf, operatorState,
  onResult, Result, Request, Arg, http, redis, sql, submit,
} from "../../../../guest-sdk/assemblyscript/assembly";
export * from "../../../../guest-sdk/assemblyscript/assembly/exports";


// "state:get" and the rest when there is no value.
const NONE = fromString("none");
// Parts of the records describing async results.
const NIL = fromString("nil");
const COLON = fromString(":");

flatMap(process);
onResult(result);

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
  } else if (startsWith(v, "async") && submitAsync(v!)) {
    return;
  } else if (startsWith(v, "state:")) {
    const val = stateOp(r, v!.subarray(6));
    if (hasFailed()) return;
    r.value = val;
    out.emit(r);
  } else {
    if (v !== null) upper(v);
    out.emit(r);
  }
}

/**
 * Submits the request an async record asks for (abi/conformance_async.go)
 * and reports whether v was one.
 */
function submitAsync(v: Uint8Array): bool {
  let req: Request;
  if (startsWith(v, "async:")) {
    const rest = v.subarray(6);
    const c = indexOfByte(rest, 0x3a);
    if (c < 0) return false;
    req = http(toString(rest.subarray(0, c)), "GET", toString(rest.subarray(c + 1)), v);
  } else if (startsWith(v, "async-sql:")) {
    const rest = v.subarray(10);
    const c1 = indexOfByte(rest, 0x3a);
    if (c1 < 0) return false;
    const c2 = indexOfByte(rest, 0x3a, c1 + 1);
    if (c2 < 0) return false;
    req = sql(toString(rest.subarray(0, c1)), toString(rest.subarray(c1 + 1, c2)), v, [Arg.strBytes(rest.subarray(c2 + 1)), Arg.int(7)]);
  } else if (startsWith(v, "async-redis:")) {
    const rest = v.subarray(12);
    const c = indexOfByte(rest, 0x3a);
    if (c < 0) return false;
    req = new Request(toString(rest.subarray(0, c)));
    req.context = v;
    req.command = [fromString("GET"), rest.subarray(c + 1)];
  } else {
    return false;
  }
  submit(req); // the conformance vectors submit nothing a host refuses
  return true;
}

/**
 * Emits the record describing an async result:
 * "result:" ticket ":" status ":" code ":" body ":" error ":" context.
 */
function result(res: Result, out: Emitter): void {
  const e = res.error;
  const head = fromString("result:" + res.ticket.toString() + ":" + res.status.toString() + ":" + res.code.toString() + ":");
  const body = res.body, ctx = res.context;
  const err = e === null || e.length == 0 ? NIL : fromString(e);
  const parts: Uint8Array[] = [head, body === null ? NIL : body, COLON, err, COLON, ctx === null ? NIL : ctx];
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i].byteLength;
  const value = new Uint8Array(n);
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    value.set(parts[i], at);
    at += parts[i].byteLength;
  }
  out.emit(new Record(null, value));
}

/** Upper-cases v's ASCII letters in place. */
function upper(v: Uint8Array): void {
  const p = v.dataStart;
  for (let i = 0, n = v.length; i < n; i++) {
    const c = load<u8>(p + <usize>i);
    if (<u8>(c - 0x61) < 26) store<u8>(p + <usize>i, c - 0x20);
  }
}

/** The value of v in st (a view of the SDK's read buffer), or "none". */
function getV(st: State): Uint8Array {
  const v = st.get("v");
  return v === null ? NONE : v;
}

/**
 * Runs one of the conformance operator's state operations (abi/SPEC.md,
 * section 7) on the record's key's state ("op": the operator's) and returns
 * its output value. A refused state call has failed the current call:
 * callers check hasFailed().
 */
function stateOp(r: Record, op: Uint8Array): Uint8Array {
  const st = stateOf(r);
  if (bytesEqualString(op, "add") || bytesEqualString(op, "op")) {
    const s = op[0] == 0x6f /* 'o' */ ? operatorState() : st;
    return fromString(s.add("n", 1).toString());
  }
  if (startsWith(op, "put:")) {
    if (!st.put("v", op.subarray(4))) return NONE;
    return getV(st);
  }
  if (bytesEqualString(op, "get")) return getV(st);
  if (bytesEqualString(op, "del")) {
    if (!st.delete("v")) return NONE;
    return getV(st);
  }
  if (bytesEqualString(op, "addf")) {
    const f = st.addF64("f", 0.1);
    const out = new Uint8Array(8);
    store<f64>(out.dataStart, f); // wasm is little-endian
    return out;
  }
  if (startsWith(op, "append:")) {
    if (!st.append("l", op.subarray(7))) return NONE;
    // The elements are views of the read buffer: join them into a copy.
    const elems = new Array<Uint8Array>();
    let n = 0;
    const it = st.list("l");
    for (let e = it.next(); e !== null; e = it.next()) {
      if (elems.length > 0) n++;
      n += e.byteLength;
      elems.push(e);
    }
    const out = new Uint8Array(n);
    let at = 0;
    for (let i = 0; i < elems.length; i++) {
      if (i > 0) out[at++] = 0x2c; // ','
      out.set(elems[i], at);
      at += elems[i].byteLength;
    }
    return out;
  }
  if (bytesEqualString(op, "big")) {
    // One byte over the state.max_value the vectors run with (1 MiB).
    const big = new Uint8Array((1 << 20) + 1);
    big.fill(0x78); // 'x'
    const status = st.tryPut("b", big);
    if (status == StateStatus.TooLarge) return fromString("too large");
    if (hasFailed()) return NONE;
    return fromString("stored");
  }
  fail("unknown state operation \"" + toString(op) + "\"");
  return NONE;
}
