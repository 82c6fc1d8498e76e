/**
 * MySQL's binary JSON (sql/json_binary.h) to JSON text as MySQL prints it: `{"a": 1, "b": [1, 2]}`.
 * MariaDB stores JSON as text and never reaches this. Numbers keep their exact digits (64-bit
 * integers as bigints); DECIMAL and temporal "opaque" values are written as MySQL shows them.
 */
import { decodeDecimal } from './decimal.ts';
import { MysqlType } from './column-types.ts';

const pad = (n: number | bigint, w = 2) => String(n).padStart(w, '0');

function fail(msg: string, pos: number): never {
  throw new RangeError(`MySQL JSON: ${msg} at byte ${pos}`);
}

/** MySQL JSON's variable-length integer: 7 bits a byte, low bits first, high bit = more. */
function varLen(buf: Buffer, pos: number): [value: number, next: number] {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const b = buf[pos + i];
    if (b === undefined) fail('length cut short', pos);
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [value, pos + i + 1];
  }
  return fail('length too long', pos);
}

function packedTime(v: bigint): string {
  const negative = v < 0n;
  const p = negative ? -v : v;
  const hms = Number(p >> 24n);
  const micros = Number(p % (1n << 24n));
  return `${negative ? '-' : ''}${pad((hms >> 12) % 1024)}:${pad((hms >> 6) % 64)}:${pad(hms % 64)}.${pad(micros, 6)}`;
}

function packedDatetime(v: bigint, withTime: boolean): string {
  const p = v < 0n ? -v : v;
  const ymdhms = Number(p >> 24n);
  const micros = Number(p % (1n << 24n));
  const ymd = Math.floor(ymdhms / 2 ** 17);
  const hms = ymdhms % 2 ** 17;
  const ym = ymd >> 5;
  const date = `${pad(Math.floor(ym / 13), 4)}-${pad(ym % 13)}-${pad(ymd % 32)}`;
  if (!withTime) return date;
  return `${date} ${pad(hms >> 12)}:${pad((hms >> 6) % 64)}:${pad(hms % 64)}.${pad(micros, 6)}`;
}

function opaque(fieldType: number, data: Buffer): string {
  switch (fieldType) {
    case MysqlType.NEWDECIMAL:
      return decodeDecimal(data.subarray(2), data[0]!, data[1]!);
    case MysqlType.DATE:
      return JSON.stringify(packedDatetime(data.readBigInt64LE(0), false));
    case MysqlType.DATETIME:
    case MysqlType.TIMESTAMP:
      return JSON.stringify(packedDatetime(data.readBigInt64LE(0), true));
    case MysqlType.TIME:
      return JSON.stringify(packedTime(data.readBigInt64LE(0)));
    default:
      return JSON.stringify(`base64:type${fieldType}:${data.toString('base64')}`);
  }
}

function scalar(type: number, buf: Buffer, pos: number): string {
  switch (type) {
    case 0x04: {
      const lit = buf[pos];
      if (lit === 0) return 'null';
      if (lit === 1) return 'true';
      if (lit === 2) return 'false';
      return fail(`unknown literal ${String(lit)}`, pos);
    }
    case 0x05:
      return String(buf.readInt16LE(pos));
    case 0x06:
      return String(buf.readUInt16LE(pos));
    case 0x07:
      return String(buf.readInt32LE(pos));
    case 0x08:
      return String(buf.readUInt32LE(pos));
    case 0x09:
      return String(buf.readBigInt64LE(pos));
    case 0x0a:
      return String(buf.readBigUInt64LE(pos));
    case 0x0b: {
      const d = buf.readDoubleLE(pos);
      // MySQL prints integral doubles without a fraction and exponents without '+'.
      return String(d).replace('e+', 'e');
    }
    case 0x0c: {
      const [len, start] = varLen(buf, pos);
      return JSON.stringify(buf.toString('utf8', start, start + len));
    }
    case 0x0f: {
      const fieldType = buf[pos]!;
      const [len, start] = varLen(buf, pos + 1);
      return opaque(fieldType, buf.subarray(start, start + len));
    }
    default:
      return fail(`unknown value type 0x${type.toString(16)}`, pos);
  }
}

/** Decodes the value of `type` whose body starts at `pos` (for containers: at its element count). */
function value(type: number, buf: Buffer, pos: number): string {
  if (type <= 0x03) {
    const large = type === 0x01 || type === 0x03;
    const isObject = type === 0x00 || type === 0x01;
    const offSize = large ? 4 : 2;
    const read = (p: number) => (large ? buf.readUInt32LE(p) : buf.readUInt16LE(p));
    const count = read(pos);
    const keyEntries = pos + 2 * offSize;
    const valueEntries = keyEntries + (isObject ? count * (offSize + 2) : 0);
    const parts: string[] = [];
    for (let i = 0; i < count; i++) {
      const entry = valueEntries + i * (1 + offSize);
      const t = buf[entry]!;
      const inline = t === 0x04 || t === 0x05 || t === 0x06 || (large && (t === 0x07 || t === 0x08));
      const text = inline ? scalar(t, buf, entry + 1) : value(t, buf, pos + read(entry + 1));
      if (isObject) {
        const k = keyEntries + i * (offSize + 2);
        const keyOffset = read(k);
        const keyLength = buf.readUInt16LE(k + offSize);
        parts.push(
          `${JSON.stringify(buf.toString('utf8', pos + keyOffset, pos + keyOffset + keyLength))}: ${text}`,
        );
      } else {
        parts.push(text);
      }
    }
    return isObject ? `{${parts.join(', ')}}` : `[${parts.join(', ')}]`;
  }
  return scalar(type, buf, pos);
}

export function decodeMysqlJson(buf: Buffer): string {
  if (buf.length === 0) return 'null';
  return value(buf[0]!, buf, 1);
}
