/**
 * How each column kind is written to, and read back from, a change-file line (the table in
 * docs/change-file-format.md). Everything that a JS number cannot hold exactly (BIGINT, BIT,
 * DECIMAL) is written as a JSON string of digits; bytes are lower-case hex, as in Datastream's
 * Avro files. Reading accepts what real Datastream JSON has too (numbers for those kinds).
 */
import { LosslessNumber, stringify as losslessStringify } from 'lossless-json';
import {
  bytesToHex,
  type ColumnSchema,
  InputError,
  normalizeDecimal,
  shortestFloat32,
  type Value,
} from '../core/index.ts';

/** A JSON value as parsed from a line; big numbers arrive as LosslessNumber (see line-parser.ts). */
export type WireValue =
  null | boolean | number | string | LosslessNumber | WireValue[] | { [k: string]: WireValue };

function bad(column: ColumnSchema, wire: unknown, expected: string): InputError {
  const shown = typeof wire === 'string' && wire.length > 60 ? `${wire.slice(0, 60)}…` : String(wire);
  return new InputError(
    'VALUE_TYPE',
    `column ${column.name} (${column.sqlType}) expects ${expected}, got ${typeof wire} ${shown}`,
  );
}

function hexToBytes(hex: string, column: ColumnSchema): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw bad(column, hex, 'hex-encoded bytes');
  return Buffer.from(hex, 'hex');
}

function integerText(wire: WireValue, column: ColumnSchema): string {
  if (typeof wire === 'number' && Number.isInteger(wire)) return String(wire);
  if (wire instanceof LosslessNumber && /^-?\d+$/.test(wire.value)) return wire.value;
  if (typeof wire === 'string' && /^-?\d+$/.test(wire)) return wire;
  if (typeof wire === 'boolean') return wire ? '1' : '0';
  throw bad(column, wire, 'an integer');
}

/** Nested JSON back to text, big numbers with all their digits (as numbers, not strings). */
function jsonText(wire: WireValue): string {
  return losslessStringify(wire) ?? 'null';
}

/** Reads one payload value as written for `column`. Throws InputError when it does not fit. */
export function decodeValue(wire: WireValue | undefined, column: ColumnSchema): Value {
  if (wire === null || wire === undefined) return null;
  switch (column.kind) {
    case 'int':
    case 'year': {
      const n = Number(integerText(wire, column));
      if (!Number.isSafeInteger(n)) throw bad(column, wire, 'an integer of at most 53 bits');
      return n;
    }
    case 'bigint':
    case 'bit':
      return BigInt(integerText(wire, column));
    case 'float':
    case 'double': {
      const n =
        typeof wire === 'number'
          ? wire
          : wire instanceof LosslessNumber || (typeof wire === 'string' && wire.trim() !== '')
            ? Number(typeof wire === 'string' ? wire : wire.value)
            : Number.NaN;
      if (!Number.isFinite(n)) throw bad(column, wire, 'a finite number');
      return column.kind === 'float' ? shortestFloat32(n) : n;
    }
    case 'decimal': {
      const text =
        typeof wire === 'string'
          ? wire
          : wire instanceof LosslessNumber
            ? wire.value
            : typeof wire === 'number'
              ? String(wire)
              : null;
      if (text === null) throw bad(column, wire, 'decimal digits');
      try {
        return normalizeDecimal(text, column.scale);
      } catch {
        throw bad(column, wire, `a decimal with at most ${column.scale ?? 0} fraction digits`);
      }
    }
    case 'binary':
      if (typeof wire !== 'string') throw bad(column, wire, 'hex-encoded bytes');
      return hexToBytes(wire, column);
    case 'json':
      // Datastream's JSON files may carry a JSON column as a nested value rather than text.
      if (typeof wire === 'string') return wire;
      return jsonText(wire);
    case 'date':
    case 'datetime':
    case 'timestamp':
    case 'time':
    case 'enum':
    case 'set':
    case 'string':
      if (typeof wire !== 'string') throw bad(column, wire, 'a string');
      return wire;
  }
}

/** Turns one in-memory value into what the line holds for `column` (JSON.stringify-ready). */
export function encodeValue(value: Value | undefined, column: ColumnSchema): null | number | string {
  if (value === null || value === undefined) return null;
  switch (column.kind) {
    case 'int':
    case 'year':
    case 'double':
      if (typeof value === 'number') return value;
      if (typeof value === 'bigint') return Number(value);
      break;
    case 'float':
      if (typeof value === 'number') return shortestFloat32(value);
      break;
    case 'bigint':
    case 'bit':
      if (typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value)))
        return String(value);
      break;
    case 'decimal':
      if (typeof value === 'string') return value;
      break;
    case 'binary':
      if (value instanceof Uint8Array) return bytesToHex(value);
      break;
    case 'date':
    case 'datetime':
    case 'timestamp':
    case 'time':
    case 'enum':
    case 'set':
    case 'json':
    case 'string':
      if (typeof value === 'string') return value;
      break;
  }
  // A capture bug, not bad input: the decoder handed over a value of the wrong kind.
  throw new TypeError(`column ${column.name} (${column.kind}) cannot hold a ${typeof value}`);
}

/**
 * Reads a payload value when no schema is known (a Datastream JSON file without our schema
 * registry): numbers stay numbers, integers beyond 2^53 become bigints, other big numbers keep
 * their exact digits as text, nested JSON becomes JSON text.
 */
export function inferValue(wire: WireValue | undefined): Value {
  if (wire === null || wire === undefined) return null;
  if (typeof wire === 'number' || typeof wire === 'string') return wire;
  if (typeof wire === 'boolean') return wire ? 1 : 0;
  if (wire instanceof LosslessNumber) return /^-?\d+$/.test(wire.value) ? BigInt(wire.value) : wire.value;
  return jsonText(wire);
}
