// Records and headers, and helpers for the byte arrays they hold.

import { State } from "./state";

/**
 * One record header. Names may repeat; order is preserved. Name and value
 * are bytes (a header name is UTF-8 text); nameIs and nameString compare
 * and convert it.
 */
export class Header {
  /** What the SDK decoded into this header, to tell whether it changed. */
  _name: Uint8Array | null = null;
  _value: Uint8Array | null = null;
  _valueView: Uint8Array | null = null;

  constructor(
    public name: Uint8Array,
    /** null is msgpack nil, distinct from an empty value. */
    public value: Uint8Array | null = null,
  ) {}

  /** A header with a string name and value, converted to UTF-8. */
  static of(name: string, value: string | null): Header {
    return new Header(fromString(name), value === null ? null : fromString(value));
  }

  /** Whether the name is s, compared as UTF-8 without allocating. */
  nameIs(s: string): bool {
    return bytesEqualString(this.name, s);
  }

  /** The name as a string (allocates). */
  nameString(): string {
    return toString(this.name);
  }

  /** A copy that owns its bytes. */
  clone(): Header {
    const v = this.value;
    return new Header(this.name.slice(), v === null ? null : v.slice());
  }
}

/**
 * One stream element: key, value, event timestamp (milliseconds since the
 * Unix epoch), ordered headers and the named output it is routed to.
 *
 * In a handler, key, value and the headers' byte arrays are views of the
 * input batch: they may be modified in place and are valid until the handler
 * returns. The SDK reuses the record, its arrays and their view objects for
 * the next input record, so keep a clone(), not the record.
 */
export class Record {
  /** Routing key; null means no key. */
  key: Uint8Array | null = null;
  /** Payload; null is msgpack nil, distinct from an empty value. */
  value: Uint8Array | null = null;
  /** Event time, milliseconds since the Unix epoch. */
  timestamp: i64 = 0;
  headers: Array<Header>;
  /** The named output the record goes to; "" is the default output. */
  output: string = "";

  // The views and headers the SDK decodes into, reused record after record.
  _keyView: Uint8Array | null = null;
  _valueView: Uint8Array | null = null;
  _pool: Array<Header> | null = null;
  _headers: Array<Header> | null = null;
  // An output name decoded from the input and its bytes, which the writer
  // writes as they were while output is that very string: a name that is
  // not valid UTF-8 would not survive a round trip through a string.
  _output: string | null = null;
  _outputBytes: Uint8Array | null = null;
  // The State stateOf returns for this record, re-pointed at its key.
  _state: State | null = null;

  constructor(key: Uint8Array | null = null, value: Uint8Array | null = null, timestamp: i64 = 0, headers: Array<Header> | null = null, output: string = "") {
    this.key = key;
    this.value = value;
    this.timestamp = timestamp;
    this.headers = headers !== null ? headers : new Array<Header>(0);
    this.output = output;
  }

  /** The key as a string (allocates), or null. */
  keyString(): string | null {
    const k = this.key;
    return k === null ? null : toString(k);
  }

  /** The value as a string (allocates), or null. */
  valueString(): string | null {
    const v = this.value;
    return v === null ? null : toString(v);
  }

  /** A copy that owns its bytes, which may be kept after the handler returns. */
  clone(): Record {
    const k = this.key, v = this.value;
    const hs = new Array<Header>(0);
    for (let i = 0, n = this.headers.length; i < n; i++) hs.push(this.headers[i].clone());
    return new Record(k === null ? null : k.slice(), v === null ? null : v.slice(), this.timestamp, hs, this.output);
  }
}

/** s as UTF-8 bytes. */
export function fromString(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

/** UTF-8 bytes as a string; invalid sequences become U+FFFD. */
export function toString(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, b.byteLength);
}

/** Whether b starts with the UTF-8 encoding of prefix, without allocating (for ASCII prefixes). */
export function startsWith(b: Uint8Array | null, prefix: string): bool {
  if (b === null) return false;
  const n = prefix.length;
  if (!isAscii(prefix)) {
    const p = String.UTF8.encode(prefix);
    return p.byteLength <= b.byteLength && memory.compare(b.dataStart, changetype<usize>(p), p.byteLength) == 0;
  }
  if (n > b.byteLength) return false;
  const d = b.dataStart, s = changetype<usize>(prefix);
  for (let i = 0; i < n; i++) {
    if (<u32>load<u8>(d + <usize>i) != <u32>load<u16>(s + (<usize>i << 1))) return false;
  }
  return true;
}

/** Whether b holds exactly the UTF-8 encoding of s. */
export function bytesEqualString(b: Uint8Array | null, s: string): bool {
  return b !== null && b.byteLength == String.UTF8.byteLength(s) && startsWith(b, s);
}

/** Whether a and b hold the same bytes (both null counts as equal). */
export function bytesEqual(a: Uint8Array | null, b: Uint8Array | null): bool {
  if (a === null || b === null) return a === b;
  return a.byteLength == b.byteLength && memory.compare(a.dataStart, b.dataStart, a.byteLength) == 0;
}

/** The index of the first byte c in b at or after from, or -1. */
export function indexOfByte(b: Uint8Array, c: u8, from: i32 = 0): i32 {
  const d = b.dataStart;
  for (let i = max(from, 0), n = b.byteLength; i < n; i++) {
    if (load<u8>(d + <usize>i) == c) return i;
  }
  return -1;
}

function isAscii(s: string): bool {
  const p = changetype<usize>(s);
  for (let i = 0, n = s.length; i < n; i++) {
    if (load<u16>(p + (<usize>i << 1)) >= 0x80) return false;
  }
  return true;
}
