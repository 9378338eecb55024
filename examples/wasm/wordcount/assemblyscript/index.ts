// A keyed word count as a wasmstream operator in AssemblyScript, in two
// stages of one module (params.stage), like examples/wasm/wordcount/go:
//
//   split: each line becomes one record per word, keyed by the word
//          (lower-cased ASCII letters and digits; every other byte separates
//          words), so the runtime routes each word to one instance of the
//          next operator;
//   count: adds 1 to the word's "count" in keyed state, which the host owns
//          and checkpoints, and emits "word count" when params.emit is true.
//
// Build it with ./build OUT.wasm and run it with ../pipeline.yaml, pointing
// both operators' module at the output.

import { flatMap, onInit, fail, hasFailed, Config, Record, Emitter, stateOf } from "../../../../guest-sdk/assemblyscript/assembly";
export * from "../../../../guest-sdk/assemblyscript/assembly/exports";

let split = false;
let emit = false;

// The record split and count emit, reused: emit encodes it at once.
const out = new Record();
// "word count", built in a buffer that grows to the longest.
let buf = new Uint8Array(64);

/** Emits a record per word of line, keyed by the word, lower-casing the line in place. */
function splitLine(line: Uint8Array | null, e: Emitter): void {
  if (line === null) return;
  const p = line.dataStart;
  const n = line.byteLength;
  let start = -1;
  for (let i = 0; i <= n; i++) {
    let word = false;
    if (i < n) {
      const c = load<u8>(p + <usize>i);
      if (c >= 0x41 && c <= 0x5a) {
        store<u8>(p + <usize>i, c + 32); // A-Z to a-z
        word = true;
      } else {
        word = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
      }
    }
    if (word && start < 0) {
      start = i;
    } else if (!word && start >= 0) {
      const w = line.subarray(start, i);
      out.key = w;
      out.value = w;
      e.emit(out);
      start = -1;
    }
  }
}

function count(r: Record, e: Emitter): void {
  const n = stateOf(r).add("count", 1);
  if (hasFailed() || !emit) return;
  const k = r.key;
  const kn = k === null ? 0 : k.byteLength;
  if (buf.byteLength < kn + 21) buf = new Uint8Array(2 * (kn + 21));
  if (k !== null) memory.copy(buf.dataStart, k.dataStart, <usize>kn);
  buf[kn] = 0x20; // ' '
  const len = kn + 1 + writeInt(buf.dataStart + <usize>(kn + 1), n);
  out.key = k;
  out.value = buf.subarray(0, len);
  e.emit(out);
}

/** Writes n in decimal at p; returns the number of bytes. */
function writeInt(p: usize, n: i64): i32 {
  let u: u64 = n < 0 ? <u64>(-n) : <u64>n;
  let len = 0;
  if (n < 0) store<u8>(p + <usize>(len++), 0x2d); // '-'
  const start = len;
  do {
    store<u8>(p + <usize>(len++), <u8>(0x30 + u % 10));
    u /= 10;
  } while (u != 0);
  // The digits were written backwards.
  for (let i = start, j = len - 1; i < j; i++, j--) {
    const t = load<u8>(p + <usize>i);
    store<u8>(p + <usize>i, load<u8>(p + <usize>j));
    store<u8>(p + <usize>j, t);
  }
  return len;
}

onInit((cfg: Config): void => {
  const stage = cfg.getString("stage", "count");
  if (stage != "split" && stage != "count") {
    fail("params.stage must be split or count, not \"" + stage + "\"");
    return;
  }
  split = stage == "split";
  emit = cfg.getBool("emit", false);
});

flatMap((r: Record, e: Emitter): void => {
  if (split) splitLine(r.value, e);
  else count(r, e);
});
