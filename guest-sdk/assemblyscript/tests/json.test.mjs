// The AssemblyScript SDK's JSON module (assembly/json.ts) against the shared
// vectors in guest-sdk/testdata/json, through tests/json.ts compiled by
// ../test into $WASM_DIR (guards issue #9 item 3: every SDK reads and writes
// JSON the same way).
//
//   node --test tests/json.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const vectors = fs.readFileSync(path.resolve(here, "../../testdata/json/vectors.tsv"));

function load() {
  const mod = new WebAssembly.Module(fs.readFileSync(path.join(process.env.WASM_DIR, "json.wasm")));
  const stub = {};
  for (const imp of WebAssembly.Module.imports(mod)) {
    stub[imp.module] ??= {};
    stub[imp.module][imp.name] = () => 0;
  }
  return new WebAssembly.Instance(mod, stub).exports;
}

test("JSON vectors", () => {
  const x = load();
  const p = x.alloc(vectors.length);
  new Uint8Array(x.memory.buffer).set(vectors, p);
  const n = x.runVectors(p, vectors.length);
  const report = new TextDecoder().decode(new Uint8Array(x.memory.buffer, x.reportPtr(), x.reportLen()));
  assert.ok(n > 150, `${-n} vectors failed:\n${report}`);
});

test("JSON writer", () => {
  assert.equal(load().runWriter(), 0);
});
