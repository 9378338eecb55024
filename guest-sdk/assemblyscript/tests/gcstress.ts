// Test operator for the garbage collector: keeps clones of earlier records
// across records and calls, allocates garbage for every record, and emits
// for each record a new record built from it and from the record before it:
// key of the previous record, value + "!", header prev = previous value.
import { flatMap, Record, Header, Emitter, fromString, toString } from "../assembly";
export * from "../assembly/exports";

const kept = new Array<Record>(0);

flatMap((r: Record, out: Emitter): void => {
  let garbage = "";
  for (let i = 0; i < 8; i++) garbage += i.toString() + ",";
  const prev = kept.length > 0 ? kept[kept.length - 1] : new Record(fromString("none"), fromString("none"));
  const value = fromString(toString(r.value!) + "!" + garbage.slice(0, 0));
  out.emit(new Record(prev.key!.slice(), value, r.timestamp, [new Header(fromString("prev"), prev.value)]));
  kept.push(r.clone());
  if (kept.length > 64) kept.shift();
});
