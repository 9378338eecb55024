// Read and write JSON record values without allocating per record.
//
//   import { JsonValue, jsonGet, JsonError } from ".../guest-sdk/assemblyscript/assembly/json";
//
//   const ev = new JsonValue(); // once, reused for every record
//   if (jsonGet(r.value!, "event", ev) == JsonError.OK && ev.textEquals("click")) ...
//
// jsonGet finds a value by path and fills a JsonValue that points into the
// document (start and end offsets); strings are decoded only when asked for,
// into a caller buffer. JsonWriter, jsonSet and jsonDelete build or patch a
// document into a growable JsonBuffer.
//
// A path is a list of segments joined by ".": an object key, or an array
// index in decimal ("items.0.id"); the empty path is the document itself.
// Keys are compared with their escapes decoded; only the first of duplicate
// keys is followed. A key containing "." cannot be named by a path.
//
// Every function that reads a document validates all of it against RFC 8259
// in one pass (strict grammar, UTF-8 in strings, no leading zeros, nothing
// after the value) and fails with SYNTAX, UTF8 or DEPTH (nesting deeper than
// JSON_MAX_DEPTH) instead of reading on; the reader is one loop with an
// explicit, bounded stack. jsonGetAll finds several paths in one pass. A
// lone UTF-16 surrogate in a \u escape is valid and decodes to U+FFFD. The
// shared vectors in guest-sdk/testdata/json test this file and
// the other SDKs' JSON code alike. Not reentrant: a module instance is
// single-threaded.

/** The deepest nesting of arrays and objects a document may have. */
export const JSON_MAX_DEPTH: i32 = 128;

/** Results. */
export enum JsonError {
  OK = 0,
  /** not valid JSON */
  SYNTAX = 1,
  /** a string holds bytes that are not UTF-8 */
  UTF8 = 2,
  /** nested deeper than JSON_MAX_DEPTH */
  DEPTH = 3,
  /** valid, but nothing at the path */
  NOT_FOUND = 4,
  /** a value of another type */
  TYPE = 5,
  /** a number that does not fit */
  RANGE = 6,
  /** a writer used out of order */
  WRITER = 7,
  /** the caller's buffer is too small */
  NO_SPACE = 8,
}

/** The type of a JSON value. */
export enum JsonKind {
  NULL = 1,
  BOOL = 2,
  NUMBER = 3,
  STRING = 4,
  ARRAY = 5,
  OBJECT = 6,
}

/** "null", "bool", "number", "string", "array" or "object". */
export function jsonKindName(k: i32): string {
  switch (k) {
    case JsonKind.NULL: return "null";
    case JsonKind.BOOL: return "bool";
    case JsonKind.NUMBER: return "number";
    case JsonKind.STRING: return "string";
    case JsonKind.ARRAY: return "array";
    case JsonKind.OBJECT: return "object";
  }
  return "invalid";
}

// ---- scratch: UTF-8 copies of paths and compared strings ----

let scratch = new Uint8Array(64);
let scratch2 = new Uint8Array(64);

/** s as UTF-8 in a reused buffer (grown, never shrunk); returns the length. */
function utf8Into(s: string, which: i32): i32 {
  const n = String.UTF8.byteLength(s);
  if (which == 0) {
    if (scratch.length < n) scratch = new Uint8Array(n * 2);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, scratch.dataStart);
  } else {
    if (scratch2.length < n) scratch2 = new Uint8Array(n * 2);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, scratch2.dataStart);
  }
  return n;
}

// ---- the scanner: module state, no allocation ----

let d: usize = 0; // the document
let n: i32 = 0;
let pos: i32 = 0;
let err: i32 = 0;
let found = false;
let fKind: i32 = 0;
let fStart: i32 = 0;
let fEnd: i32 = 0;

@inline function at(i: i32): u32 {
  return <u32>load<u8>(d + <usize>i);
}

function fail(e: i32): void {
  if (err == 0) err = e;
}

@inline function isSpace(c: u32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}

function ws(): void {
  while (pos < n && isSpace(at(pos))) pos++;
}

function hexval(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>c - 0x30;
  if (c >= 0x61 && c <= 0x66) return <i32>c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return <i32>c - 0x41 + 10;
  return -1;
}

function hex4(p: usize): u32 {
  return (<u32>hexval(load<u8>(p)) << 12) | (<u32>hexval(load<u8>(p + 1)) << 8) |
    (<u32>hexval(load<u8>(p + 2)) << 4) | <u32>hexval(load<u8>(p + 3));
}

// The decoded bytes of one escape, and the input it used.
let escBytes: u32 = 0; // up to 4 bytes, little-endian
let escLen: i32 = 0;
let escUsed: i32 = 0;

/** Decodes the escape at p (a backslash) of a validated string, left bytes
 * remaining, into escBytes/escLen/escUsed. */
function escape(p: usize, left: i32): void {
  escUsed = 2;
  escLen = 1;
  const c = <u32>load<u8>(p + 1);
  if (c == 0x62) escBytes = 0x08;
  else if (c == 0x66) escBytes = 0x0c;
  else if (c == 0x6e) escBytes = 0x0a;
  else if (c == 0x72) escBytes = 0x0d;
  else if (c == 0x74) escBytes = 0x09;
  else if (c == 0x75) {
    let r = hex4(p + 2);
    escUsed = 6;
    if (r >= 0xd800 && r <= 0xdbff) {
      const lo: u32 = left >= 12 && load<u8>(p + 6) == 0x5c && load<u8>(p + 7) == 0x75 ? hex4(p + 8) : 0;
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
        escUsed = 12;
      } else {
        r = 0xfffd;
      }
    } else if (r >= 0xdc00 && r <= 0xdfff) {
      r = 0xfffd;
    }
    if (r < 0x80) {
      escBytes = r;
    } else if (r < 0x800) {
      escBytes = (0xc0 | (r >> 6)) | ((0x80 | (r & 0x3f)) << 8);
      escLen = 2;
    } else if (r < 0x10000) {
      escBytes = (0xe0 | (r >> 12)) | ((0x80 | ((r >> 6) & 0x3f)) << 8) | ((0x80 | (r & 0x3f)) << 16);
      escLen = 3;
    } else {
      escBytes = (0xf0 | (r >> 18)) | ((0x80 | ((r >> 12) & 0x3f)) << 8) | ((0x80 | ((r >> 6) & 0x3f)) << 16) |
        ((0x80 | (r & 0x3f)) << 24);
      escLen = 4;
    }
  } else escBytes = c; // " \ /
}

/** Whether the validated string contents at p (len bytes) decode to the
 * bytes at s (sn bytes). */
function textEq(p: usize, len: i32, s: usize, sn: i32): bool {
  let i = 0, j = 0;
  while (i < len) {
    const c = load<u8>(p + <usize>i);
    if (c != 0x5c) {
      if (j >= sn || c != load<u8>(s + <usize>j)) return false;
      i++;
      j++;
      continue;
    }
    escape(p + <usize>i, len - i);
    if (sn - j < escLen) return false;
    for (let k = 0; k < escLen; k++) {
      if (<u8>(escBytes >> (8 * k)) != load<u8>(s + <usize>(j + k))) return false;
    }
    i += escUsed;
    j += escLen;
  }
  return j == sn;
}

function utf8Len(i: i32): i32 {
  const c = at(i);
  let k = 0;
  let lo: u32 = 0x80, hi: u32 = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) k = 2;
  else if (c == 0xe0) { k = 3; lo = 0xa0; }
  else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) k = 3;
  else if (c == 0xed) { k = 3; hi = 0x9f; }
  else if (c == 0xf0) { k = 4; lo = 0x90; }
  else if (c >= 0xf1 && c <= 0xf3) k = 4;
  else if (c == 0xf4) { k = 4; hi = 0x8f; }
  else return 0;
  if (n - i < k || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (let j = 2; j < k; j++) {
    const b = at(i + j);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return k;
}

function str(): void {
  pos++;
  while (pos < n) {
    const c = at(pos);
    if (c == 0x22) {
      pos++;
      return;
    } else if (c == 0x5c) {
      if (pos + 1 >= n) {
        pos = n;
        fail(JsonError.SYNTAX);
        return;
      }
      const e = at(pos + 1);
      if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
        pos += 2;
      } else if (e == 0x75) {
        if (n - pos < 6 || hexval(at(pos + 2)) < 0 || hexval(at(pos + 3)) < 0 || hexval(at(pos + 4)) < 0 ||
          hexval(at(pos + 5)) < 0) {
          fail(JsonError.SYNTAX);
          return;
        }
        pos += 6;
      } else {
        fail(JsonError.SYNTAX);
        return;
      }
    } else if (c < 0x20) {
      fail(JsonError.SYNTAX);
      return;
    } else if (c < 0x80) {
      pos++;
    } else {
      const k = utf8Len(pos);
      if (k == 0) {
        fail(JsonError.UTF8);
        return;
      }
      pos += k;
    }
  }
  fail(JsonError.SYNTAX);
}

function digits(): i32 {
  const start = pos;
  while (pos < n && at(pos) >= 0x30 && at(pos) <= 0x39) pos++;
  return pos - start;
}

function peek(): i32 {
  return pos < n ? <i32>at(pos) : -1;
}

function number(): void {
  if (peek() == 0x2d) pos++;
  if (peek() == 0x30) pos++;
  else if (digits() == 0) {
    fail(JsonError.SYNTAX);
    return;
  }
  if (peek() == 0x2e) {
    pos++;
    if (digits() == 0) {
      fail(JsonError.SYNTAX);
      return;
    }
  }
  if (peek() == 0x65 || peek() == 0x45) {
    pos++;
    if (peek() == 0x2b || peek() == 0x2d) pos++;
    if (digits() == 0) fail(JsonError.SYNTAX);
  }
}

function literal(lit: string): void {
  const k = lit.length;
  if (n - pos < k) {
    fail(JsonError.SYNTAX);
    return;
  }
  for (let i = 0; i < k; i++) {
    if (at(pos + i) != <u32>lit.charCodeAt(i)) {
      fail(JsonError.SYNTAX);
      return;
    }
  }
  pos += k;
}

/** One path followed through a document: match says the value about to be
 * read is on the path, at is where the rest of the path begins, and the
 * container at depth mdepth is the one whose members are compared with the
 * segment at segStart. Once a member matched, that container compares no
 * more (only the first of duplicate keys is followed), and once a matched
 * container closes without the value, nothing else can match. */
class Cursor {
  buf: Uint8Array = new Uint8Array(64); // the path as UTF-8, for jsonGetAll
  pp: usize = 0;
  pn: i32 = 0;
  match: bool = true;
  found: bool = false;
  open: bool = false; // the found container has not closed
  at: i32 = 0;
  mdepth: i32 = 0; // 0: none
  segStart: i32 = 0;
  segLen: i32 = 0;
  next: i32 = 0;
  elem: i32 = 0;
  want: i32 = -1;
  hereAt: i32 = 0;
  kind: i32 = 0;
  start: i32 = 0;
  end: i32 = 0;

  reset(pp: usize, pn: i32): void {
    this.pp = pp;
    this.pn = pn;
    this.match = true;
    this.found = false;
    this.open = false;
    this.at = pn == 0 ? 1 : 0;
    this.mdepth = 0;
    this.want = -1;
    this.hereAt = 0;
  }

  segment(): void {
    if (this.at > this.pn) {
      this.segStart = 0;
      this.segLen = 0;
      this.next = this.at;
      return;
    }
    let i = this.at;
    while (i < this.pn && load<u8>(this.pp + <usize>i) != 0x2e) i++;
    this.segStart = this.at;
    this.segLen = i - this.at;
    this.next = i < this.pn ? i + 1 : this.pn + 1;
  }

  index(): i32 {
    const s = this.segStart, len = this.segLen;
    if (len == 0 || len > 9 || (load<u8>(this.pp + <usize>s) == 0x30 && len > 1)) return -1;
    let v = 0;
    for (let i = 0; i < len; i++) {
      const c = <i32>load<u8>(this.pp + <usize>(s + i));
      if (c < 0x30 || c > 0x39) return -1;
      v = v * 10 + (c - 0x30);
    }
    return v;
  }

  take(): void {
    this.match = true;
    this.at = this.next;
    this.mdepth = 0;
  }
}

/** The most paths one jsonGetAll call looks up. */
export const JSON_MAX_PATHS: i32 = 8;

const cursors = new StaticArray<Cursor>(8);
for (let i = 0; i < 8; i++) cursors[i] = new Cursor();
const stack = new Uint8Array(JSON_MAX_DEPTH);

/** Validates the document (d, n), moving cursors [0, ncs) along it: one
 * loop with an explicit stack, so no document can exhaust the stack. */
function scan(ncs: i32): void {
  let depth = 0;
  let st = 0; // 0: a value is due, 1: a value ended, 2: a key is due
  const sp = stack.dataStart;
  for (;;) {
    if (st == 0) {
      ws();
      const c = peek();
      const start = pos;
      if (c == 0x7b || c == 0x5b) {
        if (depth == JSON_MAX_DEPTH) {
          fail(JsonError.DEPTH);
          return;
        }
        store<u8>(sp + <usize>depth, <u8>c);
        depth++;
        pos++;
        for (let k = 0; k < ncs; k++) {
          const cu = unchecked(cursors[k]);
          if (!cu.match || cu.found || cu.open) continue;
          cu.match = false;
          if (cu.at > cu.pn) {
            cu.kind = c == 0x7b ? JsonKind.OBJECT : JsonKind.ARRAY;
            cu.start = start;
            cu.open = true;
            cu.hereAt = depth;
            continue;
          }
          cu.mdepth = depth;
          cu.segment();
          cu.elem = 0;
          cu.want = c == 0x5b ? cu.index() : -1;
        }
        ws();
        if (peek() == c + 2) { // '{'+2 is '}', '['+2 is ']'
          st = 1;
          continue;
        }
        if (c == 0x7b) {
          st = 2;
          continue;
        }
        for (let k = 0; k < ncs; k++) {
          const cu = unchecked(cursors[k]);
          if (cu.mdepth == depth && cu.want == 0) cu.take();
        }
        continue;
      }
      let kind = 0;
      if (c == 0x22) {
        kind = JsonKind.STRING;
        str();
      } else if (c == 0x74) {
        kind = JsonKind.BOOL;
        literal("true");
      } else if (c == 0x66) {
        kind = JsonKind.BOOL;
        literal("false");
      } else if (c == 0x6e) {
        kind = JsonKind.NULL;
        literal("null");
      } else if (c == 0x2d || (c >= 0x30 && c <= 0x39)) {
        kind = JsonKind.NUMBER;
        number();
      } else {
        fail(JsonError.SYNTAX);
        return;
      }
      if (err != 0) return;
      for (let k = 0; k < ncs; k++) {
        const cu = unchecked(cursors[k]);
        if (cu.match && !cu.found && !cu.open && cu.at > cu.pn) {
          cu.found = true;
          cu.kind = kind;
          cu.start = start;
          cu.end = pos;
        }
        cu.match = false;
      }
      st = 1;
    } else if (st == 1) {
      ws();
      if (depth == 0) {
        if (pos != n) fail(JsonError.SYNTAX);
        return;
      }
      const c = peek();
      const top = <i32>load<u8>(sp + <usize>(depth - 1));
      if (c == 0x2c) {
        pos++;
        if (top == 0x7b) {
          st = 2;
          continue;
        }
        for (let k = 0; k < ncs; k++) {
          const cu = unchecked(cursors[k]);
          if (cu.mdepth == depth) {
            cu.elem++;
            if (cu.elem == cu.want) cu.take();
          }
        }
        st = 0;
      } else if (c == top + 2) {
        pos++;
        for (let k = 0; k < ncs; k++) {
          const cu = unchecked(cursors[k]);
          if (cu.open && cu.hereAt == depth) {
            cu.open = false;
            cu.found = true;
            cu.end = pos;
          }
          if (cu.mdepth == depth) cu.mdepth = 0;
        }
        depth--;
      } else {
        fail(JsonError.SYNTAX);
        return;
      }
    } else {
      ws();
      if (peek() != 0x22) {
        fail(JsonError.SYNTAX);
        return;
      }
      const kstart = pos + 1;
      str();
      if (err != 0) return;
      for (let k = 0; k < ncs; k++) {
        const cu = unchecked(cursors[k]);
        if (cu.mdepth == depth && textEq(d + <usize>kstart, pos - 1 - kstart, cu.pp + <usize>cu.segStart, cu.segLen)) {
          cu.take();
        }
      }
      ws();
      if (peek() != 0x3a) {
        fail(JsonError.SYNTAX);
        return;
      }
      pos++;
      st = 0;
    }
  }
}

/** Validates the len bytes at p, locating the UTF-8 path at pp (pn bytes)
 * when want is set. */
function find(p: usize, len: i32, pp: usize, pn: i32, want: bool): i32 {
  d = p;
  n = len;
  pos = 0;
  err = 0;
  found = false;
  const c = unchecked(cursors[0]);
  c.reset(pp, pn);
  scan(want ? 1 : 0);
  if (err != 0) return err;
  if (!want) return JsonError.OK;
  if (!c.found) return JsonError.NOT_FOUND;
  found = true;
  fKind = c.kind;
  fStart = c.start;
  fEnd = c.end;
  return JsonError.OK;
}

/** Looks up every path of paths (at most JSON_MAX_PATHS, else TYPE) in doc
 * in one pass, as jsonGet does for one, after validating all of doc: out[i]
 * gets the value at paths[i], or kind 0 when there is none. out must be at
 * least as long as paths. */
export function jsonGetAll(doc: Uint8Array, paths: Array<string>, out: Array<JsonValue>): i32 {
  const np = paths.length;
  if (np > JSON_MAX_PATHS || out.length < np) return JsonError.TYPE;
  for (let i = 0; i < np; i++) {
    const cu = unchecked(cursors[i]);
    const s = unchecked(paths[i]);
    const k = String.UTF8.byteLength(s);
    if (cu.buf.length < k) cu.buf = new Uint8Array(k * 2);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, cu.buf.dataStart);
    cu.reset(cu.buf.dataStart, k);
  }
  d = doc.dataStart;
  n = doc.byteLength;
  pos = 0;
  err = 0;
  scan(np);
  if (err != 0) return err;
  for (let i = 0; i < np; i++) {
    const cu = unchecked(cursors[i]);
    const v = unchecked(out[i]);
    v.doc = doc;
    v.kind = cu.found ? cu.kind : 0;
    v.start = cu.start;
    v.end = cu.end;
  }
  return JsonError.OK;
}

/** Checks that doc is one valid JSON document; jsonOffset() is where
 * reading stopped when it is not. */
export function jsonValid(doc: Uint8Array): i32 {
  return find(doc.dataStart, doc.byteLength, 0, 0, false);
}

/** Where the last reading call stopped: the offset of an error. */
export function jsonOffset(): i32 {
  return pos;
}

/** Finds the value at path in doc, after validating all of doc, into out. */
export function jsonGet(doc: Uint8Array, path: string, out: JsonValue): i32 {
  const pn = utf8Into(path, 0);
  const e = find(doc.dataStart, doc.byteLength, scratch.dataStart, pn, true);
  if (e != 0) {
    out.kind = 0;
    return e;
  }
  out.doc = doc;
  out.kind = fKind;
  out.start = fStart;
  out.end = fEnd;
  return JsonError.OK;
}

/**
 * One value of a document: doc[start..end) is its JSON text, quotes
 * included for a string. Create one and reuse it. The getters set err
 * (JsonError.OK when they succeed).
 */
export class JsonValue {
  doc: Uint8Array | null = null;
  kind: i32 = 0;
  start: i32 = 0;
  end: i32 = 0;
  err: i32 = 0;

  /** Looks up path inside this value, into out. */
  get(path: string, out: JsonValue): i32 {
    if (this.kind == 0) return JsonError.NOT_FOUND;
    const pn = utf8Into(path, 0);
    const base = this.doc!.dataStart + <usize>this.start;
    const e = find(base, this.end - this.start, scratch.dataStart, pn, true);
    if (e != 0) {
      out.kind = 0;
      return e;
    }
    out.doc = this.doc;
    out.kind = fKind;
    out.start = this.start + fStart;
    out.end = this.start + fEnd;
    return JsonError.OK;
  }

  /** The value's JSON text as a view of the document (allocates the view). */
  raw(): Uint8Array {
    return this.doc!.subarray(this.start, this.end);
  }

  isNull(): bool {
    return this.kind == JsonKind.NULL;
  }

  /** true or false; TYPE for another value. */
  bool(): bool {
    this.err = this.kind == JsonKind.BOOL ? JsonError.OK : JsonError.TYPE;
    return this.err == 0 && load<u8>(this.doc!.dataStart + <usize>this.start) == 0x74;
  }

  /** A number written as an integer (no fraction or exponent): TYPE for
   * anything else, RANGE outside i64. -0 is 0. */
  int(): i64 {
    this.err = JsonError.TYPE;
    if (this.kind != JsonKind.NUMBER) return 0;
    const p = this.doc!.dataStart;
    for (let i = this.start; i < this.end; i++) {
      const c = load<u8>(p + <usize>i);
      if (c == 0x2e || c == 0x65 || c == 0x45) return 0;
    }
    const neg = load<u8>(p + <usize>this.start) == 0x2d;
    let u: u64 = 0;
    this.err = JsonError.RANGE;
    for (let i = this.start + (neg ? 1 : 0); i < this.end; i++) {
      const dgt = <u64>(load<u8>(p + <usize>i) - 0x30);
      if (u > (u64.MAX_VALUE - dgt) / 10) return 0;
      u = u * 10 + dgt;
    }
    if (neg) {
      if (u > (<u64>1 << 63)) return 0;
      this.err = JsonError.OK;
      return -(<i64>u);
    }
    if (u > <u64>i64.MAX_VALUE) return 0;
    this.err = JsonError.OK;
    return <i64>u;
  }

  /** A number as the nearest f64 (allocates a short string to parse it):
   * TYPE for anything else, RANGE when it is too large. */
  float(): f64 {
    this.err = JsonError.TYPE;
    if (this.kind != JsonKind.NUMBER) return 0;
    const s = String.UTF8.decodeUnsafe(this.doc!.dataStart + <usize>this.start, <usize>(this.end - this.start));
    const f = parseFloat(s);
    if (!isFinite(f)) {
      this.err = JsonError.RANGE;
      return 0;
    }
    this.err = JsonError.OK;
    return f;
  }

  /** Whether the string's contents have escapes: when they do not, they are
   * doc[start+1..end-1) as they are. */
  hasEscapes(): bool {
    const p = this.doc!.dataStart;
    for (let i = this.start + 1; i < this.end - 1; i++) {
      if (load<u8>(p + <usize>i) == 0x5c) return true;
    }
    return false;
  }

  /** Writes the string's decoded contents to buf and returns their length
   * (never more than end - start); err is TYPE for another value, NO_SPACE
   * when buf is too small. */
  text(buf: Uint8Array): i32 {
    this.err = JsonError.TYPE;
    if (this.kind != JsonKind.STRING) return 0;
    const p = this.doc!.dataStart + <usize>(this.start + 1);
    const len = this.end - this.start - 2;
    const out = buf.dataStart, cap = buf.byteLength;
    let i = 0, w = 0;
    this.err = JsonError.NO_SPACE;
    while (i < len) {
      const c = load<u8>(p + <usize>i);
      if (c != 0x5c) {
        if (w == cap) return 0;
        store<u8>(out + <usize>w, c);
        w++;
        i++;
        continue;
      }
      escape(p + <usize>i, len - i);
      if (cap - w < escLen) return 0;
      for (let k = 0; k < escLen; k++) store<u8>(out + <usize>(w + k), <u8>(escBytes >> (8 * k)));
      w += escLen;
      i += escUsed;
    }
    this.err = JsonError.OK;
    return w;
  }

  /** Whether the value is a string whose decoded contents are s. */
  textEquals(s: string): bool {
    if (this.kind != JsonKind.STRING) return false;
    const sn = utf8Into(s, 1);
    return textEq(this.doc!.dataStart + <usize>(this.start + 1), this.end - this.start - 2, scratch2.dataStart, sn);
  }

  /** Whether the value is a string whose decoded contents are the bytes b. */
  textEqualsBytes(b: Uint8Array): bool {
    if (this.kind != JsonKind.STRING) return false;
    return textEq(this.doc!.dataStart + <usize>(this.start + 1), this.end - this.start - 2, b.dataStart, b.byteLength);
  }
}

// ---- writing ----

/** A growable output buffer, reused across records: bytes [0, length) of
 * buf are the output. */
export class JsonBuffer {
  buf: Uint8Array;
  length: i32 = 0;

  constructor(capacity: i32 = 256) {
    this.buf = new Uint8Array(max(capacity, 16));
  }

  reset(): void {
    this.length = 0;
  }

  /** The output as a view (allocates the view). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  reserve(k: i32): usize {
    if (this.buf.byteLength - this.length < k) {
      const nb = new Uint8Array(max(this.buf.byteLength * 2, this.length + k));
      memory.copy(nb.dataStart, this.buf.dataStart, <usize>this.length);
      this.buf = nb;
    }
    const p = this.buf.dataStart + <usize>this.length;
    this.length += k;
    return p;
  }

  putMem(p: usize, k: i32): void {
    if (k > 0) memory.copy(this.reserve(k), p, <usize>k);
  }

  put(b: Uint8Array): void {
    this.putMem(b.dataStart, b.byteLength);
  }

  putByte(c: u32): void {
    store<u8>(this.reserve(1), <u8>c);
  }

  putAscii(s: string): void {
    const p = this.reserve(s.length);
    for (let i = 0; i < s.length; i++) store<u8>(p + <usize>i, <u8>s.charCodeAt(i));
  }

  /** Appends the k bytes at p as a JSON string. */
  quoteMem(p: usize, k: i32): void {
    this.putByte(0x22);
    let start = 0;
    for (let i = 0; i < k; i++) {
      const c = <u32>load<u8>(p + <usize>i);
      if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
      this.putMem(p + <usize>start, i - start);
      if (c == 0x22) this.putAscii('\\"');
      else if (c == 0x5c) this.putAscii("\\\\");
      else if (c == 0x0a) this.putAscii("\\n");
      else if (c == 0x0d) this.putAscii("\\r");
      else if (c == 0x09) this.putAscii("\\t");
      else if (c == 0x08) this.putAscii("\\b");
      else if (c == 0x0c) this.putAscii("\\f");
      else {
        this.putAscii("\\u00");
        this.putByte(<u32>"0123456789abcdef".charCodeAt(c >> 4));
        this.putByte(<u32>"0123456789abcdef".charCodeAt(c & 15));
      }
      start = i + 1;
    }
    this.putMem(p + <usize>start, k - start);
    this.putByte(0x22);
  }

  /** Appends bytes b as a JSON string: quoted, with '"', '\\' and control
   * characters escaped, every other byte as it is. */
  quote(b: Uint8Array): void {
    this.quoteMem(b.dataStart, b.byteLength);
  }

  /** Appends s, as UTF-8, as a JSON string. */
  quoteString(s: string): void {
    const k = utf8Into(s, 1);
    this.quoteMem(scratch2.dataStart, k);
  }

  /** Appends an integer. */
  int(v: i64): void {
    if (v == 0) {
      this.putByte(0x30);
      return;
    }
    let u: u64 = v < 0 ? <u64>(-v) : <u64>v; // -i64.MIN wraps to itself, which is right as u64
    if (v < 0) this.putByte(0x2d);
    let k = 0;
    for (let t = u; t > 0; t /= 10) k++;
    const p = this.reserve(k);
    for (let i = k - 1; i >= 0; i--) {
      store<u8>(p + <usize>i, <u8>(0x30 + u % 10));
      u /= 10;
    }
  }
}

/** Builds one JSON document into a JsonBuffer, placing commas and colons.
 * A misuse is recorded and returned by finish; the calls after it do
 * nothing. Create one and reset() it for each document. */
export class JsonWriter {
  out: JsonBuffer;
  private depth: i32 = 0;
  private key_: bool = false;
  private err: i32 = 0;
  private open: Uint8Array = new Uint8Array(JSON_MAX_DEPTH);
  private count: Uint32Array = new Uint32Array(JSON_MAX_DEPTH + 1);

  constructor(capacity: i32 = 256) {
    this.out = new JsonBuffer(capacity);
  }

  reset(): void {
    this.out.reset();
    this.depth = 0;
    this.key_ = false;
    this.err = 0;
    this.count[0] = 0;
  }

  /** OK when the document is complete (out holds it), else WRITER. */
  finish(): i32 {
    if (this.err == 0 && (this.depth != 0 || this.key_)) this.err = JsonError.WRITER;
    return this.err;
  }

  private pre(): bool {
    if (this.err != 0) return false;
    const dp = this.depth;
    if (dp > 0 && this.open[dp - 1] == 0x7b) {
      if (!this.key_) {
        this.err = JsonError.WRITER;
        return false;
      }
      this.key_ = false;
    } else if (dp == 0 && this.count[0] > 0) {
      this.err = JsonError.WRITER;
      return false;
    } else if (this.count[dp] > 0) this.out.putByte(0x2c);
    this.count[dp]++;
    return true;
  }

  /** An object key; a value must follow. */
  key(k: string): void {
    if (this.err != 0) return;
    const dp = this.depth;
    if (dp == 0 || this.open[dp - 1] != 0x7b || this.key_) {
      this.err = JsonError.WRITER;
      return;
    }
    if (this.count[dp] > 0) this.out.putByte(0x2c);
    this.out.quoteString(k);
    this.out.putByte(0x3a);
    this.key_ = true;
  }

  private begin(c: u8): void {
    if (this.err == 0 && this.depth == JSON_MAX_DEPTH) this.err = JsonError.WRITER;
    if (!this.pre()) return;
    this.out.putByte(c);
    this.open[this.depth++] = c;
    this.count[this.depth] = 0;
  }

  private end(open: u8, c: u8): void {
    if (this.err != 0) return;
    if (this.depth == 0 || this.open[this.depth - 1] != open || this.key_) {
      this.err = JsonError.WRITER;
      return;
    }
    this.out.putByte(c);
    this.depth--;
  }

  beginObject(): void { this.begin(0x7b); }
  endObject(): void { this.end(0x7b, 0x7d); }
  beginArray(): void { this.begin(0x5b); }
  endArray(): void { this.end(0x5b, 0x5d); }

  /** A string value. */
  text(s: string): void {
    if (this.pre()) this.out.quoteString(s);
  }

  /** A string value from UTF-8 bytes. */
  textBytes(b: Uint8Array): void {
    if (this.pre()) this.out.quote(b);
  }

  int(v: i64): void {
    if (this.pre()) this.out.int(v);
  }

  /** A number (AssemblyScript's shortest form); NaN and infinities as null. */
  float(f: f64): void {
    if (!this.pre()) return;
    if (!isFinite(f)) this.out.putAscii("null");
    else this.out.putAscii(f.toString());
  }

  bool(b: bool): void {
    if (this.pre()) this.out.putAscii(b ? "true" : "false");
  }

  null(): void {
    if (this.pre()) this.out.putAscii("null");
  }

  /** raw, which must be one valid JSON value (such as a JsonValue's raw()),
   * unchecked. */
  raw(b: Uint8Array): void {
    if (this.pre()) this.out.put(b);
  }

  /** A JsonValue's JSON text, copied without a view. */
  value(v: JsonValue): void {
    if (this.pre()) this.out.putMem(v.doc!.dataStart + <usize>v.start, v.end - v.start);
  }
}

/**
 * Appends to dst the document doc with the value at path replaced by value,
 * which must be one valid JSON value (it is checked). When only the last
 * segment of path is missing and what it names is an object, "key":value
 * is appended to that object before its closing brace. Everything else is
 * copied byte for byte. NOT_FOUND when path has neither a value nor a parent
 * object, DEPTH when the result would nest deeper than JSON_MAX_DEPTH.
 */
export function jsonSet(dst: JsonBuffer, doc: Uint8Array, path: string, value: Uint8Array): i32 {
  const e = find(value.dataStart, value.byteLength, 0, 0, false);
  if (e != 0) return e;
  const start = dst.length;
  const r = setUnchecked(dst, doc, path, value);
  if (r != 0) {
    dst.length = start;
    return r;
  }
  // A container value may nest the result deeper than JSON_MAX_DEPTH.
  let i = 0;
  while (isSpace(load<u8>(value.dataStart + <usize>i))) i++;
  const c = load<u8>(value.dataStart + <usize>i);
  if (c == 0x7b || c == 0x5b) {
    const v = find(dst.buf.dataStart + <usize>start, dst.length - start, 0, 0, false);
    if (v != 0) {
      dst.length = start;
      return v;
    }
  }
  return 0;
}

function setUnchecked(dst: JsonBuffer, doc: Uint8Array, path: string, value: Uint8Array): i32 {
  let e: i32;
  const pn = utf8Into(path, 0);
  const dp = doc.dataStart, dn = doc.byteLength;
  e = find(dp, dn, scratch.dataStart, pn, true);
  if (e == 0) {
    dst.putMem(dp, fStart);
    dst.put(value);
    dst.putMem(dp + <usize>fEnd, dn - fEnd);
    return 0;
  }
  if (e != JsonError.NOT_FOUND || pn == 0) return e;
  let dot = pn - 1;
  while (dot >= 0 && load<u8>(scratch.dataStart + <usize>dot) != 0x2e) dot--;
  const parentN = dot < 0 ? 0 : dot;
  e = find(dp, dn, scratch.dataStart, parentN, true);
  if (e != 0) return e;
  if (fKind != JsonKind.OBJECT) return JsonError.NOT_FOUND;
  const closing = fEnd - 1;
  dst.putMem(dp, closing);
  for (let i = fStart + 1; i < closing; i++) {
    if (!isSpace(load<u8>(dp + <usize>i))) {
      dst.putByte(0x2c);
      break;
    }
  }
  dst.quoteMem(scratch.dataStart + <usize>(dot + 1), pn - dot - 1);
  dst.putByte(0x3a);
  dst.put(value);
  dst.putMem(dp + <usize>closing, dn - closing);
  return 0;
}

@inline function byteAt(p: usize, j: i32): u32 {
  return <u32>load<u8>(p + <usize>j);
}

function escapedAt(p: usize, i: i32): bool {
  let k = 0;
  while (i > 0 && load<u8>(p + <usize>(i - 1)) == 0x5c) {
    i--;
    k++;
  }
  return k % 2 == 1;
}

/** Appends to dst the document doc without the object member or array
 * element at path (and the comma that separated it). NOT_FOUND when path has
 * no value or is empty. */
export function jsonDelete(dst: JsonBuffer, doc: Uint8Array, path: string): i32 {
  const pn = utf8Into(path, 0);
  const p = doc.dataStart, len = doc.byteLength;
  const e = find(p, len, scratch.dataStart, pn, pn != 0);
  if (e != 0) return e;
  if (pn == 0) return JsonError.NOT_FOUND;
  let start = fStart, end = fEnd, i = start - 1;
  while (isSpace(byteAt(p, i))) i--;
  if (byteAt(p, i) == 0x3a) {
    i--;
    while (isSpace(byteAt(p, i))) i--;
    i--; // inside the key, before its closing quote
    while (!(byteAt(p, i) == 0x22 && !escapedAt(p, i))) i--;
    start = i;
    i--;
    while (isSpace(byteAt(p, i))) i--;
  }
  let j = end;
  while (j < len && isSpace(byteAt(p, j))) j++;
  if (byteAt(p, j) == 0x2c) {
    end = j + 1;
    while (end < len && isSpace(byteAt(p, end))) end++;
  } else if (byteAt(p, i) == 0x2c) {
    start = i;
    while (isSpace(byteAt(p, start - 1))) start--;
  }
  dst.putMem(p, start);
  dst.putMem(p + <usize>end, len - end);
  return 0;
}
