// The operator's configuration (abi/SPEC.md, section 4, "init"), decoded
// from the host's init payload into strings and Values the Config owns.

import { Cursor, typeName, binPtr, binLen, readIntResult } from "./codec";
import { fail } from "./operator";

/** The type of a Value. */
export enum ValueKind {
  Nil,
  Bool,
  Int,
  /** An integer above i64.MAX_VALUE. */
  Uint,
  Float,
  String,
  Bytes,
  Array,
  Map,
}

/** One msgpack value of the params. */
export class Value {
  kind: ValueKind = ValueKind.Nil;
  bool: bool = false;
  int: i64 = 0;
  uint: u64 = 0;
  float: f64 = 0;
  string: string = "";
  bytes: Uint8Array | null = null;
  array: Array<Value> | null = null;
  map: Map<string, Value> | null = null;

  /** The value's type as messages name it: "a string", ... */
  kindName(): string {
    switch (this.kind) {
      case ValueKind.Nil: return "nil";
      case ValueKind.Bool: return "a boolean";
      case ValueKind.Int: case ValueKind.Uint: return "an integer";
      case ValueKind.Float: return "a float";
      case ValueKind.String: return "a string";
      case ValueKind.Bytes: return "bin";
      case ValueKind.Array: return "an array";
    }
    return "a map";
  }
}

/**
 * An operator instance's configuration, passed to the onInit hook, which
 * may keep it.
 *
 * The getters return a param or a default. A param of the wrong type
 * returns the default and fails the init call with a message naming the
 * param (AssemblyScript has no exceptions): check `failed()` after a getter
 * if the rest of the hook depends on it.
 */
export class Config {
  /** The pipeline's name. */
  pipeline: string = "";
  /** The operator's name in the pipeline. */
  operator: string = "";
  /** 0-based index of this instance among the operator's instances. */
  instance: i32 = 0;
  /** The named outputs the pipeline connects. */
  outputs: Array<string> = [];
  /** The operator's params, as written in the pipeline file. */
  params: Map<string, Value> = new Map<string, Value>();

  /** Whether the pipeline connects the named output. */
  hasOutput(name: string): bool {
    return this.outputs.includes(name);
  }

  /** The param name, or null when it is absent or nil. */
  param(name: string): Value | null {
    if (!this.params.has(name)) return null;
    const v = this.params.get(name);
    return v.kind == ValueKind.Nil ? null : v;
  }

  private wrong(name: string, want: string, v: Value): void {
    fail("params." + name + ": want " + want + ", got " + v.kindName());
  }

  /** The string param name, or def when it is absent or nil. */
  getString(name: string, def: string): string {
    const v = this.param(name);
    if (v === null) return def;
    if (v.kind == ValueKind.String) return v.string;
    this.wrong(name, "a string", v);
    return def;
  }

  /** The boolean param name, or def when it is absent or nil. */
  getBool(name: string, def: bool): bool {
    const v = this.param(name);
    if (v === null) return def;
    if (v.kind == ValueKind.Bool) return v.bool;
    this.wrong(name, "a boolean", v);
    return def;
  }

  /** The integer param name, or def when it is absent or nil. A float with no fractional part is accepted. */
  getInt(name: string, def: i64): i64 {
    const v = this.param(name);
    if (v === null) return def;
    if (v.kind == ValueKind.Int) return v.int;
    if (v.kind == ValueKind.Float && v.float == Math.trunc(v.float) && v.float >= -9.223372036854775808e18 && v.float < 9.223372036854775808e18) return <i64>v.float;
    this.wrong(name, "an integer", v);
    return def;
  }

  /** The numeric param name as a float, or def when it is absent or nil. */
  getFloat(name: string, def: f64): f64 {
    const v = this.param(name);
    if (v === null) return def;
    if (v.kind == ValueKind.Float) return v.float;
    if (v.kind == ValueKind.Int) return <f64>v.int;
    if (v.kind == ValueKind.Uint) return <f64>v.uint;
    this.wrong(name, "a number", v);
    return def;
  }
}

/** Decodes one value at c.pos, advancing it; null on a fault (c.error). */
function readValue(c: Cursor, depth: i32): Value | null {
  if (depth > 32) {
    c.fail(c.pos, "values nested too deeply");
    return null;
  }
  const p = c.pos;
  if (p >= c.end) {
    c.needFail(p, 1);
    return null;
  }
  const b = <u32>load<u8>(p);
  const v = new Value();
  if (b == 0xc0) {
    c.pos = p + 1;
  } else if (b == 0xc2 || b == 0xc3) {
    v.kind = ValueKind.Bool;
    v.bool = b == 0xc3;
    c.pos = p + 1;
  } else if (b == 0xcf) {
    if (c.end - p < 9) {
      c.needFail(p, 9);
      return null;
    }
    const u = bswap<u64>(load<u64>(p + 1));
    if (u > <u64>i64.MAX_VALUE) {
      v.kind = ValueKind.Uint;
      v.uint = u;
    } else {
      v.kind = ValueKind.Int;
      v.int = <i64>u;
    }
    c.pos = p + 9;
  } else if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) {
    const q = c.readInt(p, "value");
    if (q == 0) return null;
    v.kind = ValueKind.Int;
    v.int = readIntResult();
    c.pos = q;
  } else if (b == 0xca || b == 0xcb) {
    const size: usize = b == 0xca ? 5 : 9;
    if (c.end - p < size) {
      c.needFail(p, size);
      return null;
    }
    v.kind = ValueKind.Float;
    v.float = b == 0xca ? <f64>reinterpret<f32>(bswap<u32>(load<u32>(p + 1))) : reinterpret<f64>(bswap<u64>(load<u64>(p + 1)));
    c.pos = p + size;
  } else if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb) || (b >= 0xc4 && b <= 0xc6)) {
    const isStr = !(b >= 0xc4 && b <= 0xc6);
    const q = c.readBin(p, "value", isStr);
    if (q == 0) return null;
    const ptr = binPtr(), len = binLen();
    if (isStr) {
      v.kind = ValueKind.String;
      v.string = String.UTF8.decodeUnsafe(ptr, len);
    } else {
      v.kind = ValueKind.Bytes;
      const bytes = new Uint8Array(<i32>len);
      memory.copy(bytes.dataStart, ptr, len);
      v.bytes = bytes;
    }
    c.pos = q;
  } else if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd) {
    const q = c.readArray(p);
    if (q == 0) return null;
    const n = binLen();
    c.pos = q;
    if (<usize>n > c.end - q) {
      c.fail(q, "array longer than the bytes left");
      return null;
    }
    const arr = new Array<Value>(0);
    for (let i: u32 = 0; i < n; i++) {
      const e = readValue(c, depth + 1);
      if (e === null) return null;
      arr.push(e);
    }
    v.kind = ValueKind.Array;
    v.array = arr;
  } else if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf) {
    let n: u64, q: usize;
    if (b <= 0x8f) {
      n = b & 0x0f;
      q = p + 1;
    } else if (b == 0xde) {
      if (c.end - p < 3) {
        c.needFail(p, 3);
        return null;
      }
      n = <u64>bswap<u16>(load<u16>(p + 1));
      q = p + 3;
    } else {
      if (c.end - p < 5) {
        c.needFail(p, 5);
        return null;
      }
      n = <u64>bswap<u32>(load<u32>(p + 1));
      q = p + 5;
    }
    c.pos = q;
    if (2 * n > <u64>(c.end - q)) {
      c.fail(q, "map longer than the bytes left");
      return null;
    }
    const m = new Map<string, Value>();
    for (let i: u64 = 0; i < n; i++) {
      const k = readValue(c, depth + 1);
      if (k === null) return null;
      if (k.kind != ValueKind.String) {
        c.fail(c.pos, "map key is " + k.kindName() + "; want a string");
        return null;
      }
      const e = readValue(c, depth + 1);
      if (e === null) return null;
      if (!m.has(k.string)) m.set(k.string, e);
    }
    v.kind = ValueKind.Map;
    v.map = m;
  } else {
    c.fail(p, "unsupported msgpack type " + typeName(b));
    return null;
  }
  return v;
}

/**
 * Decodes the init payload of len bytes at ptr. Returns the Config, or
 * null with the reason in c.error.
 */
export function decodeConfig(ptr: usize, len: usize, c: Cursor): Config | null {
  c.base = ptr;
  c.pos = ptr;
  c.end = ptr + len;
  c.error = null;
  const v = readValue(c, 0);
  if (v === null) return null;
  if (c.pos != c.end) {
    c.fail(c.pos, "trailing bytes after the value");
    return null;
  }
  if (v.kind != ValueKind.Map) {
    c.fail(ptr, "init config: want a map, found " + v.kindName());
    return null;
  }
  const m = v.map!;
  const cfg = new Config();
  if (m.has("pipeline") && m.get("pipeline").kind == ValueKind.String) cfg.pipeline = m.get("pipeline").string;
  if (m.has("operator") && m.get("operator").kind == ValueKind.String) cfg.operator = m.get("operator").string;
  if (m.has("instance") && m.get("instance").kind == ValueKind.Int) cfg.instance = <i32>m.get("instance").int;
  if (m.has("outputs") && m.get("outputs").kind == ValueKind.Array) {
    const outs = m.get("outputs").array!;
    for (let i = 0; i < outs.length; i++) {
      if (outs[i].kind == ValueKind.String) cfg.outputs.push(outs[i].string);
    }
  }
  if (m.has("params") && m.get("params").kind == ValueKind.Map) cfg.params = m.get("params").map!;
  return cfg;
}
