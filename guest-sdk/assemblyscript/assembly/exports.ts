// The exports of ABI version 1. An operator's entry file re-exports them:
//
//   export * from "<path to guest-sdk/assemblyscript>/assembly/exports";

import { operatorAlloc, operatorInit, operatorProcess, collectGarbage } from "./operator";

/** The ABI version the module speaks. */
export function wasmstream_abi_version(): i32 {
  return 1;
}

/** The SDK's language: 4, AssemblyScript. */
export function wasmstream_language(): i32 {
  return 4;
}

/** A buffer of at least len bytes for the next call's input: one grow-only buffer, reused. */
export function alloc(len: usize): usize {
  return operatorAlloc(len);
}

/** Does nothing: alloc's buffer is reused, never freed. */
export function dealloc(ptr: usize, len: usize): void {}

/** Receives the operator's configuration and runs the onInit hook. */
export function init(ptr: usize, len: usize): i32 {
  const st = operatorInit(ptr, len);
  collectGarbage();
  return st;
}

/** Processes one input frame; returns ptr << 32 | len of the output frame, or -1. */
export function process(ptr: usize, len: usize): i64 {
  const res = operatorProcess(ptr, len);
  collectGarbage();
  return res;
}
