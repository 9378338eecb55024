// Test operator: each record's value is a state command, run on the state of
// the record's key, of another key ("key=K CMD ...") or of the operator
// ("op CMD ..."); results are emitted as records with the input's key.
//
//   get N            the value, or a nil value when absent
//   put N V [TTL]    set (TTL in ms)          del N       delete
//   add N D          emit the new counter     app N E     append to a list
//   list N           one record per element   status      emit stateStatus()
//   mget M K, mput M K V, mdel M K, madd M K D            the same on a map
//   addf N D, maddf M K D   a float counter (emits the new value)
//   mbget M K        mget with the map key as bytes
//   big N SIZE       put SIZE bytes           bigapp N SIZE  append SIZE bytes
//   reads K N        K gets of N; emit the bytes read in total
//   adds K N         K additions of 1 to N; emit the counter
//   counts K         K additions of 1 to "count", a string literal
//   fail MSG         fail the call
import { flatMap, fail, Record, Emitter, fromString, State, stateOf, keyState, operatorState, stateStatus, hasFailed } from "../assembly";
export * from "../assembly/exports";

const out = new Record();

function emit(e: Emitter, r: Record, v: Uint8Array | null): void {
  out.key = r.key;
  out.value = v;
  out.timestamp = r.timestamp;
  e.emit(out);
}

function emitText(e: Emitter, r: Record, s: string): void {
  emit(e, r, fromString(s));
}

function filled(n: i32, c: u8): Uint8Array {
  const b = new Uint8Array(n);
  b.fill(c);
  return b;
}

flatMap((r: Record, e: Emitter): void => {
  const v = r.value;
  if (v === null) return;
  let w = String.UTF8.decodeUnsafe(v.dataStart, v.byteLength).split(" ");
  let s: State = stateOf(r);
  if (w[0] == "op") {
    s = operatorState();
    w = w.slice(1);
  } else if (w[0].startsWith("key=")) {
    s = keyState(w[0].slice(4));
    w = w.slice(1);
  } else if (w[0].startsWith("bkey=")) {
    s = keyState(fromString(w[0].slice(5)));
    w = w.slice(1);
  }
  const cmd = w[0];
  if (cmd == "get") {
    emit(e, r, s.get(w[1]));
  } else if (cmd == "put") {
    s.put(w[1], w[2], w.length > 3 ? I64.parseInt(w[3]) : 0);
  } else if (cmd == "del") {
    s.delete(w[1]);
  } else if (cmd == "add") {
    const n = s.add(w[1], I64.parseInt(w[2]));
    if (!hasFailed()) emitText(e, r, n.toString());
  } else if (cmd == "addf") {
    const n = s.addF64(w[1], F64.parseFloat(w[2]));
    if (!hasFailed()) emitText(e, r, n.toString());
  } else if (cmd == "maddf") {
    const n = s.map(w[1]).addF64(w[2], F64.parseFloat(w[3]));
    if (!hasFailed()) emitText(e, r, n.toString());
  } else if (cmd == "app") {
    s.append(w[1], w[2]);
  } else if (cmd == "list") {
    const it = s.list(w[1]);
    for (let x = it.next(); x !== null; x = it.next()) emit(e, r, x);
  } else if (cmd == "status") {
    emitText(e, r, (<i32>stateStatus()).toString());
  } else if (cmd == "mget") {
    emit(e, r, s.map(w[1]).get(w[2]));
  } else if (cmd == "mbget") {
    emit(e, r, s.map(w[1]).get(fromString(w[2])));
  } else if (cmd == "mput") {
    s.map(w[1]).put(w[2], w[3]);
  } else if (cmd == "mdel") {
    s.map(w[1]).delete(w[2]);
  } else if (cmd == "madd") {
    const n = s.map(w[1]).add(w[2], I64.parseInt(w[3]));
    if (!hasFailed()) emitText(e, r, n.toString());
  } else if (cmd == "big") {
    s.put(w[1], filled(I32.parseInt(w[2]), 0x78));
  } else if (cmd == "bigapp") {
    s.append(w[1], filled(I32.parseInt(w[2]), 0x79));
  } else if (cmd == "reads") {
    const k = I32.parseInt(w[1]);
    let total: i64 = 0;
    for (let i = 0; i < k; i++) {
      const x = s.get(w[2]);
      if (x !== null) total += x.byteLength;
    }
    emitText(e, r, total.toString());
  } else if (cmd == "adds") {
    const k = I32.parseInt(w[1]);
    let n: i64 = 0;
    for (let i = 0; i < k; i++) n = s.add(w[2], 1);
    emitText(e, r, n.toString());
  } else if (cmd == "counts") {
    const k = I32.parseInt(w[1]);
    let n: i64 = 0;
    for (let i = 0; i < k; i++) n = s.add("count", 1);
    emitText(e, r, n.toString());
  } else if (cmd == "fail") {
    fail(w.slice(1).join(" "));
  } else {
    fail("unknown command " + cmd);
  }
});
