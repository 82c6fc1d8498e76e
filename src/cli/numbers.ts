/**
 * Numbers given on the command line or in the config file. A flag that does not hold a number
 * of the right kind is a one-line usage error naming it, never a NaN passed on (a NaN flush
 * interval, for one, made capture never flush and then fail with an internal error).
 */
import { ConfigError } from '../core/index.ts';

function parsed(text: string | undefined, flag: string, kind: string, ok: (n: number) => boolean) {
  if (text === undefined) return undefined;
  const n = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(n) || !ok(n)) throw new ConfigError('USAGE', `${flag} takes ${kind}, not '${text}'`);
  return n;
}

/** A whole number ≥ 1 (rows, milliseconds, an id); undefined when not given. */
export function positiveInt(text: string | undefined, flag: string): number | undefined {
  return parsed(text, flag, 'a positive whole number', (n) => Number.isSafeInteger(n) && n > 0);
}

/** A number > 0, fractions allowed (megabytes); undefined when not given. */
export function positiveNumber(text: string | undefined, flag: string): number | undefined {
  return parsed(text, flag, 'a positive number', (n) => n > 0);
}

/** Seconds > 0, fractions allowed, returned in milliseconds; undefined when not given. */
export function positiveSecondsMs(text: string | undefined, flag: string): number | undefined {
  const s = parsed(text, flag, 'seconds', (n) => n > 0);
  return s === undefined ? undefined : s * 1000;
}

/** Megabytes (MiB) > 0, fractions allowed, returned in bytes; undefined when not given. */
export function megabytesToBytes(text: string | undefined, flag: string): number | undefined {
  const mb = positiveNumber(text, flag);
  return mb === undefined ? undefined : Math.max(1, Math.round(mb * 1024 * 1024));
}
