/**
 * One base error with a stable `code` (documented in docs/errors.md) and a kind that tells the one
 * retry loop of a job what to do with it:
 * - `config`: fatal; the message says how to fix the setup.
 * - `input`: bad input data (a malformed change file line); it goes to dead letters, nothing stops.
 * - `transient`: retried with backoff (a dropped connection, a store that is down).
 * - `bug`: an invariant broke; crash loudly.
 * Callers classify by `code` or `kind`, never by message text.
 */
export type ErrorKind = 'config' | 'input' | 'transient' | 'bug';

export class TabletimeError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;

  constructor(code: string, kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.kind = kind;
  }
}

/** A setting or environment problem the user must fix; the message says how. */
export class ConfigError extends TabletimeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, 'config', message, options);
  }
}

/** Input that cannot be used as it is (a malformed change-file line, a value of the wrong type). */
export class InputError extends TabletimeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, 'input', message, options);
  }
}

/** A failure expected to pass: retried by the job's retry loop. */
export class TransientError extends TabletimeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, 'transient', message, options);
  }
}
