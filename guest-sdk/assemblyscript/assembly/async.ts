// Async I/O (abi/SPEC.md, section 5.2): submit sends a request to a target
// the pipeline file declares under the operator's async.targets, and the
// handler registered with onResult receives its result in a later call,
// with the context the request carried. No call waits for a request.
//
//   onResult((res: Result, out: Emitter): void => { ... });
//   flatMap((r: Record, out: Emitter): void => {
//     submit(redis("cache", r.value, ["GET", "user:7"]));
//   });

import { Header } from "./record";
import { fail, failWithHostMessage, hasResultHandler } from "./operator";
import { putBin, putInt, putNil } from "./codec";

// @ts-ignore: decorator
@external("wasmstream", "async_submit")
declare function hostAsyncSubmit(ptr: usize, len: usize): i64;

/** What async_submit returns when it refuses a request. */
export enum SubmitStatus {
  /** A target the pipeline does not declare, a request its declaration does not allow, a malformed request (the host sets the message). */
  Error = -1,
  /** Over async.max_request, or a context over async.max_context. */
  TooLarge = -3,
  /** The instance has async.capacity requests in flight. */
  Capacity = -6,
}

/** The kind of a SQL argument. */
export enum ArgKind {
  Nil,
  Bool,
  Int,
  Float,
  Str,
  Bin,
}

/** A SQL argument: nil, a boolean, an integer, a float, a string or bytes. */
export class Arg {
  kind: ArgKind = ArgKind.Nil;
  b: bool = false;
  i: i64 = 0;
  f: f64 = 0;
  /** Str (as UTF-8) and Bin. */
  bytes: Uint8Array | null = null;

  static nil(): Arg {
    return new Arg();
  }
  static bool(b: bool): Arg {
    const a = new Arg();
    a.kind = ArgKind.Bool;
    a.b = b;
    return a;
  }
  static int(i: i64): Arg {
    const a = new Arg();
    a.kind = ArgKind.Int;
    a.i = i;
    return a;
  }
  static float(f: f64): Arg {
    const a = new Arg();
    a.kind = ArgKind.Float;
    a.f = f;
    return a;
  }
  /** A string argument. */
  static str(s: string): Arg {
    return Arg.strBytes(Uint8Array.wrap(String.UTF8.encode(s)));
  }
  /** A string argument given as its UTF-8 bytes (a view of a record, say). */
  static strBytes(b: Uint8Array): Arg {
    const a = new Arg();
    a.kind = ArgKind.Str;
    a.bytes = b;
    return a;
  }
  static bin(b: Uint8Array): Arg {
    const a = new Arg();
    a.kind = ArgKind.Bin;
    a.bytes = b;
    return a;
  }
}

/**
 * An async request: its target, the context handed back with its result,
 * and the fields of the target's kind. Empty strings and arrays and null
 * are left out.
 */
export class Request {
  /** What the result needs to finish the record (usually the record's value). */
  context: Uint8Array | null = null;
  // http
  /** "" is the host's default, GET. */
  method: string = "";
  /** With its query, appended to the target's url. */
  path: string = "";
  /** Added to the target's; values are written as strings (a nil value as ""). */
  headers: Array<Header> = new Array<Header>(0);
  body: Uint8Array | null = null;
  // redis
  /** The command and its arguments, written as strings. */
  command: Array<Uint8Array> = new Array<Uint8Array>(0);
  // sql
  /** The name of one of the target's queries. */
  query: string = "";
  /** Its parameters: null leaves them out, an empty array is []. */
  args: Array<Arg> | null = null;

  constructor(
    /** The target the pipeline file declares under async.targets. */
    public target: string,
  ) {}
}

/** A request to HTTP target target: method ("" is GET) and path (with its query) appended to the target's url. Set headers and body on it. */
export function http(target: string, method: string, path: string, context: Uint8Array | null): Request {
  const r = new Request(target);
  r.method = method;
  r.path = path;
  r.context = context;
  return r;
}

/** A request running one command on Redis target target (for arguments as bytes, set command). */
export function redis(target: string, context: Uint8Array | null, command: Array<string>): Request {
  const r = new Request(target);
  r.context = context;
  for (let i = 0; i < command.length; i++) r.command.push(Uint8Array.wrap(String.UTF8.encode(command[i])));
  return r;
}

/** A request running the SQL target's query named query with args. */
export function sql(target: string, query: string, context: Uint8Array | null, args: Array<Arg>): Request {
  const r = new Request(target);
  r.query = query;
  r.context = context;
  r.args = args;
  return r;
}

// The request buffer: grow-only, reused by every submit.
let reqBuf = new ArrayBuffer(256);

function strHeader(p: usize, n: u32): usize {
  if (n <= 31) {
    store<u8>(p, 0xa0 | n);
    return p + 1;
  }
  if (n <= 0xff) {
    store<u8>(p, 0xd9);
    store<u8>(p + 1, <u8>n);
    return p + 2;
  }
  if (n <= 0xffff) {
    store<u8>(p, 0xda);
    store<u16>(p + 1, bswap<u16>(<u16>n));
    return p + 3;
  }
  store<u8>(p, 0xdb);
  store<u32>(p + 1, bswap<u32>(n));
  return p + 5;
}

/** Writes s as a msgpack str. */
function putString(p: usize, s: string): usize {
  const n = <u32>String.UTF8.byteLength(s);
  p = strHeader(p, n);
  String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, p);
  return p + n;
}

/** Writes bytes as a msgpack str (null as ""). */
function putStrBytes(p: usize, b: Uint8Array | null): usize {
  const n = b === null ? 0 : <u32>b.byteLength;
  p = strHeader(p, n);
  if (n > 0) memory.copy(p, b!.dataStart, n);
  return p + n;
}

function putLen(p: usize, n: u32, fix: u32, b16: u8, b32: u8): usize {
  if (n <= 15) {
    store<u8>(p, fix | n);
    return p + 1;
  }
  if (n <= 0xffff) {
    store<u8>(p, b16);
    store<u16>(p + 1, bswap<u16>(<u16>n));
    return p + 3;
  }
  store<u8>(p, b32);
  store<u32>(p + 1, bswap<u32>(n));
  return p + 5;
}

// @ts-ignore: decorator
@inline function strLen(s: string): u64 {
  return <u64>String.UTF8.byteLength(s);
}

/**
 * Encodes req into the request buffer (a msgpack map with its keys sorted,
 * as the host writes maps, in the smallest encodings) and returns its
 * length.
 */
export function encodeRequest(req: Request): usize {
  const ctx = req.context, body = req.body, args = req.args, hs = req.headers, cmd = req.command;
  let need: u64 = 64 + strLen(req.target) + strLen(req.method) + strLen(req.path) + strLen(req.query);
  if (ctx !== null) need += <u64>ctx.byteLength;
  if (body !== null) need += <u64>body.byteLength;
  for (let i = 0; i < hs.length; i++) {
    const v = hs[i].value;
    need += 10 + <u64>hs[i].name.byteLength + (v === null ? 0 : <u64>v.byteLength);
  }
  for (let i = 0; i < cmd.length; i++) need += 5 + <u64>cmd[i].byteLength;
  if (args !== null) {
    for (let i = 0; i < args.length; i++) {
      const b = args[i].bytes;
      need += 10 + (b === null ? 0 : <u64>b.byteLength);
    }
  }
  if (<u64>reqBuf.byteLength < need) reqBuf = new ArrayBuffer(<i32>max(need, 2 * <u64>reqBuf.byteLength));
  const base = changetype<usize>(reqBuf);
  let fields: u32 = 1;
  if (args !== null) fields++;
  if (body !== null) fields++;
  if (cmd.length != 0) fields++;
  if (ctx !== null) fields++;
  if (hs.length != 0) fields++;
  if (req.method.length != 0) fields++;
  if (req.path.length != 0) fields++;
  if (req.query.length != 0) fields++;
  store<u8>(base, 0x80 | fields);
  let p = base + 1;
  if (args !== null) {
    p = putLen(putString(p, "args"), <u32>args.length, 0x90, 0xdc, 0xdd);
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      switch (a.kind) {
        case ArgKind.Bool: store<u8>(p++, a.b ? 0xc3 : 0xc2); break;
        case ArgKind.Int: p = putInt(p, a.i); break;
        case ArgKind.Float:
          store<u8>(p, 0xcb);
          store<u64>(p + 1, bswap<u64>(reinterpret<u64>(a.f)));
          p += 9;
          break;
        case ArgKind.Str: p = putStrBytes(p, a.bytes); break;
        case ArgKind.Bin: {
          const b = a.bytes;
          p = b === null ? putBin(p, 0, 0) : putBin(p, b.dataStart, <u32>b.byteLength);
          break;
        }
        default: p = putNil(p);
      }
    }
  }
  if (body !== null) p = putBin(putString(p, "body"), body.dataStart, <u32>body.byteLength);
  if (cmd.length != 0) {
    p = putLen(putString(p, "command"), <u32>cmd.length, 0x90, 0xdc, 0xdd);
    for (let i = 0; i < cmd.length; i++) p = putStrBytes(p, cmd[i]);
  }
  if (ctx !== null) p = putBin(putString(p, "context"), ctx.dataStart, <u32>ctx.byteLength);
  if (hs.length != 0) {
    p = putLen(putString(p, "headers"), <u32>hs.length, 0x80, 0xde, 0xdf);
    for (let i = 0; i < hs.length; i++) p = putStrBytes(putStrBytes(p, hs[i].name), hs[i].value);
  }
  if (req.method.length != 0) p = putString(putString(p, "method"), req.method);
  if (req.path.length != 0) p = putString(putString(p, "path"), req.path);
  if (req.query.length != 0) p = putString(putString(p, "query"), req.query);
  p = putString(putString(p, "target"), req.target);
  return p - base;
}

/** req's encoding, as submit sends it, copied (for tests). */
export function requestBytes(req: Request): Uint8Array {
  const n = encodeRequest(req);
  const out = new Uint8Array(<i32>n);
  memory.copy(out.dataStart, changetype<usize>(reqBuf), n);
  return out;
}

/**
 * Submits req and returns its ticket (>= 0), which its Result carries. A
 * refusal fails the current call, as fail() would, and returns the
 * SubmitStatus: Error (an undeclared target, a request its declaration
 * does not allow: the host's message; or no onResult handler), TooLarge or
 * Capacity. Requests submitted by a call that then fails are dropped: the
 * retried call submits them again.
 */
export function submit(req: Request): i64 {
  const t = trySubmit(req);
  if (t == SubmitStatus.Capacity) fail(capacityMessage);
  return t;
}

const capacityMessage = "wasmstream: async request refused: capacity full (async.capacity requests in flight)";

/**
 * Like submit, but capacity full returns SubmitStatus.Capacity without
 * failing the call, so the operator can carry on (emit the record
 * unenriched, route it elsewhere). The host gives an instance at most as
 * many records per call as it has room for, so an operator that submits
 * one request per record never sees it.
 */
export function trySubmit(req: Request): i64 {
  if (!hasResultHandler()) {
    fail("wasmstream: submit without an onResult handler: register one at the module's top level to receive the results");
    return SubmitStatus.Error;
  }
  const n = encodeRequest(req);
  const t = hostAsyncSubmit(changetype<usize>(reqBuf), n);
  if (t >= 0 || t == SubmitStatus.Capacity) return t;
  if (t == SubmitStatus.TooLarge) {
    fail("wasmstream: async request refused: too large (async.max_request or async.max_context)");
  } else {
    failWithHostMessage();
  }
  return t;
}

/** The element of a Redis array reply at p, before end: set by replyItem. */
let itemPtr: usize = 0;
let itemLen: u32 = 0;
let itemNil = false;

/** Reads the nil, bin or str at p; the position after it, or 0 when p does not start a whole one. */
function replyItem(p: usize, end: usize): usize {
  if (p >= end) return 0;
  const c = <u32>load<u8>(p);
  let n: u32 = 0, h: usize = 0;
  if (c == 0xc0) {
    itemNil = true;
    return p + 1;
  }
  if (c - 0xa0 < 32) {
    n = c & 0x1f;
    h = 1;
  } else if ((c == 0xc4 || c == 0xd9) && end - p >= 2) {
    n = load<u8>(p + 1);
    h = 2;
  } else if ((c == 0xc5 || c == 0xda) && end - p >= 3) {
    n = <u32>bswap<u16>(load<u16>(p + 1));
    h = 3;
  } else if ((c == 0xc6 || c == 0xdb) && end - p >= 5) {
    n = bswap<u32>(load<u32>(p + 1));
    h = 5;
  } else {
    return 0;
  }
  if (<u64>(end - p - h) < <u64>n) return 0;
  itemNil = false;
  itemPtr = p + h;
  itemLen = n;
  return p + h + <usize>n;
}

/**
 * Splits body, a Redis array reply (MGET, HMGET, LRANGE...: a msgpack array
 * of bin or nil), into its elements, views of body, a nil reply as null.
 * Returns null when body is not such an array (it fails nothing: the
 * operator decides).
 */
export function redisItems(body: Uint8Array | null): Array<Uint8Array | null> | null {
  if (body === null || body.byteLength == 0) return null;
  const start = body.dataStart, end = start + <usize>body.byteLength;
  const c = <u32>load<u8>(start);
  let n: u32, p: usize;
  if (c - 0x90 < 16) {
    n = c & 0x0f;
    p = start + 1;
  } else if (c == 0xdc && end - start >= 3) {
    n = <u32>bswap<u16>(load<u16>(start + 1));
    p = start + 3;
  } else if (c == 0xdd && end - start >= 5) {
    n = bswap<u32>(load<u32>(start + 1));
    p = start + 5;
  } else {
    return null;
  }
  if (<u64>n > <u64>(end - p)) return null;
  const out = new Array<Uint8Array | null>(0);
  for (let i: u32 = 0; i < n; i++) {
    p = replyItem(p, end);
    if (p == 0) return null;
    out.push(itemNil ? null : body.subarray(<i32>(itemPtr - start), <i32>(itemPtr - start + <usize>itemLen)));
  }
  return p == end ? out : null;
}
