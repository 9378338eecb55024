// An async request's result (abi/SPEC.md, section 5.2), as the input
// frame's element 1 delivers it.

/** The status of an async result. */
export enum ResultStatus {
  /** The request completed: code and body hold the answer. */
  OK = 0,
  /** It failed; error says why. */
  Error = -1,
  /** It timed out after the retries async.retry allows; error says so. */
  Timeout = -7,
}

/**
 * One async request's result. context and body are views of the input
 * batch, valid during the onResult call; the SDK reuses the Result and its
 * views for the next result, so copy (slice()) what you keep. null is nil,
 * distinct from empty, for context, body and error alike.
 */
export class Result {
  /** The ticket submit returned. */
  ticket: u64 = 0;
  /** ResultStatus.OK, Error or Timeout. */
  status: i32 = 0;
  /** The request's context, as submitted. */
  context: Uint8Array | null = null;
  /** http: the response status; redis: the number of elements of an array reply, 0 otherwise; sql: the number of rows. */
  code: i64 = 0;
  /** http: the response body; redis: the reply; sql: the rows as a JSON array of objects. */
  body: Uint8Array | null = null;
  /** With status Error or Timeout: what went wrong. */
  error: string | null = null;

  // The views the SDK decodes into, reused result after result.
  _contextView: Uint8Array | null = null;
  _bodyView: Uint8Array | null = null;
}
