// Test operator: reads the first record of each batch and emits nothing;
// logs the batch length.
import { processBatch, Batch, Emitter, Record, log, LogLevel } from "../assembly";
export * from "../assembly/exports";

const r = new Record();

processBatch((b: Batch, out: Emitter): void => {
  log(LogLevel.Debug, "batch of " + b.length.toString());
  b.next(r);
});
