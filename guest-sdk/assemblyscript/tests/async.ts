// Test operator for async I/O. By each record's value:
//
//   "fail"           fail the call (after the requests before it)
//   "try"            trySubmit; emit "capacity" when the host is full
//   "sql"            a SQL request with every kind of argument
//   "http"           an HTTP request with every field
//   "items:" REPLY   emit what redisItems makes of REPLY: "n:a,nil,bc" or "not an array"
//   anything else    submit http("svc", "GET", "/x", value)
//
// and for each result, a record "ticket status code context body error",
// each of the last three "nil" or "=" and its bytes. A result of status 99
// fails the call.
import {
  flatMap, onResult, fail, Record, Emitter, Header, Result, Request, Arg, SubmitStatus, http, sql, submit, trySubmit,
  redisItems, startsWith, bytesEqualString, fromString, toString,
} from "../assembly";
export * from "../assembly/exports";

function show(b: Uint8Array | null): string {
  return b === null ? "nil" : "=" + toString(b);
}

flatMap((r: Record, out: Emitter): void => {
  const v = r.value;
  if (bytesEqualString(v, "fail")) {
    fail("failed");
    return;
  }
  if (bytesEqualString(v, "try")) {
    if (trySubmit(http("svc", "GET", "/x", v)) == SubmitStatus.Capacity) out.emit(new Record(null, fromString("capacity")));
    return;
  }
  if (bytesEqualString(v, "sql")) {
    submit(sql("db", "q", null, [Arg.nil(), Arg.bool(true), Arg.int(-200), Arg.float(1.5), Arg.str("s"), Arg.bin(fromString("\0"))]));
    return;
  }
  if (bytesEqualString(v, "http")) {
    const req = http("t", "POST", "/p", fromString("c"));
    req.headers = [Header.of("a", "b")];
    req.body = fromString("xy");
    submit(req);
    return;
  }
  if (startsWith(v, "items:")) {
    const items = redisItems(v!.subarray(6));
    if (items === null) {
      out.emit(new Record(null, fromString("not an array")));
      return;
    }
    let s = items.length.toString() + ":";
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      s += (i > 0 ? "," : "") + (it === null ? "nil" : toString(it));
    }
    out.emit(new Record(null, fromString(s)));
    return;
  }
  submit(http("svc", "GET", "/x", v));
});

onResult((res: Result, out: Emitter): void => {
  if (res.status == 99) {
    fail("result handler failed");
    return;
  }
  const e = res.error;
  const line = res.ticket.toString() + " " + res.status.toString() + " " + res.code.toString() + " " +
    show(res.context) + " " + show(res.body) + " " + (e === null ? "nil" : "=" + e);
  out.emit(new Record(null, fromString(line)));
});
