// The host functions of ABI version 1 (module `wasmstream`), the log and
// counter API built on them, and the abort handler the build installs.

// @ts-ignore: decorator
@external("wasmstream", "set_error")
declare function hostSetError(ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("wasmstream", "log")
declare function hostLog(level: i32, ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("wasmstream", "metric_add")
declare function hostMetricAdd(namePtr: usize, nameLen: usize, delta: i64): void;

/** The severity of a log message. */
export enum LogLevel {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** Writes msg to the host's log at level. */
export function log(level: LogLevel, msg: string): void {
  const b = String.UTF8.encode(msg);
  hostLog(level, changetype<usize>(b), b.byteLength);
}

/** Writes raw UTF-8 bytes to the host's log at level, without converting. */
export function logBytes(level: LogLevel, msg: Uint8Array): void {
  hostLog(level, msg.dataStart, msg.byteLength);
}

// Counter names as UTF-8, by name, so count allocates only the first time
// it sees a name.
const counterNames = new Map<string, ArrayBuffer>();

/** Adds delta to the operator's counter name, kept by the host. */
export function count(name: string, delta: i64): void {
  let b: ArrayBuffer;
  if (counterNames.has(name)) {
    b = counterNames.get(name);
  } else {
    b = String.UTF8.encode(name);
    if (counterNames.size < 256) counterNames.set(name, b);
  }
  hostMetricAdd(changetype<usize>(b), b.byteLength, delta);
}

/** Sets the host-visible error message of the current call. */
export function setHostError(msg: string): void {
  const b = String.UTF8.encode(msg);
  hostSetError(changetype<usize>(b), b.byteLength);
}

/**
 * The abort handler: `throw`, a failed assertion or a failed bounds check
 * reports its message to the host — as the call's error and in the log at
 * error level — and traps, which makes the host discard the instance.
 * Builds install it with `--use abort=<path to this file>/wasmstreamAbort`
 * (guest-sdk/assemblyscript/build-guest does), so the module imports no
 * `env.abort`, which the host does not provide.
 */
export function wasmstreamAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let msg = "abort: " + (message ? message : "(no message)");
  if (fileName) msg += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const b = String.UTF8.encode(msg);
  hostLog(LogLevel.Error, changetype<usize>(b), b.byteLength);
  hostSetError(changetype<usize>(b), b.byteLength);
  unreachable();
}
