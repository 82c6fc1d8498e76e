/**
 * Decodes binlog events from their bytes, the same way for a live replication stream and for a
 * binlog file. It keeps the state events depend on: the format description (checksums, header
 * lengths) and the table maps that rows events refer to. Values are decoded to the exact forms of
 * src/core/values.ts (contract 2). Bad bytes raise BinlogFormatError naming the offset.
 */
import { crc32 } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { ConfigError, type Row, shortestFloat32, type Value } from '../../core/index.ts';
import { BinlogFormatError } from './binlog-format-error.ts';
import { ByteReader } from './byte-reader.ts';
import { BINARY_COLLATION, decodeText } from './charsets.ts';
import { type BinlogColumn, MysqlType } from './column-types.ts';
import { decimalSize, decodeDecimal } from './decimal.ts';
import {
  type BinlogEvent,
  type EventHeader,
  EventType,
  type JsonDiff,
  type RowChange,
  type RowsOperation,
  type TableMap,
} from './events.ts';
import { decodeMysqlJson } from './mysql-json.ts';
import { readTaggedGtidFields } from './serialization.ts';
import {
  decodeDate,
  decodeDatetime2,
  decodeDatetimeOld,
  decodeTime2,
  decodeTimeOld,
  decodeTimestamp2,
  fracBytes,
  timestampText,
} from './temporal.ts';

export const HEADER_SIZE = 19;
export { BinlogFormatError };

export function readHeader(buf: Buffer, position: number): EventHeader {
  return {
    timestamp: buf.readUInt32LE(0),
    type: buf[4]!,
    serverId: buf.readUInt32LE(5),
    size: buf.readUInt32LE(9),
    nextPosition: buf.readUInt32LE(13),
    flags: buf.readUInt16LE(17),
    position,
  };
}

/** Versions that write a checksum-algorithm byte in their format description: MySQL ≥ 5.6.1, all MariaDB. */
function hasChecksumAlgorithm(version: string): boolean {
  if (/mariadb/i.test(version)) return true;
  const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/).map((p) => Number.parseInt(p, 10));
  return major > 5 || (major === 5 && (minor > 6 || (minor === 6 && patch >= 1)));
}

/**
 * The columns that have a bit in the table map's signedness metadata. YEAR and the old DECIMAL
 * have one too (MySQL's has_signedess_information_type; MariaDB sets YEAR's): leaving YEAR out
 * read every numeric column after a YEAR column with its neighbour's sign, so an INT UNSIGNED of
 * 4,000,000,000 came out negative and an INT of -5 as 4,294,967,291.
 */
const NUMERIC_TYPES = new Set<number>([
  MysqlType.DECIMAL,
  MysqlType.YEAR,
  MysqlType.TINY,
  MysqlType.SHORT,
  MysqlType.INT24,
  MysqlType.LONG,
  MysqlType.LONGLONG,
  MysqlType.NEWDECIMAL,
  MysqlType.FLOAT,
  MysqlType.DOUBLE,
]);
const CHARACTER_TYPES = new Set<number>([
  MysqlType.STRING,
  MysqlType.VAR_STRING,
  MysqlType.VARCHAR,
  MysqlType.BLOB,
]);

interface RawColumn {
  type: number;
  meta: number;
  meta2: number;
  nullable: boolean;
}

/** Reads the per-type metadata of the table map (sql/log_event.cc, Table_map_log_event::save_field_metadata). */
function readColumnMeta(r: ByteReader, type: number): [type: number, meta: number, meta2: number] {
  switch (type) {
    case MysqlType.FLOAT:
    case MysqlType.DOUBLE:
    case MysqlType.BLOB:
    case MysqlType.GEOMETRY:
    case MysqlType.JSON:
    case MysqlType.VECTOR:
    case MysqlType.TIMESTAMP2:
    case MysqlType.DATETIME2:
    case MysqlType.TIME2:
      return [type, r.u8(), 0];
    case MysqlType.VARCHAR:
    case MysqlType.VAR_STRING:
      return [type, r.u16(), 0];
    case MysqlType.BIT: {
      const bits = r.u8();
      const bytes = r.u8();
      return [type, bytes * 8 + bits, 0];
    }
    case MysqlType.NEWDECIMAL: {
      const precision = r.u8();
      const scale = r.u8();
      return [type, precision, scale];
    }
    case MysqlType.STRING:
    case MysqlType.ENUM:
    case MysqlType.SET: {
      // Two bytes, big-endian: the real type, and the length; CHAR over 255 bytes borrows two
      // bits of the type byte (Field_string::save_field_metadata).
      const b0 = r.u8();
      const b1 = r.u8();
      let realType = b0;
      let length = b1;
      if ((realType & 0x30) !== 0x30) {
        length = b1 | (((realType & 0x30) ^ 0x30) << 4);
        realType |= 0x30;
      }
      if (realType === MysqlType.ENUM || realType === MysqlType.SET) return [realType, b1, 0];
      return [MysqlType.STRING, length, 0];
    }
    default:
      return [type, 0, 0];
  }
}

/** The optional metadata (binlog_row_metadata), TLV: type, length, value. */
interface OptionalMeta {
  unsigned?: boolean[];
  defaultCharset?: { collation: number; overrides: Map<number, number> };
  columnCharsets?: number[];
  names?: string[];
  setLabels?: string[][];
  enumLabels?: string[][];
  primaryKey?: number[];
  enumSetDefaultCharset?: { collation: number; overrides: Map<number, number> };
  enumSetColumnCharsets?: number[];
}

function readBitmapMsbFirst(bytes: Buffer, count: number): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < count; i++) out.push(((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0);
  return out;
}

function readOptionalMeta(r: ByteReader, numericCount: number): OptionalMeta {
  const meta: OptionalMeta = {};
  const readDefaultCharset = (v: ByteReader) => {
    const collation = v.lenenc();
    const overrides = new Map<number, number>();
    while (v.remaining > 0) overrides.set(v.lenenc(), v.lenenc());
    return { collation, overrides };
  };
  const readLabels = (v: ByteReader) => {
    const all: string[][] = [];
    while (v.remaining > 0) {
      const n = v.lenenc();
      const labels: string[] = [];
      for (let i = 0; i < n; i++) labels.push(v.lenencString());
      all.push(labels);
    }
    return all;
  };
  while (r.remaining > 0) {
    const type = r.u8();
    const value = new ByteReader(r.lenencBytes());
    switch (type) {
      case 1:
        meta.unsigned = readBitmapMsbFirst(value.buf, numericCount);
        break;
      case 2:
        meta.defaultCharset = readDefaultCharset(value);
        break;
      case 3:
        meta.columnCharsets = [];
        while (value.remaining > 0) meta.columnCharsets.push(value.lenenc());
        break;
      case 4:
        meta.names = [];
        while (value.remaining > 0) meta.names.push(value.lenencString());
        break;
      case 5:
        meta.setLabels = readLabels(value);
        break;
      case 6:
        meta.enumLabels = readLabels(value);
        break;
      case 8:
        meta.primaryKey = [];
        while (value.remaining > 0) meta.primaryKey.push(value.lenenc());
        break;
      case 9:
        meta.primaryKey = [];
        while (value.remaining > 0) {
          meta.primaryKey.push(value.lenenc());
          value.lenenc(); // prefix length: the key is still this column
        }
        break;
      case 10:
        meta.enumSetDefaultCharset = readDefaultCharset(value);
        break;
      case 11:
        meta.enumSetColumnCharsets = [];
        while (value.remaining > 0) meta.enumSetColumnCharsets.push(value.lenenc());
        break;
      default:
        break; // geometry types, column visibility, future additions: not needed to decode values
    }
  }
  return meta;
}

/**
 * `geometryHasCharset`: MariaDB gives a GEOMETRY column an entry in the column charsets (its
 * geometry is a BLOB inside the server) and MySQL does not: without it, every text column after a
 * GEOMETRY column took its neighbour's collation on MariaDB, the first of them GEOMETRY's binary.
 */
function buildColumns(raw: RawColumn[], meta: OptionalMeta, geometryHasCharset: boolean): BinlogColumn[] {
  let numeric = 0;
  let character = 0;
  let enumSet = 0;
  let enums = 0;
  let sets = 0;
  return raw.map((c, index) => {
    let unsigned = false;
    let collation: number | undefined;
    let labels: string[] | undefined;
    if (NUMERIC_TYPES.has(c.type)) unsigned = meta.unsigned?.[numeric++] ?? false;
    if (geometryHasCharset && c.type === MysqlType.GEOMETRY) character++;
    else if (CHARACTER_TYPES.has(c.type)) {
      const i = character++;
      collation =
        meta.columnCharsets?.[i] ?? meta.defaultCharset?.overrides.get(i) ?? meta.defaultCharset?.collation;
    } else if (c.type === MysqlType.ENUM || c.type === MysqlType.SET) {
      const i = enumSet++;
      collation =
        meta.enumSetColumnCharsets?.[i] ??
        meta.enumSetDefaultCharset?.overrides.get(i) ??
        meta.enumSetDefaultCharset?.collation;
      labels = c.type === MysqlType.ENUM ? meta.enumLabels?.[enums++] : meta.setLabels?.[sets++];
    }
    return {
      index,
      name: meta.names?.[index] ?? `@${index + 1}`,
      type: c.type,
      meta: c.meta,
      meta2: c.meta2,
      nullable: c.nullable,
      unsigned,
      collation,
      labels,
    };
  });
}

function intValue(col: BinlogColumn, r: ByteReader, bytes: number): number {
  const v = r.buf.readUIntLE(r.pos, bytes);
  r.pos += bytes;
  if (col.unsigned) return v;
  const bits = 2 ** (bytes * 8);
  return v >= bits / 2 ? v - bits : v;
}

/** Reads a length prefix of `n` bytes (1–4), little-endian. */
function lengthPrefix(r: ByteReader, n: number): number {
  return r.uintLE(n);
}

/** One column value of a rows event, in the exact in-memory form of its kind. */
function readValue(col: BinlogColumn, r: ByteReader): Value {
  switch (col.type) {
    case MysqlType.TINY:
      return intValue(col, r, 1);
    case MysqlType.SHORT:
      return intValue(col, r, 2);
    case MysqlType.INT24:
      return intValue(col, r, 3);
    case MysqlType.LONG:
      return intValue(col, r, 4);
    case MysqlType.LONGLONG: {
      const v = col.unsigned ? r.buf.readBigUInt64LE(r.pos) : r.buf.readBigInt64LE(r.pos);
      r.pos += 8;
      return v;
    }
    case MysqlType.FLOAT: {
      const v = r.buf.readFloatLE(r.pos);
      r.pos += 4;
      return shortestFloat32(v);
    }
    case MysqlType.DOUBLE: {
      const v = r.buf.readDoubleLE(r.pos);
      r.pos += 8;
      return v;
    }
    case MysqlType.NEWDECIMAL: {
      const size = decimalSize(col.meta, col.meta2);
      return decodeDecimal(r.bytes(size), col.meta, col.meta2);
    }
    case MysqlType.YEAR: {
      const y = r.u8();
      return y === 0 ? 0 : 1900 + y;
    }
    case MysqlType.DATE:
    case MysqlType.NEWDATE:
      return decodeDate(r.u24());
    case MysqlType.TIME:
      return decodeTimeOld(r.u24());
    case MysqlType.TIME2: {
      const v = decodeTime2(r.buf, r.pos, col.meta);
      r.pos += 3 + fracBytes(col.meta);
      return v;
    }
    case MysqlType.DATETIME:
      return decodeDatetimeOld(r.u64());
    case MysqlType.DATETIME2: {
      const v = decodeDatetime2(r.buf, r.pos, col.meta);
      r.pos += 5 + fracBytes(col.meta);
      return v;
    }
    case MysqlType.TIMESTAMP:
      return timestampText(r.u32(), 0, 0);
    case MysqlType.TIMESTAMP2: {
      const v = decodeTimestamp2(r.buf, r.pos, col.meta);
      r.pos += 4 + fracBytes(col.meta);
      return v;
    }
    case MysqlType.BIT: {
      const bytes = Math.floor((col.meta + 7) / 8);
      const b = r.bytes(bytes);
      return bytes === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
    }
    case MysqlType.ENUM: {
      const index = r.uintLE(col.meta);
      if (index === 0) return ''; // the error value MySQL stores for an invalid ENUM
      return col.labels?.[index - 1] ?? String(index);
    }
    case MysqlType.SET: {
      const bits = BigInt(r.uintLE(col.meta));
      if (!col.labels) return bits.toString();
      return col.labels.filter((_, i) => (bits >> BigInt(i)) & 1n).join(',');
    }
    case MysqlType.VARCHAR:
    case MysqlType.VAR_STRING: {
      const bytes = r.bytes(lengthPrefix(r, col.meta > 255 ? 2 : 1));
      return col.collation === BINARY_COLLATION ? Buffer.from(bytes) : decodeText(bytes, col.collation);
    }
    case MysqlType.STRING: {
      const bytes = r.bytes(lengthPrefix(r, col.meta > 255 ? 2 : 1));
      if (col.collation === BINARY_COLLATION) {
        // BINARY(n): the binlog strips trailing zero bytes; the column holds all n of them.
        const out = Buffer.alloc(Math.max(col.meta, bytes.length));
        bytes.copy(out);
        return out;
      }
      return decodeText(bytes, col.collation);
    }
    case MysqlType.BLOB:
    case MysqlType.TINY_BLOB:
    case MysqlType.MEDIUM_BLOB:
    case MysqlType.LONG_BLOB: {
      const bytes = r.bytes(lengthPrefix(r, col.meta || 4));
      // TEXT columns have a character collation; BLOBs are binary (or, without metadata, unknown: bytes).
      return col.collation === undefined || col.collation === BINARY_COLLATION
        ? Buffer.from(bytes)
        : decodeText(bytes, col.collation);
    }
    case MysqlType.GEOMETRY:
      return Buffer.from(r.bytes(lengthPrefix(r, col.meta || 4)));
    case MysqlType.JSON:
      return decodeMysqlJson(r.bytes(lengthPrefix(r, col.meta || 4)));
    case MysqlType.VECTOR: {
      const bytes = r.bytes(lengthPrefix(r, col.meta || 4));
      const values: number[] = [];
      for (let i = 0; i + 4 <= bytes.length; i += 4) values.push(shortestFloat32(bytes.readFloatLE(i)));
      return `[${values.join(',')}]`;
    }
    default:
      throw new RangeError(`column ${col.name} has field type ${col.type}, which tabletime cannot decode`);
  }
}

/**
 * Moves past one column value without decoding it: the same bytes readValue takes (the lengths come
 * from the column's metadata or its length prefix). Used for the parts of an update's before image
 * nobody reads (RowChange.fullBefore).
 */
function skipValue(col: BinlogColumn, r: ByteReader): void {
  switch (col.type) {
    case MysqlType.TINY:
    case MysqlType.YEAR:
      return r.skip(1);
    case MysqlType.SHORT:
      return r.skip(2);
    case MysqlType.INT24:
    case MysqlType.DATE:
    case MysqlType.NEWDATE:
    case MysqlType.TIME:
      return r.skip(3);
    case MysqlType.LONG:
    case MysqlType.FLOAT:
    case MysqlType.TIMESTAMP:
      return r.skip(4);
    case MysqlType.LONGLONG:
    case MysqlType.DOUBLE:
    case MysqlType.DATETIME:
      return r.skip(8);
    case MysqlType.NEWDECIMAL:
      return r.skip(decimalSize(col.meta, col.meta2));
    case MysqlType.TIME2:
      return r.skip(3 + fracBytes(col.meta));
    case MysqlType.DATETIME2:
      return r.skip(5 + fracBytes(col.meta));
    case MysqlType.TIMESTAMP2:
      return r.skip(4 + fracBytes(col.meta));
    case MysqlType.BIT:
      return r.skip(Math.floor((col.meta + 7) / 8));
    case MysqlType.ENUM:
    case MysqlType.SET:
      return r.skip(col.meta);
    case MysqlType.VARCHAR:
    case MysqlType.VAR_STRING:
    case MysqlType.STRING:
      return r.skip(lengthPrefix(r, col.meta > 255 ? 2 : 1));
    case MysqlType.BLOB:
    case MysqlType.TINY_BLOB:
    case MysqlType.MEDIUM_BLOB:
    case MysqlType.LONG_BLOB:
    case MysqlType.GEOMETRY:
    case MysqlType.JSON:
    case MysqlType.VECTOR:
      return r.skip(lengthPrefix(r, col.meta || 4));
    default:
      // What readValue cannot decode it cannot measure either: decoded, it throws the same error.
      readValue(col, r);
  }
}

function readPresentBitmap(r: ByteReader, count: number): boolean[] {
  const bytes = r.bytes(Math.floor((count + 7) / 8));
  const out: boolean[] = [];
  for (let i = 0; i < count; i++) out.push(((bytes[i >> 3] ?? 0) & (1 << (i & 7))) !== 0);
  return out;
}

function readRowImage(
  r: ByteReader,
  columns: readonly BinlogColumn[],
  present: readonly boolean[],
  only?: ReadonlySet<number>,
): Row {
  let presentCount = 0;
  for (let i = 0; i < present.length; i++) if (present[i]) presentCount++;
  // The null bitmap, one bit per present column, read in place (no array per row).
  const nulls = r.pos;
  r.skip((presentCount + 7) >> 3);
  const buf = r.buf;
  const row: Row = {};
  let n = 0;
  for (let i = 0; i < columns.length; i++) {
    if (!present[i]) continue; // MINIMAL images leave columns out: absent, not NULL
    const col = columns[i]!;
    const isNull = (buf[nulls + (n >> 3)]! & (1 << (n & 7))) !== 0;
    n++;
    if (isNull) {
      if (!only || only.has(i)) row[col.name] = null;
    } else if (!only || only.has(i)) row[col.name] = readValue(col, r);
    else skipValue(col, r);
  }
  return row;
}

/** The key's column indices, when every one of them is in the image (else null: decode it whole). */
function keyColumns(primaryKey: readonly number[], present: readonly boolean[]): ReadonlySet<number> | null {
  return primaryKey.every((i) => present[i]) ? new Set(primaryKey) : null;
}

/**
 * An update's before image with only the key columns decoded (the rest skipped), and the whole
 * image decoded again from its bytes when asked: capture needs the whole before image only when
 * the key changed or before images are kept, and decoding it was about a tenth of capture's CPU.
 */
function readKeyBeforeImage(
  r: ByteReader,
  columns: readonly BinlogColumn[],
  present: readonly boolean[],
  keys: ReadonlySet<number>,
): { before: Row; fullBefore: () => Row } {
  const start = r.pos;
  const before = readRowImage(r, columns, present, keys);
  const end = r.pos;
  const { buf, base } = r;
  return {
    before,
    fullBefore: () => {
      const again = new ByteReader(buf, start, base);
      const row = readRowImage(again, columns, present);
      if (again.pos !== end)
        throw new BinlogFormatError(
          `a before image decoded to offset ${base + again.pos}, skipped to ${base + end}`,
          base + start,
        );
      return row;
    },
  };
}

const DIFF_OPERATIONS = ['REPLACE', 'INSERT', 'REMOVE'] as const;

/**
 * The after image of a PARTIAL_UPDATE_ROWS event (MySQL sql/rpl_record.cc): value options (bit 1:
 * partial JSON), then one bit per JSON column of the image saying whether it holds diffs, then the
 * usual null bitmap and values; a partial JSON value is a list of (operation, path, value) diffs.
 */
function readPartialAfterImage(
  r: ByteReader,
  columns: readonly BinlogColumn[],
  present: readonly boolean[],
): { row: Row; jsonDiffs: Record<string, JsonDiff[]> } {
  const options = r.lenenc();
  const jsonColumns = columns.filter((c, i) => present[i] && c.type === MysqlType.JSON);
  const partialBits = options & 1 ? readPresentBitmap(r, jsonColumns.length) : jsonColumns.map(() => false);
  const partialColumns = new Set(jsonColumns.filter((_, i) => partialBits[i]).map((c) => c.index));
  const presentCount = present.filter(Boolean).length;
  const nulls = readPresentBitmap(r, presentCount);
  const row: Row = {};
  const jsonDiffs: Record<string, JsonDiff[]> = {};
  let n = 0;
  for (let i = 0; i < columns.length; i++) {
    if (!present[i]) continue;
    const col = columns[i]!;
    if (nulls[n++]) {
      row[col.name] = null;
    } else if (partialColumns.has(i)) {
      const diffs = new ByteReader(r.bytes(lengthPrefix(r, col.meta || 4)), 0, r.base + r.pos);
      const list: JsonDiff[] = [];
      while (diffs.remaining > 0) {
        const operation = DIFF_OPERATIONS[diffs.u8()];
        if (!operation) throw new RangeError('unknown JSON diff operation');
        const path = diffs.lenencBytes().toString('utf8');
        const value = operation === 'REMOVE' ? null : decodeMysqlJson(diffs.lenencBytes());
        list.push({ operation, path, value });
      }
      jsonDiffs[col.name] = list;
    } else {
      row[col.name] = readValue(col, r);
    }
  }
  return { row, jsonDiffs };
}

export interface BinlogDecoderOptions {
  /** Whether events carry a CRC32 before a format description says so (a live stream that asked for them). */
  readonly checksum?: boolean;
  /** Verify CRC32 checksums (default true). */
  readonly verifyChecksums?: boolean;
  /**
   * Decode only the key columns of an update's before image, the rest on demand
   * (RowChange.fullBefore); default false, every image whole.
   */
  readonly keyOnlyBeforeImages?: boolean;
}

export class BinlogDecoder {
  #checksum: boolean;
  readonly #verify: boolean;
  readonly #keyOnlyBefore: boolean;
  #postHeaderLengths: Buffer = Buffer.alloc(0);
  /** The format description named a MariaDB server (its table maps differ in one detail). */
  #mariadb = false;
  readonly #tables = new Map<number, TableMap>();

  constructor(options: BinlogDecoderOptions = {}) {
    this.#checksum = options.checksum ?? false;
    this.#verify = options.verifyChecksums ?? true;
    this.#keyOnlyBefore = options.keyOnlyBeforeImages ?? false;
  }

  /** Forgets table maps (a new connection or file: table ids are only valid within one). */
  reset(): void {
    this.#tables.clear();
  }

  /**
   * Decodes one whole event (header included). `position` is where it starts in its binlog file;
   * `offset` is where its bytes were found (for errors; the same as position for files).
   */
  decode(buf: Buffer, position: number, offset = position): BinlogEvent {
    if (buf.length < HEADER_SIZE)
      throw new BinlogFormatError(`event of ${buf.length} bytes is shorter than its header`, offset);
    const header = readHeader(buf, position);
    if (header.size !== buf.length) {
      throw new BinlogFormatError(
        `event says it has ${header.size} bytes but ${buf.length} were given`,
        offset,
      );
    }
    if (header.type === EventType.FORMAT_DESCRIPTION) return this.#format(buf, header, offset);
    let end = buf.length;
    if (this.#checksum) {
      end -= 4;
      if (this.#verify && header.type !== EventType.ROTATE) this.#verifyCrc(buf, offset);
    }
    const body = new ByteReader(buf.subarray(0, end), HEADER_SIZE, offset);
    try {
      return this.#body(header, body, offset);
    } catch (err) {
      if (err instanceof BinlogFormatError || err instanceof ConfigError) throw err;
      throw new BinlogFormatError(
        `event type ${header.type} is malformed: ${(err as Error).message}`,
        offset,
        { cause: err },
      );
    }
  }

  #verifyCrc(buf: Buffer, offset: number): void {
    const expected = buf.readUInt32LE(buf.length - 4);
    const actual = crc32(buf.subarray(0, buf.length - 4));
    if (expected !== actual) {
      throw new BinlogFormatError(
        `checksum mismatch in event type ${buf[4]}: stored 0x${expected.toString(16)}, computed 0x${actual.toString(16)}`,
        offset,
      );
    }
  }

  #format(buf: Buffer, header: EventHeader, offset: number): BinlogEvent {
    const r = new ByteReader(buf, HEADER_SIZE, offset);
    r.u16(); // binlog version
    const serverVersion = r.bytes(50).toString('latin1').replace(/\0.*$/s, '');
    r.u32(); // create timestamp
    const headerLength = r.u8();
    if (headerLength !== HEADER_SIZE)
      throw new BinlogFormatError(`event header length ${headerLength} is not 19`, offset);
    let end = buf.length;
    let checksum = false;
    if (hasChecksumAlgorithm(serverVersion)) {
      const algorithm = buf[buf.length - 5]!;
      checksum = algorithm === 1;
      end -= 5;
      if (checksum && this.#verify) {
        // The server sets LOG_EVENT_BINLOG_IN_USE_F on the format event of an open binlog after
        // computing its checksum, and clears it on close: check the bytes as they were summed.
        const copy = Buffer.from(buf);
        copy.writeUInt16LE(header.flags & ~1, 17);
        this.#verifyCrc(copy, offset);
      }
    }
    this.#postHeaderLengths = Buffer.from(buf.subarray(r.pos, end));
    this.#checksum = checksum;
    this.#mariadb = /mariadb/i.test(serverVersion);
    this.#tables.clear();
    return { kind: 'format', header, serverVersion, checksum };
  }

  #postHeaderLength(type: number, fallback: number): number {
    return this.#postHeaderLengths[type - 1] ?? fallback;
  }

  #body(header: EventHeader, r: ByteReader, offset: number): BinlogEvent {
    switch (header.type) {
      case EventType.ROTATE: {
        const nextPosition = Number(r.u64());
        return { kind: 'rotate', header, nextFile: r.buf.subarray(r.pos).toString('utf8'), nextPosition };
      }
      case EventType.QUERY: {
        r.u32(); // thread id
        r.u32(); // execution time
        const dbLength = r.u8();
        r.u16(); // error code
        const statusLength = this.#postHeaderLength(EventType.QUERY, 13) >= 13 ? r.u16() : 0;
        r.skip(statusLength);
        const database = r.bytes(dbLength).toString('utf8');
        r.u8(); // NUL
        return { kind: 'query', header, database, sql: r.buf.subarray(r.pos).toString('utf8') };
      }
      case EventType.XID:
        return { kind: 'xid', header, xid: r.u64() };
      case EventType.TABLE_MAP:
        return { kind: 'table-map', header, map: this.#tableMap(r) };
      case EventType.WRITE_ROWS_V1:
      case EventType.WRITE_ROWS_V2:
        return this.#rows(header, r, 'insert', header.type === EventType.WRITE_ROWS_V2);
      case EventType.UPDATE_ROWS_V1:
      case EventType.UPDATE_ROWS_V2:
        return this.#rows(header, r, 'update', header.type === EventType.UPDATE_ROWS_V2);
      case EventType.DELETE_ROWS_V1:
      case EventType.DELETE_ROWS_V2:
        return this.#rows(header, r, 'delete', header.type === EventType.DELETE_ROWS_V2);
      case EventType.MARIADB_GTID: {
        const seq = r.u64();
        const domain = r.u32();
        const flags = r.u8();
        return {
          kind: 'gtid',
          header,
          gtid: `${domain}-${header.serverId}-${seq}`,
          commitTimestampUs: null,
          standalone: (flags & 1) !== 0,
        };
      }
      case EventType.GTID:
      case EventType.ANONYMOUS_GTID:
        return this.#mysqlGtid(header, r);
      case EventType.GTID_TAGGED:
        return this.#taggedGtid(header, r, offset);
      case EventType.TRANSACTION_PAYLOAD:
        return this.#payload(header, r, offset);
      case EventType.HEARTBEAT:
      case EventType.HEARTBEAT_V2:
        return {
          kind: 'heartbeat',
          header,
          logFile: header.type === EventType.HEARTBEAT ? r.buf.subarray(r.pos).toString('utf8') : '',
        };
      case EventType.MARIADB_ANNOTATE_ROWS:
        return { kind: 'annotate', header, sql: r.buf.subarray(r.pos).toString('utf8') };
      case EventType.STOP:
        return { kind: 'stop', header };
      case EventType.PARTIAL_UPDATE_ROWS:
        return this.#rows(header, r, 'update', true, true);
      default:
        if (
          header.type >= EventType.MARIADB_QUERY_COMPRESSED &&
          header.type <= EventType.MARIADB_DELETE_ROWS_COMPRESSED
        ) {
          throw new ConfigError(
            'LOG_BIN_COMPRESS',
            'the binlog holds compressed events (MariaDB log_bin_compress=ON), which tabletime does not read: SET GLOBAL log_bin_compress=OFF',
          );
        }
        return { kind: 'ignored', header };
    }
  }

  #tableMap(r: ByteReader): TableMap {
    const tableId = r.uintLE(this.#postHeaderLength(EventType.TABLE_MAP, 8) === 6 ? 4 : 6);
    r.u16(); // flags
    const database = r.bytes(r.u8()).toString('utf8');
    r.u8();
    const table = r.bytes(r.u8()).toString('utf8');
    r.u8();
    const count = r.lenenc();
    const types = [...r.bytes(count)];
    const metaBlock = new ByteReader(r.lenencBytes(), 0, r.base + r.pos);
    const raw: RawColumn[] = types.map((t) => {
      const [type, meta, meta2] = readColumnMeta(metaBlock, t);
      return { type, meta, meta2, nullable: false };
    });
    const nullable = readPresentBitmap(r, count);
    raw.forEach((c, i) => (c.nullable = nullable[i]!));
    const numericCount = raw.filter((c) => NUMERIC_TYPES.has(c.type)).length;
    const optional = readOptionalMeta(r, numericCount);
    const map: TableMap = {
      tableId,
      database,
      table,
      columns: buildColumns(raw, optional, this.#mariadb),
      primaryKey: optional.primaryKey ?? null,
      hasNames: optional.names !== undefined,
    };
    this.#tables.set(tableId, map);
    return map;
  }

  #rows(
    header: EventHeader,
    r: ByteReader,
    operation: RowsOperation,
    v2: boolean,
    partial = false,
  ): BinlogEvent {
    const tableId = r.uintLE(this.#postHeaderLength(header.type, 8) === 6 ? 4 : 6);
    const flags = r.u16();
    if (v2) r.skip(r.u16() - 2); // extra data; its length counts itself
    const count = r.lenenc();
    const map = this.#tables.get(tableId);
    if (!map) throw new BinlogFormatError(`rows event for table id ${tableId} without its table map`, r.base);
    if (count !== map.columns.length) {
      throw new BinlogFormatError(
        `rows event has ${count} columns, its table map ${map.columns.length}`,
        r.base,
      );
    }
    const present = readPresentBitmap(r, count);
    const presentAfter = operation === 'update' ? readPresentBitmap(r, count) : present;
    const rows: RowChange[] = [];
    // Key-only before images need the key from the table map (binlog_row_metadata=FULL) and every
    // key column in the image; otherwise the whole image is decoded.
    const keys =
      this.#keyOnlyBefore && operation === 'update' && !partial && map.primaryKey
        ? keyColumns(map.primaryKey, present)
        : null;
    while (r.remaining > 0) {
      if (operation === 'insert') rows.push({ before: null, after: readRowImage(r, map.columns, present) });
      else if (operation === 'delete')
        rows.push({ before: readRowImage(r, map.columns, present), after: null });
      else if (partial) {
        const before = readRowImage(r, map.columns, present);
        const { row, jsonDiffs } = readPartialAfterImage(r, map.columns, presentAfter);
        rows.push({ before, after: row, jsonDiffs });
      } else if (keys) {
        const { before, fullBefore } = readKeyBeforeImage(r, map.columns, present, keys);
        rows.push({ before, after: readRowImage(r, map.columns, presentAfter), fullBefore });
      } else {
        const before = readRowImage(r, map.columns, present);
        rows.push({ before, after: readRowImage(r, map.columns, presentAfter) });
      }
    }
    return {
      kind: 'rows',
      header,
      operation,
      map,
      rows,
      statementEnd: (flags & 1) !== 0,
      partialJson: partial,
    };
  }

  #mysqlGtid(header: EventHeader, r: ByteReader): BinlogEvent {
    r.u8(); // flags
    const sid = r.bytes(16).toString('hex');
    const gno = r.buf.readBigInt64LE(r.pos);
    r.pos += 8;
    let commitTimestampUs: number | null = null;
    if (r.remaining >= 17) {
      r.skip(17); // logical clock: type, last_committed, sequence_number
      if (r.remaining >= 7) {
        let immediate = r.uintLE(6) + r.u8() * 2 ** 48;
        let original = immediate;
        if (immediate >= 2 ** 55) {
          immediate -= 2 ** 55;
          original = r.uintLE(6) + r.u8() * 2 ** 48;
        }
        commitTimestampUs = original;
      }
    }
    const uuid = `${sid.slice(0, 8)}-${sid.slice(8, 12)}-${sid.slice(12, 16)}-${sid.slice(16, 20)}-${sid.slice(20)}`;
    return {
      kind: 'gtid',
      header,
      gtid: header.type === EventType.ANONYMOUS_GTID ? null : `${uuid}:${gno}`,
      commitTimestampUs,
      standalone: false,
    };
  }

  /** MySQL 8.4 tagged GTID: mysql::serialization format (see serialization.ts). */
  #taggedGtid(header: EventHeader, r: ByteReader, offset: number): BinlogEvent {
    const fields = readTaggedGtidFields(r, offset);
    return {
      kind: 'gtid',
      header,
      gtid: fields.gtid,
      commitTimestampUs: fields.commitTimestampUs,
      standalone: false,
    };
  }

  #payload(header: EventHeader, r: ByteReader, offset: number): BinlogEvent {
    // Header fields: type, length, value (each a net_field_length), until type 0; then the payload.
    let compression = 0;
    for (;;) {
      const type = r.lenenc();
      if (type === 0) break;
      const length = r.lenenc();
      const value = new ByteReader(r.bytes(length));
      if (type === 2) compression = value.lenenc();
    }
    const data = r.buf.subarray(r.pos);
    let inner: Buffer;
    if (compression === 0) inner = Buffer.from(zstdDecompress(data));
    else if (compression === 255) inner = Buffer.from(data);
    else
      throw new BinlogFormatError(`transaction payload compressed with unknown type ${compression}`, offset);
    // The events inside carry no checksums of their own.
    const saved = this.#checksum;
    this.#checksum = false;
    const events: BinlogEvent[] = [];
    try {
      let pos = 0;
      while (pos < inner.length) {
        if (inner.length - pos < HEADER_SIZE)
          throw new BinlogFormatError('transaction payload ends inside an event header', offset);
        const size = inner.readUInt32LE(pos + 9);
        if (size < HEADER_SIZE || pos + size > inner.length)
          throw new BinlogFormatError('transaction payload event is cut short', offset);
        events.push(this.decode(inner.subarray(pos, pos + size), header.position, offset));
        pos += size;
      }
    } finally {
      this.#checksum = saved;
    }
    return { kind: 'payload', header, events };
  }
}
