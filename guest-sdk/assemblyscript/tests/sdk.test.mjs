// Tests of the AssemblyScript SDK: the test operators in this directory and
// the conformance example, compiled to Wasm by ../test into $WASM_DIR and run
// here in node's engine with the host imports stubbed.
//
//   node --test tests/sdk.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The values state_add_f64 wrote: float counters, which state_add refuses.
const floatValues = new WeakSet();

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmDir = process.env.WASM_DIR;
const vectorsDir = path.resolve(here, "../../../abi/testdata/conformance");
const stateVectorsDir = path.resolve(here, "../../../abi/testdata/conformance-state");
const asyncVectorsDir = path.resolve(here, "../../../abi/testdata/conformance-async");

const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));

/**
 * The host's state as the conformance example needs it (abi/SPEC.md,
 * section 5.1): counters as 8 little-endian bytes, lists as consecutive
 * msgpack bin items, a maximum value size, and each call's writes applied
 * only when the call succeeds. state.test.mjs covers the rest (TTLs,
 * statuses, messages) against tests/state.ts.
 */
class FakeState {
  constructor(maxValue = 1 << 20) {
    this.maxValue = maxValue;
    this.committed = new Map();
    this.writes = new Map(); // id -> Buffer, or null: deleted
  }
  id(scope, key, name) {
    return scope === 1 ? `o|${name.toString("hex")}` : `k|${key.toString("hex")}|${name.toString("hex")}`;
  }
  lookup(id) {
    return this.writes.has(id) ? this.writes.get(id) : this.committed.get(id) ?? null;
  }
  end(ok) {
    if (ok) for (const [k, v] of this.writes) v === null ? this.committed.delete(k) : this.committed.set(k, v);
    this.writes.clear();
  }
  /** The state imports of guest g. */
  imports(g) {
    const TOO_LARGE = -3, NOT_FOUND = -2, NOT_COUNTER = -4;
    const id = (scope, kp, kl, np, nl) => this.id(scope, g.bytes(kp, kl), g.bytes(np, nl));
    return {
      state_get: (scope, kp, kl, np, nl, bp, cap) => {
        const v = this.lookup(id(scope, kp, kl, np, nl));
        if (v === null) return BigInt(NOT_FOUND);
        if (v.length <= cap) g.mem().set(v, bp);
        return BigInt(v.length);
      },
      state_put: (scope, kp, kl, np, nl, vp, vl) => {
        if (vl > this.maxValue) return TOO_LARGE;
        this.writes.set(id(scope, kp, kl, np, nl), g.bytes(vp, vl));
        return 0;
      },
      state_delete: (scope, kp, kl, np, nl) => {
        this.writes.set(id(scope, kp, kl, np, nl), null);
        return 0;
      },
      state_add: (scope, kp, kl, np, nl, delta, out) => {
        const k = id(scope, kp, kl, np, nl);
        const v = this.lookup(k);
        if (v !== null && (v.length !== 8 || floatValues.has(v))) return NOT_COUNTER;
        const n = BigInt.asIntN(64, (v === null ? 0n : v.readBigInt64LE(0)) + delta);
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(n);
        this.writes.set(k, b);
        new DataView(g.x.memory.buffer).setBigInt64(out, n, true);
        return 0;
      },
      state_add_f64: (scope, kp, kl, np, nl, delta, out) => {
        const k = id(scope, kp, kl, np, nl);
        const v = this.lookup(k);
        if (v !== null && (v.length !== 8 || !floatValues.has(v))) return NOT_COUNTER;
        const n = (v === null ? 0 : v.readDoubleLE(0)) + delta;
        if (!Number.isFinite(delta) || !Number.isFinite(n)) return -1;
        const b = Buffer.alloc(8);
        b.writeDoubleLE(n);
        floatValues.add(b);
        this.writes.set(k, b);
        new DataView(g.x.memory.buffer).setFloat64(out, n, true);
        return 0;
      },
      state_append: (scope, kp, kl, np, nl, vp, vl) => {
        const k = id(scope, kp, kl, np, nl);
        const old = this.lookup(k) ?? Buffer.alloc(0);
        if (old.length + 5 + vl > this.maxValue) return TOO_LARGE;
        const h = vl < 1 << 8 ? Buffer.from([0xc4, vl]) : vl < 1 << 16 ? Buffer.from([0xc5, vl >> 8, vl & 255]) : Buffer.from([0xc6, vl >>> 24, (vl >> 16) & 255, (vl >> 8) & 255, vl & 255]);
        this.writes.set(k, Buffer.concat([old, h, g.bytes(vp, vl)]));
        return 0;
      },
    };
  }
}

/** One instance of a test module with the wasmstream imports stubbed. */
class Guest {
  constructor(name, state = new FakeState()) {
    this.state = state;
    this.logs = [];
    this.metrics = new Map();
    this.error = null;
    // async_submit: the requests kept (ticket i is element i), a failed
    // call's dropped, as the host does; refuse, when set, is the status
    // every request gets.
    this.submits = [];
    this.refuse = 0;
    const mod = new WebAssembly.Module(fs.readFileSync(path.join(wasmDir, name + ".wasm")));
    for (const imp of WebAssembly.Module.imports(mod)) {
      assert.equal(imp.module, "wasmstream", `${name} imports ${imp.module}.${imp.name}; the host provides only wasmstream and wasi_snapshot_preview1`);
    }
    const exports = WebAssembly.Module.exports(mod).map((e) => e.name).sort();
    assert.deepEqual(exports, ["alloc", "dealloc", "init", "memory", "process", "wasmstream_abi_version", "wasmstream_language"]);
    this.x = new WebAssembly.Instance(mod, {
      wasmstream: {
        set_error: (p, n) => { this.error = this.str(p, n); },
        log: (level, p, n) => { this.logs.push(this.str(p, n)); },
        metric_add: (p, n, d) => {
          const k = this.str(p, n);
          this.metrics.set(k, (this.metrics.get(k) ?? 0n) + d);
        },
        async_submit: (p, n) => {
          if (this.refuse !== 0) return BigInt(this.refuse);
          this.submits.push(this.bytes(p, n));
          return BigInt(this.submits.length - 1);
        },
        ...state.imports(this),
      },
    }).exports;
    assert.equal(this.x.wasmstream_abi_version(), 1);
    assert.equal(this.x.wasmstream_language(), 4);
  }
  mem() { return new Uint8Array(this.x.memory.buffer); }
  str(p, n) { return new TextDecoder().decode(this.mem().slice(p, p + n)); }
  bytes(p, n) { return Buffer.from(this.mem().slice(p, p + n)); }
  write(bytes) {
    const p = this.x.alloc(bytes.length);
    this.mem().set(bytes, p);
    return p;
  }
  /** Runs init; returns null or the error message. */
  init(payload) {
    this.error = null;
    const st = this.x.init(this.write(payload), payload.length);
    return st === 0 ? null : this.error ?? `status ${st} without a message`;
  }
  /** Runs process; returns {out} or {error}. */
  process(frame) {
    this.error = null;
    const mark = this.submits.length;
    let r;
    try {
      r = this.x.process(this.write(frame), frame.length);
    } finally {
      this.state.end(r !== undefined && r !== -1n);
      if (r === undefined || r === -1n) this.submits.length = mark;
    }
    if (r === -1n) return { error: this.error ?? "no message" };
    const ptr = Number(r >> 32n), len = Number(r & 0xffffffffn);
    return { out: this.mem().slice(ptr, ptr + len) };
  }
}

function vectors() {
  return fs.readdirSync(vectorsDir).filter((f) => f.endsWith(".in.msgpack")).map((f) => {
    const base = path.join(vectorsDir, f.slice(0, -".in.msgpack".length));
    return {
      name: path.basename(base),
      frame: new Uint8Array(fs.readFileSync(base + ".in.msgpack")),
      out: fs.existsSync(base + ".out.msgpack") ? new Uint8Array(fs.readFileSync(base + ".out.msgpack")) : null,
      err: fs.existsSync(base + ".err") ? fs.readFileSync(base + ".err", "utf8").trim() : null,
    };
  });
}

test("conformance example passes every vector", () => {
  let g = new Guest("conformance");
  const vs = vectors();
  assert.ok(vs.length >= 10);
  for (const v of vs) {
    if (v.err === "trap") {
      assert.throws(() => g.process(v.frame), WebAssembly.RuntimeError, v.name);
      g = new Guest("conformance"); // a trapped instance is discarded
      continue;
    }
    const got = g.process(v.frame);
    if (v.err !== null) {
      assert.equal(got.error, v.err, v.name);
    } else {
      assert.equal(got.error, undefined, v.name);
      assert.ok(Buffer.from(got.out).equals(Buffer.from(v.out)), `${v.name}: output differs`);
    }
  }
});

test("conformance example passes the state vectors", () => {
  const ins = fs.readdirSync(stateVectorsDir).filter((f) => f.endsWith(".in.msgpack"));
  assert.ok(ins.length >= 1);
  for (const f of ins) {
    const base = path.join(stateVectorsDir, f.slice(0, -".in.msgpack".length));
    const g = new Guest("conformance"); // a fresh state, state.max_value 1 MiB
    const got = g.process(new Uint8Array(fs.readFileSync(base + ".in.msgpack")));
    assert.equal(got.error, undefined, f);
    assert.ok(Buffer.from(got.out).equals(fs.readFileSync(base + ".out.msgpack")), `${f}: output differs`);
  }
});

test("identity map copies every vector byte for byte", () => {
  const g = new Guest("identity");
  for (const v of vectors()) {
    const got = g.process(v.frame);
    assert.ok(Buffer.from(got.out).equals(Buffer.from(v.frame)), `${v.name}: ${got.error ?? "output differs"}`);
  }
});

test("re-encoding every vector reproduces it", () => {
  const g = new Guest("reencode");
  for (const v of vectors()) {
    const got = g.process(v.frame);
    assert.ok(Buffer.from(got.out).equals(Buffer.from(v.frame)), `${v.name}: ${got.error ?? "output differs"}`);
  }
});

test("other encodings are read and written canonically", () => {
  // Frame [records, [], nil] as array16s; record of 6 fields: key str8 "k",
  // value bin16 "v", timestamp int64 5, headers [nil name, bin8 value] as
  // array16, output "", an extra field.
  const frame = hex("dc0003" + "dc0001" + "96" + "d9016b" + "c5000176" + "d30000000000000005" +
    "dc0002" + "c0" + "c40178" + "a0" + "c3" + "90" + "c0");
  const want = hex("91dd00000001" + "94" + "c4016b" + "c40176" + "05" + "92" + "a0" + "c40178");
  for (const name of ["identity", "reencode"]) {
    assert.deepEqual(new Guest(name).process(frame).out, want, name);
  }
});

test("every integer width is read and written in its smallest form", () => {
  const cases = [
    ["7f", "7f"], ["cc80", "cc80"], ["cc05", "05"], ["cd0100", "cd0100"], ["d1012c", "cd012c"],
    ["ce00010000", "ce00010000"], ["cf0000010000000000", "cf0000010000000000"], ["cf00000000000000ff", "ccff"],
    ["e0", "e0"], ["d0df", "d0df"], ["d1ff7f", "d1ff7f"], ["d2ffff7fff", "d2ffff7fff"],
    ["d3ffffff0000000000", "d3ffffff0000000000"], ["d3ffffffffffffffff", "ff"],
  ];
  const g = new Guest("identity");
  for (const [ts, want] of cases) {
    const got = g.process(hex("91dd00000001" + "94c0c0" + ts + "c0"));
    assert.deepEqual(got.out, hex("91dd00000001" + "94c0c0" + want + "c0"), ts);
  }
});

// Messages from abi.DecodeFrame for the same bytes.
const malformed = [
  ["", "malformed frame at byte 0: need 1 bytes, 0 left"],
  ["90", "malformed frame at byte 0: frame is an empty array; want [records, ...]"],
  ["91", "malformed frame at byte 1: need 1 bytes, 0 left"],
  ["91dd0000000294c0c000c0", "malformed frame at byte 1: frame declares 2 records but has only 5 bytes left"],
  ["91dd0000000194c0c000c000", "malformed frame at byte 11: 1 trailing bytes after the frame"],
  ["91dd000000019401c000c0", "malformed frame at byte 7: key: want bin, str or nil, found an integer"],
  ["91dd0000000193c0c000", "malformed frame at byte 1: frame declares 1 records but has only 4 bytes left"],
  ["91dd0000000194c0c0cfffffffffffffffffc0", "malformed frame at byte 9: timestamp: 18446744073709551615 overflows int64"],
  ["91dd0000000194c0c0c3c0", "malformed frame at byte 9: timestamp: want an integer, found a boolean"],
  ["91dd0000000194c0c0009301c0c0", "malformed frame at byte 10: headers: array of 3 items; want name/value pairs"],
  ["91dd0000000194c0c00092a161c4", "malformed frame at byte 13: need 2 bytes, 1 left"],
  ["91dd0000000194c0c405010200c0", "malformed frame at byte 8: value: 5-byte value runs past the end of the frame"],
  ["92dd00000000c1", "malformed frame at byte 6: invalid msgpack type byte 0xc1"],
  ["91dd01000001", "malformed frame at byte 1: frame declares 16777217 records; the limit is 16777216"],
  ["91dd0000000193c0c000c0c0", "malformed frame at byte 6: record has 3 fields; want at least 4 (key, value, timestamp, headers)"],
  ["91dd0000000196c0c000c0a0c1", "malformed frame at byte 12: invalid msgpack type byte 0xc1"],
  ["91dd0000000194c0c000dc0003c0c0c0", "malformed frame at byte 10: headers: array of 3 items; want name/value pairs"],
];

test("malformed frames fail with abi's offsets and reasons", () => {
  for (const name of ["identity", "filter", "batch"]) {
    const g = new Guest(name);
    for (const [h, msg] of malformed) {
      assert.deepEqual(g.process(hex(h)), { error: "decoding input batch: " + msg }, `${name} ${h}`);
    }
    // A good frame after bad ones decodes.
    assert.equal(g.process(hex("91dd0000000194c0c001c0")).error, undefined, name);
  }
});

test("records a batch handler leaves unread are still checked", () => {
  const g = new Guest("batch");
  assert.deepEqual(g.process(hex("91dd00000002" + "94c0c000c0" + "94c0c000c0")).out, hex("91dd00000000"));
  assert.deepEqual(g.process(hex("91dd00000002" + "94c0c000c0" + "94c0c0c3c0")),
    { error: "decoding input batch: malformed frame at byte 14: timestamp: want an integer, found a boolean" });
  assert.ok(g.logs.includes("batch of 2"));
});

test("skip passes over every msgpack type", () => {
  const frame = hex("9f" + "dd00000000" +
    "c0" + "c2" + "c3" + "cc01" + "cd0001" + "ce00000001" + "cf0000000000000001" +
    "ca3f800000" + "cb3ff0000000000000" + "a3616263" + "c40100" +
    "81a16192c0c0" + "d40100" + "c7010100");
  assert.deepEqual(new Guest("identity").process(frame).out, hex("91dd00000000"));
});

test("filter keeps records whole", () => {
  const got = new Guest("filter").process(hex("91dd00000003" + "94c0c4016101c0" + "94c0c4016202c0" + "94c0a1630392a168c0"));
  // The str value of the third record is re-encoded as bin.
  assert.deepEqual(got.out, hex("91dd00000002" + "94c0c4016101c0" + "94c0c4016303" + "92a168c0"));
});

test("emit encodes new records and copies unchanged ones", () => {
  const g = new Guest("rewrite");
  assert.deepEqual(g.process(hex("91dd00000001" + "94c4016bc40261620ac0")).out, hex("91dd00000002" +
    "95c4016bc403616221f6" + "94a16ec40131a16dc0" + "a473696465" +
    "94c4016bc40261620ac0"));
  assert.equal(g.metrics.get("rewritten"), 2n);
  assert.deepEqual(g.process(hex("91dd00000001" + "94c0c007c0")), { error: "nil value at 7" });
  const long = g.process(hex("91dd00000001" + "94c0c4046c6f6e6707c0")).out;
  assert.deepEqual(long, Uint8Array.from([...hex("91dd00000001" + "95c0c4046c6f6e6707c0" + "d92b"), ...Buffer.from("an output name longer than thirty-one bytes")]));
});

test("large values use the wider encodings", () => {
  const value = Buffer.alloc(70000, "a");
  const frame = Uint8Array.from([...hex("91dd00000001" + "94c0" + "c600011170"), ...value, ...hex("00c0")]);
  for (const name of ["identity", "reencode"]) {
    assert.deepEqual(new Guest(name).process(frame).out, frame, name);
  }
  const mid = Uint8Array.from([...hex("91dd00000001" + "94c0" + "c50100"), ...Buffer.alloc(256, "b"), ...hex("00c0")]);
  assert.deepEqual(new Guest("reencode").process(mid).out, mid);
});

test("throw reports its message and traps", () => {
  const g = new Guest("rewrite");
  assert.throws(() => g.process(hex("91dd00000001" + "94c0c4057468726f7701c0")), WebAssembly.RuntimeError);
  assert.match(g.error, /^abort: thrown at .*rewrite\.ts:\d+:\d+$/);
  assert.equal(g.logs.at(-1), g.error);
});

test("init decodes the config and reports a param of the wrong type", () => {
  // abi.AppendInitConfig of pipeline "p", operator "op", instance 2, outputs
  // [alerts, audit] and params name "x", n 3, f 2.5, whole 4.0, b true,
  // list [1, "a"], nested {k: "v"}, nothing nil, big 1<<63.
  const payload = hex("85a8696e7374616e636502a86f70657261746f72a26f70a76f75747075747392a6616c65727473a56175646974a6706172616d7389a162c3a3626967cf8000000000000000a166cb4004000000000000a46c6973749201a161a16e03a46e616d65a178a66e657374656481a16ba176a76e6f7468696e67c0a577686f6c65cb4010000000000000a8706970656c696e65a170");
  const g = new Guest("config");
  assert.equal(g.init(payload), "params.f: want an integer, got a float");
  assert.deepEqual(g.logs, [
    "pipeline=p operator=op instance=2",
    "outputs=alerts,audit audit=true other=false",
    "name=x missing=d nothing=d",
    "n=3 whole=4",
    "f=2.5 nf=3.0",
    "b=true",
    "big=9223372036854775808",
    "list=2:1,a",
    "nested.k=v",
    "failed=false",
  ]);
  assert.equal(g.init(hex("a3616263")), "decoding init config: malformed frame at byte 0: init config: want a map, found a string");
  assert.equal(g.init(hex("81a161")), "decoding init config: malformed frame at byte 3: need 1 bytes, 0 left");
  assert.equal(new Guest("identity").init(hex("80")), null);
});

test("a module with no handler fails every call", () => {
  const g = new Guest("noinit");
  const msg = "wasmstream: no handler registered; call map, filter, flatMap or processBatch from the module's top level";
  assert.equal(g.init(hex("80")), msg);
  assert.deepEqual(g.process(hex("91dd00000000")), { error: msg });
});

test("alloc reuses one buffer", () => {
  const g = new Guest("identity");
  const a = g.x.alloc(10), b = g.x.alloc(1000), c = g.x.alloc(0);
  assert.ok(a !== 0 && a === b && b === c);
  const d = g.x.alloc(1 << 20);
  assert.equal(g.x.alloc(100), d);
});

// A canonical frame of records {key, value, timestamp, headers: [[name, value]]}
// with short strings and small timestamps.
function encode(recs) {
  const b = [0x91, 0xdd, 0, 0, 0, 0];
  const bin = (s) => { const x = Buffer.from(s); b.push(0xc4, x.length, ...x); };
  for (const r of recs) {
    b.push(0x94);
    bin(r.key);
    bin(r.value);
    assert.ok(r.timestamp >= 0 && r.timestamp < 128);
    b.push(r.timestamp);
    if (r.headers.length === 0) b.push(0xc0);
    else {
      b.push(0x90 | (2 * r.headers.length));
      for (const [n, v] of r.headers) { const x = Buffer.from(n); b.push(0xa0 | x.length, ...x); bin(v); }
    }
  }
  const out = Uint8Array.from(b);
  new DataView(out.buffer).setUint32(2, recs.length);
  return out;
}

test("garbage collection keeps what the operator holds", () => {
  const g = new Guest("gcstress");
  let prev = { key: "none", value: "none" };
  let size = 0;
  for (let call = 0; call < 12; call++) {
    if (call == 4) size = g.x.memory.buffer.byteLength;
    const input = [], want = [];
    for (let i = 0; i < 3000; i++) {
      const r = { key: `k${call}-${i}`, value: `value ${call} ${i} ${"x".repeat(i % 50)}`, timestamp: i % 100, headers: [] };
      input.push(r);
      want.push({ key: prev.key, value: r.value + "!", timestamp: r.timestamp, headers: [["prev", prev.value]] });
      prev = r;
    }
    const got = g.process(encode(input));
    assert.equal(got.error, undefined);
    assert.ok(Buffer.from(got.out).equals(Buffer.from(encode(want))), `call ${call}: output differs`);
  }
  // Garbage is collected: memory stops growing.
  assert.equal(g.x.memory.buffer.byteLength, size);
});

// A frame of records with values (nil key, timestamp 0, no headers) and
// async results {ticket, status, context, code, body, error} as element 1,
// as the host writes them (abi.AppendFrameWithResults).
function frameWithResults(values, results) {
  const b = [results.length ? 0x92 : 0x91, 0xdd, 0, 0, 0, values.length];
  const bin = (x) => {
    if (x === null) return b.push(0xc0);
    x = Buffer.from(x, "latin1");
    b.push(0xc4, x.length, ...x);
  };
  const int = (n) => {
    n = BigInt(n);
    if (n >= 0n && n < 128n) b.push(Number(n));
    else if (n >= -32n && n < 0n) b.push(Number(n & 0xffn));
    else { const x = Buffer.alloc(9); x[0] = 0xd3; x.writeBigInt64BE(n, 1); b.push(...x); }
  };
  for (const v of values) { b.push(0x94, 0xc0); bin(v); b.push(0, 0xc0); }
  if (results.length) {
    b.push(0xdd, 0, 0, 0, results.length);
    for (const r of results) {
      b.push(0x96);
      int(r.ticket); int(r.status); bin(r.context ?? null); int(r.code ?? 0); bin(r.body ?? null);
      if (r.error === undefined || r.error === null) b.push(0xc0);
      else { const x = Buffer.from(r.error); b.push(0xa0 | x.length, ...x); }
    }
  }
  return Uint8Array.from(b);
}

/** The values of the records of an output frame. */
function values(out) {
  const b = Buffer.from(out);
  const n = b.readUInt32BE(2);
  const vals = [];
  let p = 6;
  for (let i = 0; i < n; i++) {
    assert.equal(b[p], 0x94);
    assert.equal(b[p + 1], 0xc0);
    assert.equal(b[p + 2], 0xc4);
    const len = b[p + 3];
    vals.push(b.subarray(p + 4, p + 4 + len).toString("latin1"));
    p += 4 + len + 2;
  }
  assert.equal(p, b.length);
  return vals;
}

test("conformance example passes the async vectors, its requests byte for byte", () => {
  const ins = fs.readdirSync(asyncVectorsDir).filter((f) => f.endsWith(".in.msgpack"));
  assert.ok(ins.length >= 4);
  for (const f of ins) {
    const base = path.join(asyncVectorsDir, f.slice(0, -".in.msgpack".length));
    const g = new Guest("conformance");
    const got = g.process(new Uint8Array(fs.readFileSync(base + ".in.msgpack")));
    assert.equal(got.error, undefined, f);
    assert.ok(Buffer.from(got.out).equals(fs.readFileSync(base + ".out.msgpack")), `${f}: output differs`);
    // The SDK writes requests as the vectors do (keys sorted, smallest
    // encodings), so the array of them compares byte for byte.
    const n = g.submits.length;
    const head = n <= 15 ? Buffer.from([0x90 | n]) : Buffer.from([0xdc, n >> 8, n & 255]);
    assert.ok(Buffer.concat([head, ...g.submits]).equals(fs.readFileSync(base + ".submits.msgpack")), `${f}: requests differ`);
  }
});

test("requests are maps with sorted keys in their smallest encodings", () => {
  const g = new Guest("async");
  assert.deepEqual(g.process(frameWithResults(["http", "sql"], [])).out, hex("91dd00000000"));
  assert.deepEqual(g.submits[0], Buffer.concat([hex("86a4"), Buffer.from("body"), hex("c4027879a7"), Buffer.from("context"),
    hex("c40163a7"), Buffer.from("headers"), hex("81a161a162a6"), Buffer.from("method"), hex("a4"), Buffer.from("POST"),
    hex("a4"), Buffer.from("path"), hex("a22f70a6"), Buffer.from("target"), hex("a174")]));
  assert.deepEqual(g.submits[1], Buffer.concat([hex("83a4"), Buffer.from("args"), hex("96c0c3d1ff38cb3ff8000000000000a173c40100a5"),
    Buffer.from("query"), hex("a171a6"), Buffer.from("target"), hex("a26462")]));
});

test("submit returns tickets; refusals, a missing handler and a failed call's requests", () => {
  const g = new Guest("async");
  assert.deepEqual(g.process(frameWithResults(["one", "two"], [])).out, hex("91dd00000000"));
  assert.equal(g.submits.length, 2);
  assert.deepEqual(g.process(frameWithResults(["one", "fail"], [])), { error: "failed" });
  assert.equal(g.submits.length, 2);
  g.refuse = -6;
  assert.deepEqual(g.process(frameWithResults(["one"], [])),
    { error: "wasmstream: async request refused: capacity full (async.capacity requests in flight)" });
  assert.deepEqual(values(g.process(frameWithResults(["try"], [])).out), ["capacity"]);
  g.refuse = -3;
  assert.deepEqual(g.process(frameWithResults(["one"], [])),
    { error: "wasmstream: async request refused: too large (async.max_request or async.max_context)" });
  g.refuse = -1;
  g.error = null;
  // The host set the message itself: the SDK sends none.
  assert.deepEqual(g.process(frameWithResults(["one"], [])), { error: "no message" });
  g.refuse = 0;
  assert.equal(g.submits.length, 2);
  assert.deepEqual(new Guest("asyncnohandler").process(frameWithResults(["one"], [])),
    { error: "wasmstream: submit without an onResult handler: register one at the module's top level to receive the results" });
});

test("results are handled after the call's records, nil apart from empty", () => {
  const g = new Guest("async");
  const results = [
    { ticket: 0, status: 0, context: "ctx", code: 200, body: "body" },
    { ticket: 1n << 40n, status: -7, context: "", code: -1, error: "timed out" },
    { ticket: 7, status: -1, body: "", error: "" },
  ];
  const got = g.process(frameWithResults(["items:" + "\x93\xc4\x01a\xc0\xa2bc"], results));
  assert.equal(got.error, undefined);
  assert.deepEqual(values(got.out), ["3:a,nil,bc", "0 0 200 =ctx =body nil", "1099511627776 -7 -1 = nil =timed out", "7 -1 0 nil = ="]);
  assert.equal(g.submits.length, 0);
  // Results alone; a handler's failure fails the call.
  assert.deepEqual(values(g.process(frameWithResults([], results.slice(0, 1))).out), ["0 0 200 =ctx =body nil"]);
  assert.deepEqual(g.process(frameWithResults([], [results[0], { ...results[1], status: 99 }])), { error: "result handler failed" });
  // Without onResult, element 1 is skipped.
  assert.deepEqual(new Guest("identity").process(frameWithResults([], results)).out, hex("91dd00000000"));
});

test("malformed results fail the call; any valid encoding is read", () => {
  const g = new Guest("async");
  assert.deepEqual(g.process(hex("9290919500" + "00c403616263" + "00c0")),
    { error: "decoding async results: malformed frame at byte 3: async result 0 has 5 fields; want 6" });
  assert.deepEqual(g.process(hex("9290dd00000002960000c0" + "00c0c0")),
    { error: "decoding async results: malformed frame at byte 7: frame declares 2 async results but has only 7 bytes left" });
  assert.match(g.process(hex("92909196000091c000c0c0")).error, /^decoding async results: malformed frame at byte 6: context: want bin, str or nil, found an array$/);
  // A 7-field result, wide ints, a str context and error.
  const got = g.process(hex("929091" + "97cf0000000000000005d2fffffff9a163d10100c0d90165c3"));
  assert.deepEqual(values(got.out), ["5 -7 256 =c nil =e"]);
});

test("redisItems refuses what is not an array reply", () => {
  const g = new Guest("async");
  assert.deepEqual(values(g.process(frameWithResults(["items:OK", "items:\x92\xc4\x01a\x05", "items:\x90"], [])).out),
    ["not an array", "not an array", "0:"]);
});
