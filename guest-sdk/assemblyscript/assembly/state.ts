// Keyed state (abi/SPEC.md, sections 5 and 5.1): values the host owns and
// checkpoints, addressed by a scope (a key's, or the operator's), a key and
// a name. Writes made during a call are applied only if the call succeeds.
//
//   const n = stateOf(r).add("count", 1);          // a counter of the record's key
//   const last = stateOf(r).get("last");           // Uint8Array | null
//   operatorState().put("seen", "yes");

import { Record } from "./record";
import { fail, failWithHostMessage } from "./operator";
import { repoint } from "./codec";

// @ts-ignore: decorator
@external("wasmstream", "state_get")
declare function hostStateGet(scope: i32, keyPtr: usize, keyLen: usize, namePtr: usize, nameLen: usize, bufPtr: usize, bufCap: usize): i64;

// @ts-ignore: decorator
@external("wasmstream", "state_put")
declare function hostStatePut(scope: i32, keyPtr: usize, keyLen: usize, namePtr: usize, nameLen: usize, valPtr: usize, valLen: usize, ttlMs: i64): i32;

// @ts-ignore: decorator
@external("wasmstream", "state_delete")
declare function hostStateDelete(scope: i32, keyPtr: usize, keyLen: usize, namePtr: usize, nameLen: usize): i32;

// @ts-ignore: decorator
@external("wasmstream", "state_add")
declare function hostStateAdd(scope: i32, keyPtr: usize, keyLen: usize, namePtr: usize, nameLen: usize, delta: i64, outPtr: usize): i32;

// @ts-ignore: decorator
@external("wasmstream", "state_add_f64")
declare function hostStateAddF64(scope: i32, keyPtr: usize, keyLen: usize, namePtr: usize, nameLen: usize, delta: f64, outPtr: usize): i32;

// @ts-ignore: decorator
@external("wasmstream", "state_append")
declare function hostStateAppend(scope: i32, keyPtr: usize, keyLen: usize, namePtr: usize, nameLen: usize, valPtr: usize, valLen: usize): i32;

/** The status of a state call (abi/SPEC.md, section 5). */
export enum StateStatus {
  OK = 0,
  /** The host failed the call and set its message. */
  Error = -1,
  /** get: there is no value (or it expired). Not an error. */
  NotFound = -2,
  /** The value is over the pipeline's state.max_value. */
  TooLarge = -3,
  /** add on a value that is not a counter, or a counter of the other kind (addF64 on an int counter, add on a float one). */
  NotCounter = -4,
  BadScope = -5,
}

const SCOPE_KEY = 0;
const SCOPE_OPERATOR = 1;

let lastStatus: i32 = StateStatus.OK;

/**
 * The status of the last state call: OK, NotFound after a get that found
 * nothing, or the error that failed the current call.
 */
export function stateStatus(): StateStatus {
  return lastStatus;
}

// Grow-only scratch buffers: the name of the entry being addressed (UTF-8,
// with a map's prefix), a string value or key being written, and the value
// get read. getView is the one view get returns, re-pointed each time.
let nameBuf = new ArrayBuffer(64);
let valBuf = new ArrayBuffer(64);
let getBuf = new ArrayBuffer(256);
const getView = Uint8Array.wrap(getBuf, 0, 0);
const addOut = memory.data(8);

function ensure(b: ArrayBuffer, n: usize): ArrayBuffer {
  if (<usize>b.byteLength >= n) return b;
  let size = <usize>b.byteLength * 2;
  if (size < n) size = n;
  return new ArrayBuffer(<i32>size);
}

/** Writes prefix then k (a string as UTF-8, or bytes) into nameBuf; returns the length. */
function buildName<K>(prefix: string, k: K): usize {
  cachedName = 0;
  const pn = <usize>String.UTF8.byteLength(prefix);
  let kn: usize = 0;
  if (isString<K>()) {
    kn = <usize>String.UTF8.byteLength(changetype<string>(k));
  } else if (k !== null) {
    kn = <usize>changetype<Uint8Array>(k).byteLength;
  }
  nameBuf = ensure(nameBuf, pn + kn);
  const p = changetype<usize>(nameBuf);
  String.UTF8.encodeUnsafe(changetype<usize>(prefix), prefix.length, p);
  if (isString<K>()) {
    const s = changetype<string>(k);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, p + pn);
  } else if (k !== null) {
    memory.copy(p + pn, changetype<Uint8Array>(k).dataStart, kn);
  }
  return pn + kn;
}

// The plain name nameBuf holds, when it is a string literal: literals live
// in static memory below the heap and never change, so the same address
// means the same name, and a handler calling add("count", 1) per record
// encodes "count" once.
let cachedName: usize = 0;
let cachedLen: usize = 0;

/** Writes name into nameBuf as UTF-8; returns the length. */
function plainName(name: string): usize {
  const p = changetype<usize>(name);
  if (p == cachedName) return cachedLen;
  const n = buildName(name, "");
  if (p < __heap_base) {
    cachedName = p;
    cachedLen = n;
  }
  return n;
}

// The value being written: its address and length, set by valueOf.
let valPtr: usize = 0;
let valLen: usize = 0;

/** Points valPtr/valLen at v: bytes as they are, a string as UTF-8 in valBuf, null as empty. */
function valueOf<V>(v: V): void {
  if (isString<V>()) {
    const s = changetype<string>(v);
    const n = <usize>String.UTF8.byteLength(s);
    valBuf = ensure(valBuf, n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, changetype<usize>(valBuf));
    valPtr = changetype<usize>(valBuf);
    valLen = n;
  } else if (v === null) {
    valPtr = changetype<usize>(valBuf);
    valLen = 0;
  } else {
    const b = changetype<Uint8Array>(v);
    valPtr = b.dataStart;
    valLen = <usize>b.byteLength;
  }
}

/** The name in nameBuf as Go's %q would quote it, for messages. */
function quotedName(n: usize): string {
  const b = Uint8Array.wrap(nameBuf, 0, <i32>n);
  let plain = true;
  for (let i = 0; i < <i32>n; i++) {
    const c = b[i];
    if (c < 0x20 || c == 0x7f || c == 0x22 || c == 0x5c) plain = false;
  }
  if (plain) return "\"" + String.UTF8.decodeUnsafe(b.dataStart, n) + "\"";
  const hex = "0123456789abcdef";
  let s = "\"";
  let from = 0;
  for (let i = 0; i < <i32>n; i++) {
    const c = b[i];
    let esc = "";
    if (c == 0x22) esc = "\\\"";
    else if (c == 0x5c) esc = "\\\\";
    else if (c == 0x0a) esc = "\\n";
    else if (c == 0x09) esc = "\\t";
    else if (c == 0x0d) esc = "\\r";
    else if (c < 0x20 || c == 0x7f) esc = "\\x" + hex.charAt(c >> 4) + hex.charAt(c & 15);
    else continue;
    s += String.UTF8.decodeUnsafe(b.dataStart + <usize>from, <usize>(i - from)) + esc;
    from = i + 1;
  }
  return s + String.UTF8.decodeUnsafe(b.dataStart + <usize>from, <usize>(<i32>n - from)) + "\"";
}

/**
 * Records st as the last status and, for an error, fails the current call:
 * too-large and not-a-counter with the SDK's message naming the operation
 * and the entry, anything else with the message the host set. Returns
 * whether st is OK.
 */
function check(st: i32, op: string, nameLen: usize): bool {
  lastStatus = st;
  if (st == StateStatus.OK) return true;
  if (st == StateStatus.TooLarge) {
    fail("wasmstream: state value too large: " + op + " " + quotedName(nameLen));
  } else if (st == StateStatus.NotCounter) {
    fail("wasmstream: state value is not a counter: " + op + " " + quotedName(nameLen));
  } else {
    failWithHostMessage();
  }
  return false;
}

/**
 * One key's state, or the operator's: stateOf(record), keyState(key),
 * operatorState(). Names are strings; values are bytes (a string value is
 * written as UTF-8). A call the host refuses fails the current call with a
 * message naming the operation and the entry, as fail() would, records why
 * in stateStatus() and returns false, 0 or null; the call's writes are then
 * all dropped.
 */
export class State {
  constructor(
    /** 0 for a key's state, 1 for the operator's. */
    public scope: i32,
    /** The key; null is the empty key. Ignored for the operator's state. */
    public key: Uint8Array | null,
  ) {}

  @inline private get keyPtr(): usize {
    const k = this.key;
    return k === null ? 0 : k.dataStart;
  }

  @inline private get keyLen(): usize {
    const k = this.key;
    return k === null ? 0 : <usize>k.byteLength;
  }

  /**
   * The value of name, or null when there is none (or it expired). The
   * array is one view the SDK re-points at every get, into a buffer it
   * reuses: both are valid until the next get or list. Copy it (slice()) to
   * keep it.
   */
  get(name: string): Uint8Array | null {
    return this.getNamed(plainName(name));
  }

  /** The value of name as a UTF-8 string (allocates), or null. */
  getString(name: string): string | null {
    const v = this.get(name);
    return v === null ? null : String.UTF8.decodeUnsafe(v.dataStart, <usize>v.byteLength);
  }

  /** Sets name to value (bytes, or a string written as UTF-8); with ttlMs > 0 it expires that many milliseconds from now (processing time). */
  put<V>(name: string, value: V, ttlMs: i64 = 0): bool {
    return this.putNamed(plainName(name), value, ttlMs);
  }

  /**
   * Like put, but a value the host refuses as too large (over the
   * pipeline's state.max_value) returns StateStatus.TooLarge instead of
   * failing the call, so the operator can carry on; any other error fails
   * the call as put does. Returns the status.
   */
  tryPut<V>(name: string, value: V, ttlMs: i64 = 0): StateStatus {
    valueOf(value);
    const n = plainName(name);
    const st = hostStatePut(this.scope, this.keyPtr, this.keyLen, changetype<usize>(nameBuf), n, valPtr, valLen, ttlMs);
    if (st == StateStatus.TooLarge) {
      lastStatus = st;
      return st;
    }
    check(st, "put", n);
    return <StateStatus>st;
  }

  /** Removes name. */
  delete(name: string): bool {
    const n = plainName(name);
    return check(hostStateDelete(this.scope, this.keyPtr, this.keyLen, changetype<usize>(nameBuf), n), "delete", n);
  }

  /** Adds delta to the counter name (0 when absent) and returns the new value; 0 on an error. */
  add(name: string, delta: i64): i64 {
    return this.addNamed(plainName(name), delta);
  }

  /**
   * Adds delta to the float counter name (an f64; 0 when absent) and
   * returns the new value; 0 on an error. Float and int counters are
   * apart: addF64 on an int counter, or add on a float one, fails with
   * NotCounter. A NaN or infinite delta, or a sum that overflows, fails
   * the call and adds nothing.
   */
  addF64(name: string, delta: f64): f64 {
    return this.addNamedF64(plainName(name), delta);
  }

  /** The float counter name, 0 when absent. It only reads. */
  counterF64(name: string): f64 {
    const n = this.counter(name);
    return reinterpret<f64>(n);
  }

  /** The counter name, 0 when absent. It only reads. */
  counter(name: string): i64 {
    const v = this.get(name);
    if (v === null) return 0;
    if (v.byteLength != 8) {
      lastStatus = StateStatus.NotCounter;
      fail("wasmstream: state value is not a counter: counter " + quotedName(plainName(name)));
      return 0;
    }
    return load<i64>(v.dataStart);
  }

  /** Appends an element to the list name, without reading the list. */
  append<V>(name: string, elem: V): bool {
    valueOf(elem);
    const n = plainName(name);
    return check(hostStateAppend(this.scope, this.keyPtr, this.keyLen, changetype<usize>(nameBuf), n, valPtr, valLen), "append", n);
  }

  /**
   * The elements of the list name (none when absent): `const it =
   * s.list("events"); for (let e = it.next(); e !== null; e = it.next())`.
   * Elements are views of get's buffer, valid until the next get or list.
   */
  list(name: string): StateList {
    const v = this.get(name);
    return new StateList(v === null ? 0 : v.dataStart, v === null ? 0 : <usize>v.byteLength, v === null ? null : v.buffer, name);
  }

  /**
   * The map name: each entry is a state value of its own, named
   * `name + "\0" + key`, so reading or writing one entry never touches the
   * others.
   */
  map(name: string): StateMap {
    return new StateMap(this, name + "\0");
  }

  getNamed(n: usize): Uint8Array | null {
    for (;;) {
      const cap = <usize>getBuf.byteLength;
      const got = hostStateGet(this.scope, this.keyPtr, this.keyLen, changetype<usize>(nameBuf), n, changetype<usize>(getBuf), cap);
      if (got == StateStatus.NotFound) {
        lastStatus = StateStatus.NotFound;
        return null;
      }
      if (got < 0) {
        check(<i32>got, "get", n);
        return null;
      }
      if (<u64>got <= <u64>cap) {
        lastStatus = StateStatus.OK;
        repoint(getView, getBuf, changetype<usize>(getBuf), <u32>got);
        return getView;
      }
      // Larger than the buffer: nothing was copied. Grow and read again.
      getBuf = ensure(getBuf, <usize>got);
    }
    return null;
  }

  putNamed<V>(n: usize, value: V, ttlMs: i64): bool {
    valueOf(value);
    return check(hostStatePut(this.scope, this.keyPtr, this.keyLen, changetype<usize>(nameBuf), n, valPtr, valLen, ttlMs), "put", n);
  }

  deleteNamed(n: usize): bool {
    return check(hostStateDelete(this.scope, this.keyPtr, this.keyLen, changetype<usize>(nameBuf), n), "delete", n);
  }

  addNamed(n: usize, delta: i64): i64 {
    if (!check(hostStateAdd(this.scope, this.keyPtr, this.keyLen, changetype<usize>(nameBuf), n, delta, addOut), "add", n)) return 0;
    return load<i64>(addOut);
  }

  addNamedF64(n: usize, delta: f64): f64 {
    if (!isFinite(delta)) {
      lastStatus = StateStatus.Error;
      fail("wasmstream: state float counter would not be finite: add " + delta.toString() + " to " + quotedName(n));
      return 0;
    }
    if (!check(hostStateAddF64(this.scope, this.keyPtr, this.keyLen, changetype<usize>(nameBuf), n, delta, addOut), "add", n)) return 0;
    return load<f64>(addOut);
  }
}

/**
 * A map of keys (strings or bytes) to values in state; see State.map. Its
 * methods work as State's do.
 */
export class StateMap {
  constructor(public state: State, private prefix: string) {}

  /** The value for k, or null; a view valid until the next get or list. */
  get<K>(k: K): Uint8Array | null {
    return this.state.getNamed(buildName(this.prefix, k));
  }

  /** The value for k as a UTF-8 string (allocates), or null. */
  getString<K>(k: K): string | null {
    const v = this.get(k);
    return v === null ? null : String.UTF8.decodeUnsafe(v.dataStart, <usize>v.byteLength);
  }

  /** Sets the value for k; with ttlMs > 0 it expires that many milliseconds from now. */
  put<K, V>(k: K, value: V, ttlMs: i64 = 0): bool {
    return this.state.putNamed(buildName(this.prefix, k), value, ttlMs);
  }

  /** Removes k. */
  delete<K>(k: K): bool {
    return this.state.deleteNamed(buildName(this.prefix, k));
  }

  /** Adds delta to the counter at k and returns the new value. */
  add<K>(k: K, delta: i64): i64 {
    return this.state.addNamed(buildName(this.prefix, k), delta);
  }

  /** Adds delta to the float counter at k and returns the new value. */
  addF64<K>(k: K, delta: f64): f64 {
    return this.state.addNamedF64(buildName(this.prefix, k), delta);
  }
}

/** The elements of a list in state, read one by one; see State.list. */
export class StateList {
  constructor(private pos: usize, private left: usize, private buf: ArrayBuffer | null, private name: string) {}

  /**
   * The next element, or null after the last. A value that is not a list
   * fails the current call and returns null.
   */
  next(): Uint8Array | null {
    const left = this.left;
    if (left == 0) return null;
    const p = this.pos;
    const t = <u32>load<u8>(p);
    let h: usize = 0, n: usize = 0;
    if (t == 0xc4 && left >= 2) {
      h = 2;
      n = <usize>load<u8>(p + 1);
    } else if (t == 0xc5 && left >= 3) {
      h = 3;
      n = <usize>bswap<u16>(load<u16>(p + 1));
    } else if (t == 0xc6 && left >= 5) {
      h = 5;
      n = <usize>bswap<u32>(load<u32>(p + 1));
    }
    if (h == 0 || left - h < n) {
      this.left = 0;
      lastStatus = StateStatus.Error;
      fail("wasmstream: state \"" + this.name + "\" is not a list");
      return null;
    }
    this.pos = p + h + n;
    this.left = left - h - n;
    const b = this.buf!;
    return Uint8Array.wrap(b, <i32>(p + h - changetype<usize>(b)), <i32>n);
  }
}

/**
 * The state of the record's key (keyed state, scope 0): records with one
 * key always reach the same instance. Valid while the record is: the SDK
 * keeps one State per Record and re-points it at the record's key.
 */
export function stateOf(r: Record): State {
  let s = r._state;
  if (s === null) {
    s = new State(SCOPE_KEY, r.key);
    r._state = s;
  } else {
    s.key = r.key;
  }
  return s;
}

/**
 * The state of any key: bytes, or a string written as UTF-8. Records with
 * that key reach one instance; touching its state from elsewhere is allowed
 * but races with that instance.
 */
export function keyState<K>(key: K): State {
  if (isString<K>()) return new State(SCOPE_KEY, Uint8Array.wrap(String.UTF8.encode(changetype<string>(key))));
  return new State(SCOPE_KEY, changetype<Uint8Array | null>(key));
}

const opState = new State(SCOPE_OPERATOR, null);

/** State shared by all instances of the operator (scope 1). */
export function operatorState(): State {
  return opState;
}
