// Test operator: a map returning a new record with new headers, so every
// record goes through the encoder.
import { map, Record, Header } from "../assembly";
export * from "../assembly/exports";

map((r: Record): Record => {
  const hs = new Array<Header>(0);
  for (let i = 0; i < r.headers.length; i++) hs.push(new Header(r.headers[i].name, r.headers[i].value));
  return new Record(r.key, r.value, r.timestamp, hs, r.output);
});
