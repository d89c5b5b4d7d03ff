// Store errors carry a stable code, the file and the reason, so the CLI can say which file is wrong and why.

export type StoreErrorCode =
  /** The file could not be opened (missing directory, permissions, locked beyond busy_timeout, ...). */
  | 'STORE_OPEN_FAILED'
  /** The file opened but is not a Shadowgate store (another SQLite database, or not SQLite at all). */
  | 'STORE_NOT_SHADOWGATE'
  /** The store was written by a newer Shadowgate whose schema this one does not know. */
  | 'STORE_SCHEMA_TOO_NEW'
  /** A write (record, reset) on a store opened read-only. */
  | 'STORE_READONLY'
  /** A call after close(). */
  | 'STORE_CLOSED';

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${reason}`, options);
  }
}
