/**
 * Google Datastream's Avro change files (FACTS.md; real ones in ../shared/datastream-fixtures/).
 * Every payload column is a nullable union. The writer schema says little about the MySQL type:
 * DATE, DATETIME and TIMESTAMP all come as timestamp-micros (DATETIME is wall clock encoded as
 * UTC), TIME as time-interval-micros, DECIMAL as decimal bytes, BIGINT UNSIGNED as a string with
 * logicalType "number", and BLOB/BINARY as plain strings of hex, indistinguishable from text.
 * So a column's kind comes from the Avro type unless the caller gives a hint (its real SQL type).
 */
import avro from 'avsc';
import { columnFromSqlType, type ColumnSchema, formatEpochMicros, formatTimeMicros } from '../core/index.ts';
import type { WireValue } from './value-encoding.ts';

/** Avro longs as bigints: avsc's default refuses longs beyond 2^53 ('potential precision loss'). */
export const bigintLongType = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (v: number | string) => BigInt(v),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

interface AvroFieldType {
  type?: unknown;
  logicalType?: string;
  precision?: number;
  scale?: number;
  name?: string;
  fields?: { name: string; type: unknown }[];
}

/** One payload column as the Avro writer schema describes it. */
export interface AvroColumn {
  readonly column: ColumnSchema;
  /** Multiplier from the Avro value to microseconds, for temporal logical types. */
  readonly toMicros: bigint;
}

function nonNull(type: unknown): unknown {
  if (Array.isArray(type)) {
    const rest = type.filter((t) => t !== 'null');
    return rest.length === 1 ? rest[0] : rest;
  }
  return type;
}

/** Maps one Avro payload field to a column. `hint` is the real SQL type when the caller knows it. */
export function avroColumn(name: string, fieldType: unknown, hint: string | undefined): AvroColumn {
  const t = nonNull(fieldType);
  const obj: AvroFieldType = typeof t === 'object' && t !== null && !Array.isArray(t) ? t : { type: t };
  const base = typeof obj.type === 'string' ? obj.type : 'unknown';
  let sqlType: string;
  let toMicros = 1n;
  switch (obj.logicalType) {
    case 'timestamp-micros':
      sqlType = 'datetime(6)';
      break;
    case 'timestamp-millis':
      sqlType = 'datetime(3)';
      toMicros = 1000n;
      break;
    case 'time-interval-micros':
    case 'time-micros':
      sqlType = 'time(6)';
      break;
    case 'time-millis':
      sqlType = 'time(3)';
      toMicros = 1000n;
      break;
    case 'decimal':
      sqlType = `decimal(${obj.precision ?? 38},${obj.scale ?? 0})`;
      break;
    case 'number':
      sqlType = 'bigint unsigned';
      break;
    case undefined:
    default:
      if (base === 'record' && obj.fields?.some((f) => f.name === 'timestamp')) sqlType = 'timestamp(6)';
      else if (base === 'int' || base === 'boolean') sqlType = 'int';
      else if (base === 'long') sqlType = 'bigint';
      else if (base === 'float') sqlType = 'float';
      else if (base === 'double') sqlType = 'double';
      else sqlType = 'longtext';
  }
  return { column: columnFromSqlType(name, hint ?? sqlType), toMicros };
}

/** Decimal bytes (two's-complement big-endian unscaled integer) to digits with `scale` fraction digits. */
export function decimalFromBytes(bytes: Uint8Array, scale: number): string {
  if (bytes.length === 0) return scale > 0 ? `0.${'0'.repeat(scale)}` : '0';
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
  if (bytes[0]! & 0x80) n -= 1n << BigInt(bytes.length * 8);
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString().padStart(scale + 1, '0');
  const text = scale > 0 ? `${digits.slice(0, digits.length - scale)}.${digits.slice(-scale)}` : digits;
  return negative ? `-${text}` : text;
}

/** Turns one raw Avro payload value into the wire form our JSON lines use for `col.column`. */
export function avroValueToWire(raw: unknown, col: AvroColumn): WireValue {
  if (raw === null || raw === undefined) return null;
  let v: unknown = raw;
  if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && 'timestamp' in v) {
    v = v.timestamp; // timestampTz record: the instant
  }
  const { column } = col;
  const micros = (): bigint => BigInt(v as bigint | number) * col.toMicros;
  switch (column.kind) {
    case 'date':
      return formatEpochMicros(micros(), 0).slice(0, 10);
    case 'datetime':
      return formatEpochMicros(micros(), column.fsp ?? 6);
    case 'timestamp':
      return `${formatEpochMicros(micros(), column.fsp ?? 6, 'T')}Z`;
    case 'time':
      return formatTimeMicros(micros(), column.fsp ?? 6);
    case 'decimal':
      if (v instanceof Uint8Array) return decimalFromBytes(v, column.scale ?? 0);
      break;
    case 'bigint':
    case 'bit':
      if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string') return String(v);
      break;
    case 'int':
    case 'year':
      if (typeof v === 'bigint') return Number(v);
      break;
    case 'float':
    case 'double':
    case 'enum':
    case 'set':
    case 'json':
    case 'string':
    case 'binary':
      break;
  }
  if (typeof v === 'bigint') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return v as WireValue;
}

/** Replaces bigints (Avro longs) in envelope fields by numbers: timestamps and positions fit. */
export function envelopeToWire(value: unknown): WireValue {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(envelopeToWire);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, WireValue> = {};
    for (const [k, v] of Object.entries(value)) out[k] = envelopeToWire(v);
    return out;
  }
  return value as WireValue;
}
