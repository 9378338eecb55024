// A wasmstream operator that parses each record's value as JSON, keeps only
// the records whose "event" is "click" and keys each kept record by its
// "user.name", with the SDK's JSON module: the JSON values are reused for
// every record and the name is decoded into a reused buffer; the key is one
// small view object per kept record.
//
// Records that are not valid JSON are dropped and counted in the metric
// invalid_json; a kept record without a string user.name keeps its key.
//
// Build it with ./build OUT.wasm and run it with ../pipeline.yaml (pointing
// its module at the output).

import { count, Emitter, flatMap, Record } from "../../../../guest-sdk/assemblyscript/assembly";
import { JsonError, JsonKind, JsonValue, jsonGetAll } from "../../../../guest-sdk/assemblyscript/assembly/json";
export * from "../../../../guest-sdk/assemblyscript/assembly/exports";

const paths = ["event", "user.name"];
const vals = [new JsonValue(), new JsonValue()];
let nameBuf = new Uint8Array(256);

flatMap(filterClicks);

/** Reads both fields in one pass over the value with jsonGetAll. */
function filterClicks(r: Record, out: Emitter): void {
  const v = r.value;
  if (v === null) return;
  if (jsonGetAll(v, paths, vals) != JsonError.OK) {
    count("invalid_json", 1);
    return;
  }
  if (!vals[0].textEquals("click")) return; // false when missing
  const name = vals[1];
  if (name.kind == JsonKind.STRING) {
    if (!name.hasEscapes()) {
      r.key = v.subarray(name.start + 1, name.end - 1);
    } else {
      if (nameBuf.length < name.end - name.start) nameBuf = new Uint8Array(name.end - name.start);
      r.key = nameBuf.subarray(0, name.text(nameBuf));
    }
  }
  out.emit(r); // encodes r at once: nameBuf may be reused
}
