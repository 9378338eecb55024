// The wasmstream guest SDK for AssemblyScript. See README.md.

export { Record, Header, fromString, toString, startsWith, bytesEqual, bytesEqualString, indexOfByte } from "./record";
export { map, filter, flatMap, processBatch, onInit, onResult, fail, hasFailed, Emitter, Batch, currentConfig } from "./operator";
export { Config, Value, ValueKind } from "./config";
export { log, logBytes, count, LogLevel } from "./host";
export { MAX_RECORDS } from "./codec";
export { State, StateMap, StateList, StateStatus, stateOf, keyState, operatorState, stateStatus } from "./state";
export { Result, ResultStatus } from "./result";
export { Request, Arg, ArgKind, SubmitStatus, http, redis, sql, submit, trySubmit, redisItems, requestBytes } from "./async";
