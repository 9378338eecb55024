// Test operator: emits a new record to a named output (new value, headers
// and timestamp) and then the input record unchanged; fails on a nil value;
// value "long" goes to an output with a long name; "throw" throws.
import { flatMap, fail, Record, Header, Emitter, fromString, bytesEqualString, count } from "../assembly";
export * from "../assembly/exports";

flatMap((r: Record, out: Emitter): void => {
  const v = r.value;
  if (v === null) {
    fail("nil value at " + r.timestamp.toString());
    return;
  }
  if (bytesEqualString(v, "throw")) throw new Error("thrown");
  if (bytesEqualString(v, "long")) {
    out.emitTo("an output name longer than thirty-one bytes", r);
    return;
  }
  count("rewritten", 2);
  const nv = new Uint8Array(v.length + 1);
  nv.set(v!);
  nv[v.length] = 0x21; // '!'
  const hs = [Header.of("n", "1"), new Header(fromString("m"), null)];
  out.emitTo("side", new Record(r.key, nv, -r.timestamp, hs));
  out.emit(r);
  if (out.length != 2) fail("length " + out.length.toString());
});
