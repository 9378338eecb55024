// Test module: replays guest-sdk/testdata/json/vectors.tsv through the JSON
// module (guards issue #9 item 3). json.test.mjs writes the file into memory
// with alloc, calls runVectors and reads the failures from report.
import {
  JsonBuffer, JsonError, JsonValue, JsonWriter, JSON_MAX_DEPTH, jsonDelete, jsonGet, jsonGetAll, jsonKindName, jsonSet,
  jsonValid,
} from "../assembly/json";
export * from "../assembly/exports";

const report = new JsonBuffer(1024);

export function reportPtr(): usize {
  return report.buf.dataStart;
}

export function reportLen(): i32 {
  return report.length;
}

function hexv(c: u32): u32 {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10;
}

/** A field: its text, or "hex:" and its bytes in hexadecimal. */
function field(p: usize, n: i32): Uint8Array {
  if (n >= 4 && load<u8>(p) == 0x68 && load<u8>(p + 1) == 0x65 && load<u8>(p + 2) == 0x78 && load<u8>(p + 3) == 0x3a) {
    const out = new Uint8Array((n - 4) / 2);
    for (let i = 0; i < out.length; i++) {
      out[i] = <u8>((hexv(load<u8>(p + 4 + 2 * i)) << 4) | hexv(load<u8>(p + 5 + 2 * i)));
    }
    return out;
  }
  const out = new Uint8Array(n);
  memory.copy(out.dataStart, p, n);
  return out;
}

function str(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, b.byteLength);
}

function bytes(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

function errName(e: i32): string {
  switch (e) {
    case JsonError.SYNTAX: return "error:syntax";
    case JsonError.UTF8: return "error:utf8";
    case JsonError.DEPTH: return "error:depth";
    case JsonError.NOT_FOUND: return "error:notfound";
    case JsonError.TYPE: return "error:type";
    case JsonError.RANGE: return "error:range";
  }
  return "error:" + e.toString();
}

function run(op: string, doc: Uint8Array, path: string, arg: Uint8Array, want: Uint8Array): Uint8Array {
  const out = new JsonBuffer();
  if (op == "valid") {
    const e = jsonValid(doc);
    return bytes(e == 0 ? "ok" : errName(e));
  }
  if (op == "quote") {
    out.quote(arg);
    return out.bytes();
  }
  if (op == "set" || op == "delete") {
    const e = op == "set" ? jsonSet(out, doc, path, arg) : jsonDelete(out, doc, path);
    return e == 0 ? out.bytes() : bytes(errName(e));
  }
  const v = new JsonValue();
  const e = jsonGet(doc, path, v);
  if (op == "equals") return bytes(e == 0 && v.textEquals(str(arg)) ? "true" : "false");
  if (e != 0) return bytes(errName(e));
  if (op == "kind") return bytes(jsonKindName(v.kind));
  if (op == "raw") return v.raw();
  if (op == "text") {
    const buf = new Uint8Array(v.end - v.start);
    const k = v.text(buf);
    return v.err == 0 ? buf.subarray(0, k) : bytes(errName(v.err));
  }
  if (op == "int") {
    const i = v.int();
    return bytes(v.err == 0 ? i.toString() : errName(v.err));
  }
  if (op == "bool") {
    const b = v.bool();
    return bytes(v.err == 0 ? (b ? "true" : "false") : errName(v.err));
  }
  if (op == "float") {
    const f = v.float();
    if (v.err != 0) return bytes(errName(v.err));
    const w = parseFloat(str(want));
    return reinterpret<u64>(w) == reinterpret<u64>(f) ? want : bytes(f.toString());
  }
  return bytes("unknown op " + op);
}

/** Whether jsonGetAll finds in one pass what jsonGet finds per path. */
function getAllMatchesGet(doc: Uint8Array, path: string): bool {
  const paths = [path, "", "id", path + ".0", "tags.2.deep.1", path];
  const out = new Array<JsonValue>(0);
  for (let i = 0; i < paths.length; i++) out.push(new JsonValue());
  const all = jsonGetAll(doc, paths, out);
  for (let i = 0; i < paths.length; i++) {
    const one = new JsonValue();
    const e = jsonGet(doc, paths[i], one);
    if (e == JsonError.NOT_FOUND) {
      if (all != 0 || out[i].kind != 0) return false;
    } else if (e != 0) {
      if (all != e) return false;
    } else if (all != 0 || out[i].kind != one.kind || out[i].start != one.start || out[i].end != one.end) {
      return false;
    }
  }
  return true;
}

function equal(a: Uint8Array, b: Uint8Array): bool {
  return a.byteLength == b.byteLength && memory.compare(a.dataStart, b.dataStart, a.byteLength) == 0;
}

/** Replays the vectors file at p (n bytes); returns the number of cases, or
 * minus the number of failures. */
export function runVectors(p: usize, n: i32): i32 {
  let cases = 0, failures = 0, line = 0;
  let i = 0;
  while (i < n) {
    let e = i;
    while (e < n && load<u8>(p + e) != 0x0a) e++;
    line++;
    if (e > i && load<u8>(p + i) != 0x23) {
      const f = new Array<Uint8Array>(0);
      let s = i;
      for (let j = i; j <= e; j++) {
        if (j == e || load<u8>(p + j) == 0x09) {
          f.push(field(p + s, j - s));
          s = j + 1;
        }
      }
      if (f.length != 6) {
        failures++;
        report.putAscii("line " + line.toString() + ": not 6 fields\n");
      } else {
        const op = str(f[0]);
        if (op != "valid" && op != "quote" && op != "set" && op != "delete" && !getAllMatchesGet(f[2], str(f[3]))) {
          failures++;
          report.putAscii("line " + line.toString() + ": jsonGetAll differs from jsonGet\n");
        }
        const got = run(op, f[2], str(f[3]), f[4], f[5]);
        cases++;
        if (!equal(got, f[5])) {
          failures++;
          report.put(bytes("line " + line.toString() + ": " + op + " " + str(f[1]) + ": got "));
          report.put(got.byteLength > 200 ? got.subarray(0, 200) : got);
          report.put(bytes(", want "));
          report.put(f[5].byteLength > 200 ? f[5].subarray(0, 200) : f[5]);
          report.putByte(0x0a);
        }
      }
    }
    i = e + 1;
  }
  return failures > 0 ? -failures : cases;
}

/** The writer's checks: returns 0, or the number of the check that failed. */
export function runWriter(): i32 {
  const w = new JsonWriter(4); // grows
  w.beginObject();
  w.key("id");
  w.int(i64.MIN_VALUE);
  w.key('q"');
  w.text("a\nb");
  w.key("tags");
  w.beginArray();
  w.bool(true);
  w.null();
  w.float(1.5);
  w.float(NaN);
  w.beginObject();
  w.endObject();
  w.raw(bytes("[1,2]"));
  w.endArray();
  w.endObject();
  if (w.finish() != 0) return 1;
  if (str(w.out.bytes()) != '{"id":-9223372036854775808,"q\\"":"a\\nb","tags":[true,null,1.5,null,{},[1,2]]}') return 2;
  if (jsonValid(w.out.bytes()) != 0) return 3;
  w.reset();
  w.beginObject();
  w.int(1);
  if (w.finish() != JsonError.WRITER) return 4;
  w.reset();
  w.beginArray();
  w.key("a");
  if (w.finish() != JsonError.WRITER) return 5;
  w.reset();
  w.beginArray();
  w.endObject();
  if (w.finish() != JsonError.WRITER) return 6;
  w.reset();
  w.beginArray();
  if (w.finish() != JsonError.WRITER) return 7;
  w.reset();
  w.int(1);
  w.int(2);
  if (w.finish() != JsonError.WRITER) return 8;
  w.reset();
  for (let i = 0; i <= JSON_MAX_DEPTH; i++) w.beginArray();
  if (w.finish() != JsonError.WRITER) return 9;
  w.reset();
  for (let i = 0; i < JSON_MAX_DEPTH; i++) w.beginArray();
  for (let i = 0; i < JSON_MAX_DEPTH; i++) w.endArray();
  if (w.finish() != 0 || jsonValid(w.out.bytes()) != 0) return 10;
  return 0;
}
