// A wasmstream operator that upper-cases the ASCII letters of every record's
// value, in place: it copies and allocates nothing per record, and since the
// record comes back unchanged but for its bytes, the SDK copies its encoding
// to the output whole. Key, headers and timestamp pass through.
//
// Build it with ./build OUT.wasm and run it with ../pipeline.yaml (pointing
// its module at the output).

import { map, Record } from "../../../../guest-sdk/assemblyscript/assembly";
export * from "../../../../guest-sdk/assemblyscript/assembly/exports";

map(upper);

function upper(r: Record): Record {
  const v = r.value;
  if (v !== null) upperASCII(v.dataStart, <usize>v.byteLength);
  return r;
}

/**
 * Upper-cases the ASCII letters of the n bytes at p in place and leaves every
 * other byte, including those of multi-byte UTF-8 characters, as it is. 16
 * bytes at a time (a Wasm SIMD register), then byte by byte.
 */
function upperASCII(p: usize, n: usize): void {
  const a = i8x16.splat(0x61); // 'a'
  const letters = i8x16.splat(26);
  const caseBit = i8x16.splat(0x20); // 'a' - 'A'
  let i: usize = 0;
  for (; i + 16 <= n; i += 16) {
    const x = v128.load(p + i);
    // x - 'a' wraps around for bytes below 'a': only 'a'..'z' are < 26.
    const lower = i8x16.lt_u(i8x16.sub(x, a), letters);
    v128.store(p + i, v128.bitselect(i8x16.sub(x, caseBit), x, lower));
  }
  for (; i < n; i++) {
    const c = load<u8>(p + i);
    if (<u8>(c - 0x61) < 26) store<u8>(p + i, c - 0x20);
  }
}
