// Test operator: submits a request for every record without registering
// onResult, which submit refuses.
import { flatMap, Record, Emitter, http, submit } from "../assembly";
export * from "../assembly/exports";

flatMap((r: Record, out: Emitter): void => {
  submit(http("svc", "GET", "/x", r.value));
});
