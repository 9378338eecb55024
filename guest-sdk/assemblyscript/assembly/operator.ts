// The module's one operator: handler registration, the Emitter and Batch
// handed to handlers, and the ABI calls the exports delegate to.

import { Record } from "./record";
import { Reader, Writer, Cursor, MAX_RECORDS } from "./codec";
import { Config, decodeConfig } from "./config";
import { setHostError } from "./host";
import { Result } from "./result";

const enum Kind {
  None,
  Map,
  Filter,
  FlatMap,
  Batch,
}

function kindName(k: Kind): string {
  switch (k) {
    case Kind.Map: return "map";
    case Kind.Filter: return "filter";
    case Kind.FlatMap: return "flatMap";
    case Kind.Batch: return "processBatch";
  }
  return "none";
}

let kind = Kind.None;
let regError: string | null = null;
let mapFn: (r: Record) => Record = (r: Record): Record => r;
let filterFn: (r: Record) => bool = (r: Record): bool => true;
let flatMapFn: (r: Record, out: Emitter) => void = (r: Record, out: Emitter): void => {};
let batchFn: (b: Batch, out: Emitter) => void = (b: Batch, out: Emitter): void => {};
let initFn: (cfg: Config) => void = (cfg: Config): void => {};
let hasInit = false;
let resultFn: (res: Result, out: Emitter) => void = (res: Result, out: Emitter): void => {};
let hasResult = false;

function register(k: Kind): bool {
  if (regError !== null) return false;
  if (kind != Kind.None) {
    regError = "wasmstream: duplicate registration: " + kindName(k) + " called after " + kindName(kind) + " already registered the operator's handler; register exactly one";
    return false;
  }
  kind = k;
  return true;
}

/**
 * Registers fn as the operator's handler: each input record produces
 * exactly the record fn returns. fn may modify the record's bytes in place
 * and return it, which copies nothing; it may also return a new Record or
 * set output to route it. Call the registration functions once, from the
 * module's top level.
 */
export function map(fn: (r: Record) => Record): void {
  if (register(Kind.Map)) mapFn = fn;
}

/** Registers fn as the operator's handler: each input record is kept, with any in-place changes to its bytes, when fn returns true. */
export function filter(fn: (r: Record) => bool): void {
  if (register(Kind.Filter)) filterFn = fn;
}

/** Registers fn as the operator's handler: fn emits zero or more records per input record through the Emitter. */
export function flatMap(fn: (r: Record, out: Emitter) => void): void {
  if (register(Kind.FlatMap)) flatMapFn = fn;
}

/** Registers fn as the operator's handler: fn reads the whole batch with Batch.next and emits any number of records. */
export function processBatch(fn: (b: Batch, out: Emitter) => void): void {
  if (register(Kind.Batch)) batchFn = fn;
}

/** Registers fn to run once per instance, before the first batch, with the operator's configuration. */
export function onInit(fn: (cfg: Config) => void): void {
  if (regError !== null) return;
  if (hasInit) {
    regError = "wasmstream: duplicate registration: onInit called twice; register one hook";
    return;
  }
  hasInit = true;
  initFn = fn;
}

/**
 * Registers fn to handle async results (see submit): it is called once per
 * result, in the call that delivers it, after the call's records were
 * handled, and emits records through the Emitter. Failing the call (fail)
 * has its results delivered again to the retry. Register it beside the
 * record handler, from the module's top level.
 */
export function onResult(fn: (res: Result, out: Emitter) => void): void {
  if (regError !== null) return;
  if (hasResult) {
    regError = "wasmstream: duplicate registration: onResult called twice; register one handler";
    return;
  }
  hasResult = true;
  resultFn = fn;
}

/** Whether an onResult handler is registered. */
export function hasResultHandler(): bool {
  return hasResult;
}

// The current call's failure.
let failed = false;
let failMessage = "";

/**
 * Fails the current init or process call with message, which the host
 * receives verbatim: the batch goes to the pipeline's failure policy and
 * the instance is kept. Return from the handler after calling it; what it
 * returns or emits afterwards is discarded. The first message of a call
 * wins.
 */
export function fail(message: string): void {
  if (failed) return;
  failed = true;
  failMessage = message;
  hostMessage = false;
}

// Whether the current call's failure message is the one the host set
// itself (a state import returning -1), which the SDK then leaves alone.
let hostMessage = false;

/** Fails the current call with the message a host import already set. */
export function failWithHostMessage(): void {
  if (failed) return;
  failed = true;
  failMessage = "";
  hostMessage = true;
}

/** Sends the failure message to the host, unless the host set it. */
function reportFailure(): void {
  if (!hostMessage) setHostError(failMessage);
}

/** Whether fail was called during the current call. */
export function hasFailed(): bool {
  return failed;
}

const reader = new Reader();
const writer = new Writer();
const rec = new Record(); // the record per-record handlers get
const res = new Result(); // the result onResult gets
const scratch = new Record(); // for records the handler left unread

/**
 * Emitter appends records to the output batch of the current call. It is
 * valid only during the handler call it is passed to.
 */
export class Emitter {
  /**
   * Encodes r into the output batch at once: r and its bytes may be reused
   * as soon as emit returns. A record whose output is set goes to that named
   * output.
   */
  emit(r: Record): void {
    this.emitTo(r.output, r);
  }

  /** Emits r to the named output ("" is the default output), whatever r.output says. */
  emitTo(output: string, r: Record): void {
    if (writer.n >= MAX_RECORDS) {
      fail("wasmstream: more than " + MAX_RECORDS.toString() + " records emitted from one batch, the ABI's limit per frame; split the work across batches");
      return;
    }
    if (reader.unchanged(r, output)) {
      writer.appendRaw(reader.rawStart, reader.rawEnd - reader.rawStart);
    } else {
      writer.append(r, output);
    }
  }

  /** How many records have been emitted in the current call. */
  get length(): i32 {
    return <i32>writer.n;
  }
}

/**
 * Batch is one input batch, read record by record without copying. It is
 * valid only during the processBatch handler call it is passed to.
 */
export class Batch {
  /** The number of records in the batch, read or not. */
  get length(): i32 {
    return <i32>reader.total;
  }

  /**
   * Decodes the next record into r, overwriting all its fields, and
   * returns true; false at the end of the batch or when the batch is
   * malformed (then the call fails with the reason whatever the handler
   * does). r's byte arrays are views of the batch, valid until the handler
   * returns, and reused when r is decoded into again: use one Record per
   * record you keep, or clone().
   */
  next(r: Record): bool {
    return reader.next(r);
  }
}

const emitter = new Emitter();
const batch = new Batch();

// The grow-only input buffer alloc hands the host, and a second one for
// alloc calls made during a call, so the batch being processed is not
// overwritten.
const MIN_ALLOC: usize = 64 << 10;
let inBuf = new ArrayBuffer(0);
let scratchBuf = new ArrayBuffer(0);
let busy = false;

export function operatorAlloc(n: usize): usize {
  if (busy) {
    if (<usize>scratchBuf.byteLength < n || scratchBuf.byteLength == 0) scratchBuf = grown(scratchBuf, n);
    return changetype<usize>(scratchBuf);
  }
  if (<usize>inBuf.byteLength < n || inBuf.byteLength == 0) inBuf = grown(inBuf, n);
  return changetype<usize>(inBuf);
}

/** A new buffer for at least n bytes: at least double b and MIN_ALLOC. */
function grown(b: ArrayBuffer, n: usize): ArrayBuffer {
  let size: usize = 2 * <usize>b.byteLength;
  if (size < MIN_ALLOC) size = MIN_ALLOC;
  if (size < n) size = n;
  return new ArrayBuffer(<i32>size);
}

/** The managed buffer holding the len bytes at ptr, which alloc handed out. */
function bufferOf(ptr: usize, len: usize): ArrayBuffer {
  const b = changetype<usize>(inBuf);
  if (ptr >= b && ptr + len <= b + <usize>inBuf.byteLength) return inBuf;
  const s = changetype<usize>(scratchBuf);
  if (ptr >= s && ptr + len <= s + <usize>scratchBuf.byteLength) return scratchBuf;
  // Not from alloc: copy it into one that is.
  const nb = new ArrayBuffer(<i32>len);
  memory.copy(changetype<usize>(nb), ptr, len);
  return nb;
}

const configCursor = new Cursor();
let config: Config | null = null;

function ready(): bool {
  if (regError !== null) {
    fail(regError!);
    return false;
  }
  if (kind == Kind.None) {
    fail("wasmstream: no handler registered; call map, filter, flatMap or processBatch from the module's top level");
    return false;
  }
  return true;
}

export function operatorInit(ptr: usize, len: usize): i32 {
  failed = false;
  if (ready()) {
    const cfg = decodeConfig(ptr, len, configCursor);
    if (cfg === null) {
      fail("decoding init config: " + configCursor.error!);
    } else {
      config = cfg;
      if (hasInit) {
        busy = true;
        initFn(cfg);
        busy = false;
      }
    }
  }
  if (failed) {
    reportFailure();
    return -1;
  }
  return 0;
}

export function operatorProcess(ptr: usize, len: usize): i64 {
  failed = false;
  if (!ready()) return failure();
  if (!reader.reset(bufferOf(ptr, len), ptr, len)) {
    fail("decoding input batch: " + reader.error!);
    return failure();
  }
  writer.reset();
  busy = true;
  // A record returned or kept unchanged but for its bytes' contents is
  // copied from the input whole. Map and Filter emit at most one record per
  // input record, so they stay within MAX_RECORDS without emit's check.
  switch (kind) {
    case Kind.Map: {
      const fn = mapFn;
      while (reader.next(rec)) {
        maybeCollect();
        const out = fn(rec);
        if (failed) break;
        if (reader.unchanged(out, out.output)) {
          writer.appendRaw(reader.rawStart, reader.rawEnd - reader.rawStart);
        } else {
          writer.append(out, out.output);
        }
      }
      break;
    }
    case Kind.Filter: {
      const fn = filterFn;
      while (reader.next(rec)) {
        maybeCollect();
        const keep = fn(rec);
        if (failed) break;
        if (!keep) continue;
        if (reader.unchanged(rec, rec.output)) {
          writer.appendRaw(reader.rawStart, reader.rawEnd - reader.rawStart);
        } else {
          writer.append(rec, rec.output);
        }
      }
      break;
    }
    case Kind.FlatMap: {
      const fn = flatMapFn;
      while (reader.next(rec)) {
        maybeCollect();
        fn(rec, emitter);
        if (failed) break;
      }
      break;
    }
    default:
      batchFn(batch, emitter);
  }
  busy = false;
  if (failed) return failure();
  // Records the handler left unread are decoded anyway, so that a malformed
  // batch fails whatever the handler read.
  while (reader.next(scratch)) {}
  if (reader.error !== null) {
    fail("decoding input batch: " + reader.error!);
    return failure();
  }
  // The async results (element 1), after the records. An operator without
  // onResult submits nothing, so the host sends it no results: element 1
  // is skipped like any other.
  if (hasResult) {
    const n = reader.resultsBegin();
    if (n < 0) {
      fail("decoding async results: " + reader.error!);
      return failure();
    }
    const fn = resultFn;
    busy = true;
    for (let i: u32 = 0; i < <u32>n; i++) {
      if (!reader.nextResult(res, i)) {
        busy = false;
        fail("decoding async results: " + reader.error!);
        return failure();
      }
      fn(res, emitter);
      if (failed) break;
    }
    busy = false;
    if (failed) return failure();
  }
  if (!reader.close()) {
    fail("decoding input batch: " + reader.error!);
    return failure();
  }
  return writer.finish();
}

// Garbage collection. Modules are built with AssemblyScript's minimal
// runtime (build-guest): no shadow stack and no write barriers, which makes
// decoding and allocation about twice as fast as with the incremental
// runtime, but its collector may only run when no reference to a live
// object is held in a local, since locals are not scanned. The SDK knows two
// such points: after every init and process call (the exports collect), and
// between two records of a per-record handler, where it collects every
// COLLECT_EVERY records so a large batch of allocating handler calls does
// not hold all its garbage until the end.
const COLLECT_EVERY = 1024;
let sinceCollect = 0;

export function collectGarbage(): void {
  __collect();
  sinceCollect = 0;
}

// @ts-ignore: decorator
@inline function maybeCollect(): void {
  if (++sinceCollect >= COLLECT_EVERY) collectGarbage();
}

function failure(): i64 {
  reportFailure();
  return -1;
}

/** The configuration init received, or null before init. */
export function currentConfig(): Config | null {
  return config;
}

/** The output frame of the last successful process call, copied (for tests). */
export function lastOutput(): Uint8Array {
  return writer.bytes();
}
