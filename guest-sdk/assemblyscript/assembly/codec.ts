// The SDK's frame codec (abi/SPEC.md, section 6): a reader that decodes
// input frames without copying — records' byte arrays are views of the frame
// — and a writer that encodes canonical output frames into one reused
// buffer.
//
// The reader accepts every encoding abi's Go reader accepts and rejects
// every frame it rejects, with the same offsets and reasons. It allocates
// nothing per record: a record's views, header objects and header array are
// reused from one record to the next.

import { Record, Header } from "./record";
import { Result } from "./result";

/** The most records one frame may carry. */
export const MAX_RECORDS: u32 = 1 << 24;

/** How deeply skipped values may nest. */
const MAX_DEPTH = 32;

/** What a msgpack type byte holds, in abi's words. */
export function typeName(c: u32): string {
  if (c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3)) return "an integer";
  if ((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf) return "a map";
  if ((c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd) return "an array";
  if ((c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb)) return "a string";
  if (c == 0xc0) return "nil";
  if (c == 0xc2 || c == 0xc3) return "a boolean";
  if (c >= 0xc4 && c <= 0xc6) return "bin";
  if (c == 0xca || c == 0xcb) return "a float";
  if (c == 0xc1) return "the unused byte 0xc1";
  return "an extension";
}

// The inline readers return the position after what they read, or 0 on a
// fault (a frame never starts at address 0), and leave what they read here:
// module globals, which cost nothing to pass around.
let gPtr: usize = 0; // bytes read: where they start
let gLen: u32 = 0; //   and how many, or an array's length
let gNil = false; //    whether it was nil
let gInt: i64 = 0; //   an integer read
let gCanon = true; //   cleared when an encoding is not the canonical one

// The output name of the last record decoded and where its bytes are, so
// that a record emitted with that very string gets the bytes as they were.
let lastOutput: string | null = null;
let lastOutputPtr: usize = 0;
let lastOutputLen: u32 = 0;

// @ts-ignore: decorator
@inline function be16(p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p));
}

// @ts-ignore: decorator
@inline function be32(p: usize): u32 {
  return bswap<u32>(load<u32>(p));
}

/**
 * A position in a msgpack buffer that records the first fault. Reader and
 * the config decoder use it.
 */
export class Cursor {
  base: usize = 0; // address of the buffer's first byte
  end: usize = 0; //  address just past its last
  pos: usize = 0;
  error: string | null = null; // "malformed frame at byte N: reason"

  /** Records a fault at address at and returns 0. */
  fail(at: usize, reason: string): usize {
    if (this.error === null) this.error = "malformed frame at byte " + (at - this.base).toString() + ": " + reason;
    return 0;
  }

  needFail(p: usize, n: usize): usize {
    return this.fail(p, "need " + n.toString() + " bytes, " + (this.end - p).toString() + " left");
  }

  /** Reads an array header at p: its length goes to gLen. */
  // @ts-ignore: decorator
  @inline readArray(p: usize): usize {
    const end = this.end;
    if (p >= end) return this.needFail(p, 1);
    const c = <u32>load<u8>(p);
    if (c - 0x90 < 16) {
      gLen = c & 0x0f;
      return p + 1;
    }
    if (c == 0xdc) {
      if (end - p < 3) return this.needFail(p, 3);
      gLen = be16(p + 1);
      return p + 3;
    }
    if (c == 0xdd) {
      if (end - p < 5) return this.needFail(p, 5);
      gLen = be32(p + 1);
      return p + 5;
    }
    return this.fail(p, "want an array, found " + typeName(c));
  }

  /**
   * Reads nil, bin or str at p into gNil, gPtr and gLen. gCanon is cleared
   * unless the encoding is nil or the smallest bin (the smallest str when
   * wantStr).
   */
  // @ts-ignore: decorator
  @inline readBin(p: usize, field: string, wantStr: bool): usize {
    const end = this.end;
    if (p >= end) return this.needFail(p, 1);
    const c = <u32>load<u8>(p);
    let n: u32, h: usize;
    if (c == 0xc0) {
      gNil = true;
      gPtr = p;
      gLen = 0;
      return p + 1;
    }
    if (c == 0xc4 || c == 0xd9) {
      if (end - p < 2) return this.needFail(p, 2);
      n = <u32>load<u8>(p + 1);
      h = 2;
      if (c != (wantStr ? 0xd9 : 0xc4) || (wantStr && n <= 31)) gCanon = false;
    } else if (c - 0xa0 < 32) {
      n = c & 0x1f;
      h = 1;
      if (!wantStr) gCanon = false;
    } else if (c == 0xc5 || c == 0xda) {
      if (end - p < 3) return this.needFail(p, 3);
      n = be16(p + 1);
      h = 3;
      if (c != (wantStr ? 0xda : 0xc5) || n <= 0xff) gCanon = false;
    } else if (c == 0xc6 || c == 0xdb) {
      if (end - p < 5) return this.needFail(p, 5);
      n = be32(p + 1);
      h = 5;
      if (c != (wantStr ? 0xdb : 0xc6) || n <= 0xffff) gCanon = false;
    } else {
      return this.fail(p, field + ": want bin, str or nil, found " + typeName(c));
    }
    if (<u64>(end - p - h) < <u64>n) return this.fail(p, field + ": " + n.toString() + "-byte value runs past the end of the frame");
    gNil = false;
    gPtr = p + h;
    gLen = n;
    return p + h + <usize>n;
  }

  /** Reads an integer that fits in an i64 at p into gInt. */
  // @ts-ignore: decorator
  @inline readInt(p: usize, field: string): usize {
    const end = this.end;
    if (p >= end) return this.needFail(p, 1);
    const c = <u32>load<u8>(p);
    if (c <= 0x7f) {
      gInt = <i64>c;
      return p + 1;
    }
    if (c >= 0xe0) {
      gInt = <i64><i8>c;
      return p + 1;
    }
    if (c == 0xcf && end - p >= 9) {
      const u = bswap<u64>(load<u64>(p + 1));
      if (u > <u64>i64.MAX_VALUE) return this.fail(p, field + ": " + u.toString() + " overflows int64");
      gInt = <i64>u;
      if (u <= 0xffffffff) gCanon = false;
      return p + 9;
    }
    return this.readIntSlow(p, field);
  }

  readIntSlow(p: usize, field: string): usize {
    const c = <u32>load<u8>(p);
    let size: usize;
    if (c == 0xcc || c == 0xd0) size = 1;
    else if (c == 0xcd || c == 0xd1) size = 2;
    else if (c == 0xce || c == 0xd2) size = 4;
    else if (c == 0xcf || c == 0xd3) size = 8;
    else return this.fail(p, field + ": want an integer, found " + typeName(c));
    if (this.end - p < 1 + size) return this.needFail(p, 1 + size);
    let v: i64;
    switch (c) {
      case 0xcc: v = <i64>load<u8>(p + 1); break;
      case 0xcd: v = <i64>be16(p + 1); break;
      case 0xce: v = <i64>be32(p + 1); break;
      case 0xd0: v = <i64>load<i8>(p + 1); break;
      case 0xd1: v = <i64>bswap<i16>(load<i16>(p + 1)); break;
      case 0xd2: v = <i64>bswap<i32>(load<i32>(p + 1)); break;
      default: v = bswap<i64>(load<i64>(p + 1)); // 0xd3 (0xcf took the inline path)
    }
    if (c != intTag(v)) gCanon = false;
    gInt = v;
    return p + 1 + size;
  }

  /** Passes over one msgpack value of any type at p. */
  skip(p: usize, depth: i32): usize {
    if (depth > MAX_DEPTH) return this.fail(p, "values nested too deeply");
    const end = this.end;
    if (p >= end) return this.needFail(p, 1);
    const c = <u32>load<u8>(p);
    let size: u64 = 0; // payload bytes to jump
    let items: u64 = 0; // child values to skip
    let h: usize = 1;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
    } else if (c - 0xa0 < 32) size = c & 0x1f;
    else if (c - 0x90 < 16) items = c & 0x0f;
    else if (c - 0x80 < 16) items = 2 * (c & 0x0f);
    else if (c == 0xcc || c == 0xd0) size = 1;
    else if (c == 0xcd || c == 0xd1 || c == 0xd4) size = 2;
    else if (c == 0xce || c == 0xd2 || c == 0xca) size = 4;
    else if (c == 0xcf || c == 0xd3 || c == 0xcb) size = 8;
    else if (c == 0xd5) size = 3;
    else if (c == 0xd6) size = 5;
    else if (c == 0xd7) size = 9;
    else if (c == 0xd8) size = 17;
    else if (c == 0xc4 || c == 0xd9 || c == 0xc7) {
      if (end - p < 2) return this.needFail(p, 2);
      size = load<u8>(p + 1);
      h = 2;
      if (c == 0xc7) size++;
    } else if (c == 0xc5 || c == 0xda || c == 0xc8 || c == 0xdc || c == 0xde) {
      if (end - p < 3) return this.needFail(p, 3);
      const n = <u64>be16(p + 1);
      h = 3;
      if (c == 0xdc) items = n;
      else if (c == 0xde) items = 2 * n;
      else if (c == 0xc8) size = n + 1;
      else size = n;
    } else if (c == 0xc6 || c == 0xdb || c == 0xc9 || c == 0xdd || c == 0xdf) {
      if (end - p < 5) return this.needFail(p, 5);
      const n = <u64>be32(p + 1);
      h = 5;
      if (c == 0xdd) items = n;
      else if (c == 0xdf) items = 2 * n;
      else if (c == 0xc9) size = n + 1;
      else size = n;
    } else {
      // 0xc1 is never used
      return this.fail(p, "invalid msgpack type byte 0xc1");
    }
    const left = <u64>(end - p - h);
    if (left < size) return this.fail(p, "value runs past the end of the frame");
    if (items > left) return this.fail(p, "container of " + items.toString() + " items but only " + left.toString() + " bytes left");
    p += h + <usize>size;
    for (let i: u64 = 0; i < items; i++) {
      p = this.skip(p, depth + 1);
      if (p == 0) return 0;
    }
    return p;
  }
}

/** The first byte of the smallest msgpack encoding of v. */
function intTag(v: i64): u32 {
  if (v >= 0) {
    if (v <= 0x7f) return <u32>v;
    if (v <= 0xff) return 0xcc;
    if (v <= 0xffff) return 0xcd;
    if (v <= 0xffffffff) return 0xce;
    return 0xcf;
  }
  if (v >= -32) return <u32>v & 0xff;
  if (v >= -0x80) return 0xd0;
  if (v >= -0x8000) return 0xd1;
  if (v >= -0x80000000) return 0xd2;
  return 0xd3;
}

/** Points view at len bytes at ptr inside buf, without allocating. */
// @ts-ignore: decorator
@inline export function repoint(view: Uint8Array, buf: ArrayBuffer, ptr: usize, len: u32): void {
  const v = changetype<usize>(view);
  if (load<usize>(v, offsetof<Uint8Array>("buffer")) != changetype<usize>(buf)) {
    store<usize>(v, changetype<usize>(buf), offsetof<Uint8Array>("buffer"));
    __link(v, changetype<usize>(buf), false);
  }
  store<usize>(v, ptr, offsetof<Uint8Array>("dataStart"));
  store<i32>(v, <i32>len, offsetof<Uint8Array>("byteLength"));
}

/** A new view of nothing in buf, to repoint later. */
function newView(buf: ArrayBuffer): Uint8Array {
  return Uint8Array.wrap(buf, 0, 0);
}

/**
 * Reader decodes the records of one frame into Record objects, whose byte
 * arrays become views of the frame.
 */
export class Reader extends Cursor {
  buf: ArrayBuffer = new ArrayBuffer(0); // the managed buffer holding the frame
  left: u32 = 0;
  total: u32 = 0; // the records the frame declares
  extra: u32 = 0; // reserved frame elements after the records array

  // The last record decoded, as decoded: its fields, where its encoding
  // lies in the frame and whether that encoding is canonical.
  rawStart: usize = 0;
  rawEnd: usize = 0;
  canonical: bool = false;
  // Addresses rather than references: they are only compared, and storing
  // a reference costs a GC write barrier.
  lastKey: usize = 0;
  lastValue: usize = 0;
  lastTimestamp: i64 = 0;
  lastHeaders: usize = 0;
  lastHeaderCount: i32 = 0;

  /** Starts decoding the len bytes at ptr, inside buf, and checks the frame header. */
  reset(buf: ArrayBuffer, ptr: usize, len: usize): bool {
    this.buf = buf;
    this.base = ptr;
    this.end = ptr + len;
    this.pos = ptr;
    this.error = null;
    this.left = 0;
    this.total = 0;
    this.canonical = false;
    this.lastKey = 0;
    this.lastValue = 0;
    this.lastHeaders = 0;
    lastOutput = null;
    let p = this.readArray(ptr);
    if (p == 0) return false;
    const total = gLen;
    if (total < 1) return this.fail(ptr, "frame is an empty array; want [records, ...]") != 0;
    p = this.readArray(p);
    if (p == 0) return false;
    const count = gLen;
    if (count > MAX_RECORDS) return this.fail(ptr + 1, "frame declares " + count.toString() + " records; the limit is " + MAX_RECORDS.toString()) != 0;
    // Every record takes at least 5 bytes.
    if (<u64>count * 5 > <u64>(this.end - p)) {
      return this.fail(ptr + 1, "frame declares " + count.toString() + " records but has only " + (this.end - p).toString() + " bytes left") != 0;
    }
    this.pos = p;
    this.left = count;
    this.total = count;
    this.extra = total - 1;
    return true;
  }

  /**
   * Decodes the next record into rec, overwriting every field, and returns
   * true; false at the end of the frame or on a fault (error is then set).
   */
  next(rec: Record): bool {
    if (this.left == 0 || this.error !== null) return false;
    const buf = this.buf;
    const start = this.pos;
    let p = start;
    gCanon = true;
    let n: u32 = 4;
    if (p < this.end && load<u8>(p) == 0x94) {
      p++;
    } else {
      p = this.readArray(p);
      if (p == 0) return false;
      n = gLen;
      if (n < 4) return this.fail(start, "record has " + n.toString() + " fields; want at least 4 (key, value, timestamp, headers)") != 0;
      gCanon = false;
    }
    p = this.readBin(p, "key", false);
    if (p == 0) return false;
    if (gNil) {
      if (rec.key !== null) rec.key = null;
    } else {
      let v = rec._keyView;
      if (v === null) rec._keyView = v = newView(buf);
      repoint(v, buf, gPtr, gLen);
      if (rec.key !== v) rec.key = v;
    }
    p = this.readBin(p, "value", false);
    if (p == 0) return false;
    if (gNil) {
      if (rec.value !== null) rec.value = null;
    } else {
      let v = rec._valueView;
      if (v === null) rec._valueView = v = newView(buf);
      repoint(v, buf, gPtr, gLen);
      if (rec.value !== v) rec.value = v;
    }
    p = this.readInt(p, "timestamp");
    if (p == 0) return false;
    rec.timestamp = gInt;
    let hs = rec._headers;
    if (hs === null) rec._headers = hs = new Array<Header>(0);
    if (p < this.end && load<u8>(p) == 0xc0) {
      p++;
      if (hs.length != 0) hs.length = 0;
    } else {
      p = this.readHeaders(p, rec, hs);
      if (p == 0) return false;
    }
    if (rec.headers !== hs) rec.headers = hs;
    if (rec.output.length != 0) rec.output = "";
    if (rec._output !== null) rec._output = null;
    lastOutput = null;
    if (n >= 5) {
      p = this.readBin(p, "output", false);
      if (p == 0) return false;
      if (!gNil && gLen > 0) {
        let o = String.UTF8.decodeUnsafe(gPtr, gLen);
        if (o.length == 0) o = "\uFFFD"; // bytes that decode to nothing still route
        let v = rec._outputBytes;
        if (v === null) rec._outputBytes = v = newView(buf);
        repoint(v, buf, gPtr, gLen);
        rec.output = o;
        rec._output = o;
        lastOutput = o;
        lastOutputPtr = gPtr;
        lastOutputLen = gLen;
      }
      for (let i: u32 = 5; i < n; i++) {
        p = this.skip(p, 0);
        if (p == 0) return false;
      }
    }
    this.pos = p;
    this.rawStart = start;
    this.rawEnd = p;
    this.canonical = gCanon;
    this.lastKey = changetype<usize>(rec.key);
    this.lastValue = changetype<usize>(rec.value);
    this.lastTimestamp = rec.timestamp;
    this.lastHeaders = changetype<usize>(hs);
    this.lastHeaderCount = hs.length;
    this.left--;
    return true;
  }

  private readHeaders(p: usize, rec: Record, hs: Array<Header>): usize {
    const at = p;
    if (p >= this.end) return this.needFail(p, 1);
    const first = <u32>load<u8>(p);
    p = this.readArray(p);
    if (p == 0) return 0;
    const n = gLen;
    if (n % 2 != 0) return this.fail(at, "headers: array of " + n.toString() + " items; want name/value pairs");
    if (<usize>n > this.end - p) return this.fail(at, "headers: " + n.toString() + " items but only " + (this.end - p).toString() + " bytes left");
    // A writer writes no headers as nil and uses the smallest array.
    if (n == 0 || first != (n <= 15 ? 0x90 | n : n <= 0xffff ? 0xdc : 0xdd)) gCanon = false;
    let pool = rec._pool;
    if (pool === null) rec._pool = pool = new Array<Header>(0);
    const buf = this.buf;
    const count = <i32>(n / 2);
    // hs keeps pool[i] at i between records; only what changed is stored,
    // since every store of a reference costs a GC write barrier.
    if (hs.length > count) hs.length = count;
    for (let i: i32 = 0; i < count; i++) {
      if (i == pool.length) {
        const h = new Header(newView(buf), null);
        h._name = h.name;
        h._valueView = newView(buf);
        pool.push(h);
      }
      const h = unchecked(pool[i]);
      p = this.readBin(p, "header name", true);
      if (p == 0) return 0;
      if (gNil) gCanon = false; // written back as ""
      const name = h._name!;
      repoint(name, buf, gPtr, gLen);
      if (h.name !== name) h.name = name;
      p = this.readBin(p, "header value", false);
      if (p == 0) return 0;
      let value: Uint8Array | null = null;
      if (!gNil) {
        value = h._valueView!;
        repoint(value, buf, gPtr, gLen);
      }
      if (h.value !== value) h.value = value;
      if (h._value !== value) h._value = value;
      if (i < hs.length) {
        if (unchecked(hs[i]) !== h) unchecked(hs[i] = h);
      } else {
        hs.push(h);
      }
    }
    return p;
  }

  /**
   * After the last record: reads the header of the frame's async results
   * (element 1) and returns how many there are, 0 when it has none, or -1
   * on a fault (error is then set). Read them with nextResult.
   */
  resultsBegin(): i64 {
    if (this.error !== null) return -1;
    if (this.extra == 0) return 0;
    this.extra--;
    const p = this.readArray(this.pos);
    if (p == 0) return -1;
    const n = gLen;
    // Every result takes at least 7 bytes.
    if (<u64>n * 7 > <u64>(this.end - p)) {
      this.fail(p, "frame declares " + n.toString() + " async results but has only " + (this.end - p).toString() + " bytes left");
      return -1;
    }
    this.pos = p;
    this.canonical = false; // what a result handler emits is its own
    return <i64>n;
  }

  /**
   * Decodes the frame's i-th async result into res, overwriting every
   * field: any valid encoding of the fields' types, fields past the sixth
   * skipped. False on a fault (error is then set).
   */
  nextResult(res: Result, i: u32): bool {
    const buf = this.buf;
    const at = this.pos;
    let p = this.readArray(at);
    if (p == 0) return false;
    const f = gLen;
    if (f < 6) return this.fail(at, "async result " + i.toString() + " has " + f.toString() + " fields; want 6") != 0;
    p = this.readInt(p, "ticket");
    if (p == 0) return false;
    res.ticket = <u64>gInt;
    p = this.readInt(p, "status");
    if (p == 0) return false;
    res.status = <i32>gInt;
    p = this.readBin(p, "context", false);
    if (p == 0) return false;
    if (gNil) {
      res.context = null;
    } else {
      let v = res._contextView;
      if (v === null) res._contextView = v = newView(buf);
      repoint(v, buf, gPtr, gLen);
      res.context = v;
    }
    p = this.readInt(p, "code");
    if (p == 0) return false;
    res.code = gInt;
    p = this.readBin(p, "body", false);
    if (p == 0) return false;
    if (gNil) {
      res.body = null;
    } else {
      let v = res._bodyView;
      if (v === null) res._bodyView = v = newView(buf);
      repoint(v, buf, gPtr, gLen);
      res.body = v;
    }
    p = this.readBin(p, "error", true);
    if (p == 0) return false;
    res.error = gNil ? null : String.UTF8.decodeUnsafe(gPtr, gLen);
    for (let j: u32 = 6; j < f; j++) {
      p = this.skip(p, 0);
      if (p == 0) return false;
    }
    this.pos = p;
    return true;
  }

  /**
   * Checks the rest of the frame after the last record: reserved elements
   * are skipped and no bytes may follow.
   */
  close(): bool {
    if (this.error !== null) return false;
    let p = this.pos;
    if (this.left != 0) return this.fail(p, this.left.toString() + " records left unread") != 0;
    for (let i: u32 = 0; i < this.extra; i++) {
      p = this.skip(p, 0);
      if (p == 0) return false;
    }
    if (p != this.end) return this.fail(p, (this.end - p).toString() + " trailing bytes after the frame") != 0;
    return true;
  }

  /**
   * Whether rec is the record last decoded with nothing changed but the
   * contents of its byte arrays, and that record was encoded canonically:
   * then its encoding in the frame, in-place edits included, is exactly
   * what Writer.append would write for rec.
   */
  // @ts-ignore: decorator
  @inline unchanged(rec: Record, output: string): bool {
    return this.canonical && output.length == 0 && rec.timestamp == this.lastTimestamp &&
      changetype<usize>(rec.key) == this.lastKey && changetype<usize>(rec.value) == this.lastValue && this.sameHeaders(rec.headers);
  }

  private sameHeaders(hs: Array<Header>): bool {
    const n = hs.length;
    if (n != this.lastHeaderCount) return false;
    if (n == 0) return true;
    if (changetype<usize>(hs) != this.lastHeaders) return false;
    for (let i = 0; i < n; i++) {
      const h = unchecked(hs[i]);
      if (h.name !== h._name || h.value !== h._value) return false;
    }
    return true;
  }
}

/** Writer encodes a canonical frame into a grow-only buffer it keeps between frames. */
export class Writer {
  buf: ArrayBuffer = new ArrayBuffer(0);
  base: usize = 0;
  pos: usize = 0;
  limit: usize = 0;
  n: u32 = 0;
  // The last output name and its UTF-8 bytes.
  outName: string = "";
  outBytes: ArrayBuffer = new ArrayBuffer(0);

  /** Starts a new frame. */
  reset(): void {
    if (this.buf.byteLength < 6) this.setBuffer(new ArrayBuffer(64 << 10), 0);
    const b = this.base;
    store<u8>(b, 0x91);
    store<u8>(b, 0xdd, 1);
    this.pos = b + 6;
    this.n = 0;
  }

  private setBuffer(nb: ArrayBuffer, used: usize): void {
    if (used > 0) memory.copy(changetype<usize>(nb), this.base, used);
    this.buf = nb;
    this.base = changetype<usize>(nb);
    this.pos = this.base + used;
    this.limit = this.base + <usize>nb.byteLength;
  }

  /** Makes room for need more bytes. */
  // @ts-ignore: decorator
  @inline ensure(need: u64): void {
    if (<u64>(this.limit - this.pos) < need) this.grow(need);
  }

  private grow(need: u64): void {
    const used = this.pos - this.base;
    let want = max(<u64>used + need, 2 * <u64>this.buf.byteLength);
    if (want > 0x3fffffff) want = <u64>used + need; // ArrayBuffer's limit; fails below if still over
    this.setBuffer(new ArrayBuffer(<i32>want), used);
  }

  /** Appends rec's canonical encoding, routed to output. */
  append(rec: Record, output: string): void {
    const k = rec.key, v = rec.value, hs = rec.headers;
    let outPtr: usize = 0;
    let outLen: u32 = 0;
    const raw = rec._outputBytes;
    if (output.length == 0) {
    } else if (raw !== null && output === rec._output) {
      outPtr = raw.dataStart;
      outLen = <u32>raw.byteLength;
    } else if (output === lastOutput) {
      outPtr = lastOutputPtr;
      outLen = lastOutputLen;
    } else {
      if (output !== this.outName && output != this.outName) this.outBytes = String.UTF8.encode(output);
      this.outName = output;
      outPtr = changetype<usize>(this.outBytes);
      outLen = <u32>this.outBytes.byteLength;
    }
    let need: u64 = 1 + 5 + 5 + 9 + 5 + 5;
    if (k !== null) need += <u64>k.byteLength;
    if (v !== null) need += <u64>v.byteLength;
    need += <u64>outLen;
    const nh = hs.length;
    for (let i = 0; i < nh; i++) {
      const h = unchecked(hs[i]);
      need += 10 + <u64>h.name.byteLength;
      const hv = h.value;
      if (hv !== null) need += <u64>hv.byteLength;
    }
    this.ensure(need);
    let p = this.pos;
    store<u8>(p++, output.length == 0 ? 0x94 : 0x95);
    p = k === null ? putNil(p) : putBin(p, k.dataStart, <u32>k.byteLength);
    p = v === null ? putNil(p) : putBin(p, v.dataStart, <u32>v.byteLength);
    p = putInt(p, rec.timestamp);
    if (nh == 0) {
      store<u8>(p++, 0xc0);
    } else {
      const n = <u32>(2 * nh);
      if (n <= 15) {
        store<u8>(p++, 0x90 | n);
      } else if (n <= 0xffff) {
        store<u8>(p, 0xdc);
        store<u16>(p + 1, bswap<u16>(<u16>n));
        p += 3;
      } else {
        store<u8>(p, 0xdd);
        store<u32>(p + 1, bswap<u32>(n));
        p += 5;
      }
      for (let i = 0; i < nh; i++) {
        const h = unchecked(hs[i]);
        p = putStr(p, h.name.dataStart, <u32>h.name.byteLength);
        const hv = h.value;
        p = hv === null ? putNil(p) : putBin(p, hv.dataStart, <u32>hv.byteLength);
      }
    }
    if (output.length != 0) p = putStr(p, outPtr, outLen);
    this.pos = p;
    this.n++;
  }

  /** Appends one record already encoded canonically. */
  // @ts-ignore: decorator
  @inline appendRaw(src: usize, len: usize): void {
    this.ensure(<u64>len);
    memory.copy(this.pos, src, len);
    this.pos += len;
    this.n++;
  }

  /** Finishes the frame and returns ptr << 32 | len. */
  finish(): i64 {
    store<u32>(this.base + 2, bswap<u32>(this.n));
    return (<i64>this.base << 32) | <i64>(this.pos - this.base);
  }

  /** The frame so far, copied (for tests). */
  bytes(): Uint8Array {
    const out = new Uint8Array(<i32>(this.pos - this.base));
    memory.copy(out.dataStart, this.base, this.pos - this.base);
    return out;
  }
}

// @ts-ignore: decorator
@inline export function putNil(p: usize): usize {
  store<u8>(p, 0xc0);
  return p + 1;
}

// @ts-ignore: decorator
@inline export function putBin(p: usize, src: usize, n: u32): usize {
  if (n <= 0xff) {
    store<u8>(p, 0xc4);
    store<u8>(p + 1, <u8>n);
    p += 2;
  } else if (n <= 0xffff) {
    store<u8>(p, 0xc5);
    store<u16>(p + 1, bswap<u16>(<u16>n));
    p += 3;
  } else {
    store<u8>(p, 0xc6);
    store<u32>(p + 1, bswap<u32>(n));
    p += 5;
  }
  memory.copy(p, src, n);
  return p + n;
}

export function putStr(p: usize, src: usize, n: u32): usize {
  if (n <= 31) {
    store<u8>(p, 0xa0 | n);
    p += 1;
  } else if (n <= 0xff) {
    store<u8>(p, 0xd9);
    store<u8>(p + 1, <u8>n);
    p += 2;
  } else if (n <= 0xffff) {
    store<u8>(p, 0xda);
    store<u16>(p + 1, bswap<u16>(<u16>n));
    p += 3;
  } else {
    store<u8>(p, 0xdb);
    store<u32>(p + 1, bswap<u32>(n));
    p += 5;
  }
  memory.copy(p, src, n);
  return p + n;
}

// @ts-ignore: decorator
@inline export function putInt(p: usize, v: i64): usize {
  if (<u64>v <= 0x7f) {
    store<u8>(p, <u8>v);
    return p + 1;
  }
  if (v > 0xffffffff) {
    store<u8>(p, 0xcf);
    store<u64>(p + 1, bswap<u64>(<u64>v));
    return p + 9;
  }
  return putIntSlow(p, v);
}

function putIntSlow(p: usize, v: i64): usize {
  const tag = intTag(v);
  store<u8>(p, <u8>tag);
  switch (tag) {
    case 0xcc:
    case 0xd0:
      store<u8>(p + 1, <u8>v);
      return p + 2;
    case 0xcd:
    case 0xd1:
      store<u16>(p + 1, bswap<u16>(<u16>v));
      return p + 3;
    case 0xce:
    case 0xd2:
      store<u32>(p + 1, bswap<u32>(<u32>v));
      return p + 5;
    case 0xcf:
    case 0xd3:
      store<u64>(p + 1, bswap<u64>(<u64>v));
      return p + 9;
  }
  return p + 1; // negative fixint
}

/** What the last readBin read: where its bytes start. */
export function binPtr(): usize {
  return gPtr;
}

/** What the last readBin or readArray read: a length. */
export function binLen(): u32 {
  return gLen;
}

/** What the last readInt read. */
export function readIntResult(): i64 {
  return gInt;
}
