/**
 * In-memory row values. One representation per column kind (see column-types.ts), chosen so that
 * every MySQL value round-trips exactly: integers that may pass 2^53 are bigints, DECIMAL is its
 * digits as a string, temporal values are their canonical text (no Date objects, so no time-zone
 * shift and no lost microseconds), bytes are Uint8Array.
 */
export type Value = null | number | bigint | string | Uint8Array;
export type Row = Record<string, Value>;

/**
 * The shortest decimal that reads back as the same 32-bit float. MySQL FLOAT columns hold float32;
 * widening 0.1f to a double gives 0.10000000149011612, which is not what the user stored or sees.
 */
export function shortestFloat32(x: number): number {
  const f = Math.fround(x);
  if (!Number.isFinite(f) || f === 0) return f;
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(f.toPrecision(digits));
    if (Math.fround(candidate) === f) return candidate;
  }
  return f;
}

/** '[-]digits[.fraction]' with no leading zero, exactly `scale` fraction digits, and not '-0…'. */
function isCanonicalDecimal(text: string, scale: number): boolean {
  const n = text.length;
  const negative = text.charCodeAt(0) === 45; // '-'
  let i = negative ? 1 : 0;
  const start = i;
  let nonZero = false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    if (c !== 48) nonZero = true;
  }
  const intDigits = i - start;
  if (intDigits === 0 || (intDigits > 1 && text.charCodeAt(start) === 48)) return false;
  if (scale === 0) return i === n && (!negative || nonZero);
  if (text.charCodeAt(i) !== 46 || n - i - 1 !== scale) return false; // '.'
  for (i++; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    if (c !== 48) nonZero = true;
  }
  return !negative || nonZero;
}

/**
 * Puts exact decimal digits in MySQL's own form for a DECIMAL(p, s) column: exactly `scale`
 * fraction digits, no exponent, no leading '+', '-0' as '0'. Throws on text that is not a decimal
 * number; never goes through a JS number.
 */
export function normalizeDecimal(text: string, scale: number | undefined): string {
  // Most values come in this form already (MariaDB's own text): one pass over the characters
  // instead of the pattern and the rebuild.
  if (scale !== undefined && isCanonicalDecimal(text, scale)) return text;
  let s = text.trim();
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new RangeError(`not a decimal number: ${text}`);
  const sign = m[1] === '-' ? '-' : '';
  let intPart = m[2] ?? '';
  let frac = m[3] ?? '';
  const exp = m[4] === undefined ? 0 : Number.parseInt(m[4], 10);
  if (exp > 0) {
    const moved = frac.padEnd(exp, '0');
    intPart += moved.slice(0, exp);
    frac = moved.slice(exp);
  } else if (exp < 0) {
    const moved = intPart.padStart(-exp, '0');
    frac = moved.slice(moved.length + exp) + frac;
    intPart = moved.slice(0, moved.length + exp);
  }
  intPart = intPart.replace(/^0+(?=\d)/, '');
  if (intPart === '') intPart = '0';
  if (scale !== undefined) {
    if (frac.length > scale) {
      // Only zeros may be dropped: anything else would change the value.
      if (/[^0]/.test(frac.slice(scale)))
        throw new RangeError(`decimal ${text} has more than ${scale} fraction digits`);
      frac = frac.slice(0, scale);
    } else {
      frac = frac.padEnd(scale, '0');
    }
  }
  s = frac.length > 0 ? `${intPart}.${frac}` : intPart;
  return /^[0.]*$/.test(s) ? s : sign + s;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** Formats microseconds since the Unix epoch as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC. */
export function formatEpochMicros(micros: bigint | number, fsp: number, separator: ' ' | 'T' = ' '): string {
  const us = BigInt(micros);
  let secs = us / 1_000_000n;
  let frac = us % 1_000_000n;
  if (frac < 0n) {
    frac += 1_000_000n;
    secs -= 1n;
  }
  const d = new Date(Number(secs) * 1000);
  const year = d.getUTCFullYear();
  const text =
    `${String(year).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}` +
    `${separator}${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  return fsp > 0 ? `${text}.${String(frac).padStart(6, '0').slice(0, fsp)}` : text;
}

/** Formats a signed duration in microseconds as MySQL TIME text: '[-]HH:MM:SS[.ffffff]' (hours may exceed 24). */
export function formatTimeMicros(micros: bigint | number, fsp: number): string {
  let us = BigInt(micros);
  const sign = us < 0n ? '-' : '';
  if (us < 0n) us = -us;
  const frac = us % 1_000_000n;
  const total = us / 1_000_000n;
  const h = total / 3600n;
  const m = Number((total / 60n) % 60n);
  const s = Number(total % 60n);
  const text = `${sign}${String(h).padStart(2, '0')}:${pad2(m)}:${pad2(s)}`;
  return fsp > 0 ? `${text}.${String(frac).padStart(6, '0').slice(0, fsp)}` : text;
}

/**
 * Parses 'YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z]' as UTC into microseconds since the epoch. Used for
 * change-file timestamps (zone-less text means UTC, as in Datastream's files).
 */
export function parseUtcMicros(text: string): number {
  // A change file's lines repeat the same few instants (read, source and commit time of a
  // transaction's rows): the last ones parsed are kept.
  for (let i = 0; i < RECENT_INSTANTS; i++) if (recentText[i] === text) return recentMicros[i]!;
  const micros = parseUtcMicrosText(text);
  recentText[recentNext] = text;
  recentMicros[recentNext] = micros;
  recentNext = (recentNext + 1) % RECENT_INSTANTS;
  return micros;
}

const RECENT_INSTANTS = 4;
const recentText: (string | undefined)[] = new Array<string | undefined>(RECENT_INSTANTS);
const recentMicros: number[] = new Array<number>(RECENT_INSTANTS).fill(0);
let recentNext = 0;

function parseUtcMicrosText(text: string): number {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]00:?00)?$/.exec(
      text.trim(),
    );
  if (!m) throw new RangeError(`not a UTC timestamp: ${text}`);
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
  const frac = Number.parseInt((m[7] ?? '').padEnd(6, '0').slice(0, 6), 10);
  return ms * 1000 + frac;
}

/** Microseconds since the epoch as ISO 8601 UTC with all six fraction digits. */
export function isoFromMicros(micros: number): string {
  return `${formatEpochMicros(micros, 6, 'T')}Z`;
}

/** Bytes as lower-case hex, without copying them. */
export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Exact equality of two values of the same column (bytes by content, bigint by value). */
export function valuesEqual(a: Value, b: Value): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && bytesEqual(a, b);
  }
  return a === b;
}
