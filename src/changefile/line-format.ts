/**
 * One change-file line <-> one ChangeEvent. The envelope is Datastream's (ARCHITECTURE.md
 * contract 1); our additions live in `source_metadata` (gtid, row_index, commit_timestamp,
 * snapshot_id) and in `payload_before`. The parser also takes every variant real Datastream files
 * show (FACTS.md): string or epoch-ms timestamps, `binlog_file`/`binlog_position`, the three
 * backfill coordinate shapes, missing `sort_keys`.
 */
import { isSafeNumber, LosslessNumber, parse as losslessParse } from 'lossless-json';
import {
  CHANGE_TYPES,
  type ChangeEvent,
  type ChangeType,
  type ColumnSchema,
  InputError,
  isDeleteType,
  isoFromMicros,
  objectName,
  parseUtcMicros,
  type Row,
  type TableSchema,
} from '../core/index.ts';
import { decodeValue, encodeValue, inferValue, type WireValue } from './value-encoding.ts';

/** Datastream's zone-less timestamp text, in UTC with milliseconds: '2021-12-25T05:42:04.408'. */
function datastreamTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23);
}

/** Finds the column types for an event: by its schema key, or by its table (hints). */
export type SchemaLookup = (schemaKey: string, database: string, table: string) => LineContext | undefined;

export interface LineContext {
  /** The columns whose type is known, by name (from the schema registry, an Avro schema or hints). */
  readonly columns: ReadonlyMap<string, ColumnSchema>;
  /** True when `columns` is the table's whole schema: a payload column it lacks is then an error. */
  readonly complete: boolean;
}

/** Writes a row's JSON object (the `payload`) from its values. */
type RowWriter = (row: Row) => string;

const rowWriters = new WeakMap<TableSchema, RowWriter>();

/**
 * The JSON text of `row` as `JSON.stringify` of the object {column: encodeValue(…)} gives it, byte
 * for byte, written straight from the values: no object per row to build, stringify and collect
 * (formatting was the largest cost of capture and of the snapshot). The writer is made once per
 * schema, with the keys in the order such an object would hold them (integer-like names first).
 */
export function rowJson(row: Row, schema: TableSchema): string {
  let write = rowWriters.get(schema);
  if (write === undefined) rowWriters.set(schema, (write = rowWriter(schema)));
  return write(row);
}

function rowWriter(schema: TableSchema): RowWriter {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const names = Object.keys(Object.fromEntries(schema.columns.map((c) => [c.name, null])));
  const columns = names.map((n) => byName.get(n)!);
  const prefixes = names.map((n, i) => `${i === 0 ? '{' : ','}${JSON.stringify(n)}:`);
  if (columns.length === 0) return () => '{}';
  return (row) => {
    let out = '';
    for (let i = 0; i < columns.length; i++) {
      const column = columns[i]!;
      const v = encodeValue(row[column.name], column);
      out += prefixes[i]!;
      out +=
        v === null
          ? 'null'
          : typeof v === 'number'
            ? Number.isFinite(v)
              ? String(v)
              : 'null'
            : JSON.stringify(v);
    }
    return `${out}}`;
  };
}

/**
 * Formats events as change-file lines (without the trailing newline). The rows of one binlog rows
 * event share everything but their row index and values, so the envelope around them is built
 * once per rows event and reused: JSON.stringify of the whole line object for every row was the
 * largest cost of capture. The output is the same JSON as stringifying the line object.
 */
export class ChangeLineFormatter {
  #last: ChangeEvent | null = null;
  #lastSchemaKey = '';
  #head = '';
  #tail = '';

  #sameEnvelope(event: ChangeEvent, schemaKey: string): boolean {
    const last = this.#last;
    if (!last || schemaKey !== this.#lastSchemaKey) return false;
    const a = event.position;
    const b = last.position;
    return (
      event.table === last.table &&
      event.database === last.database &&
      event.changeType === last.changeType &&
      a.snapshot === b.snapshot &&
      a.logFile === b.logFile &&
      a.logPosition === b.logPosition &&
      (a.gtid ?? null) === (b.gtid ?? null) &&
      event.commitTimestampUs === last.commitTimestampUs &&
      event.readTimestampMs === last.readTimestampMs &&
      event.sourceTimestampMs === last.sourceTimestampMs &&
      event.readMethod === last.readMethod &&
      event.streamName === last.streamName &&
      (event.snapshotId ?? null) === (last.snapshotId ?? null) &&
      event.primaryKeys === last.primaryKeys
    );
  }

  format(event: ChangeEvent, schema: TableSchema, schemaKey: string, uuid: string): string {
    if (!this.#sameEnvelope(event, schemaKey)) {
      const snapshot = event.position.snapshot;
      const logFile = snapshot ? '' : event.position.logFile;
      const logPosition = snapshot ? 0 : event.position.logPosition;
      const j = JSON.stringify;
      this.#head =
        `,"read_timestamp":${j(datastreamTime(event.readTimestampMs))}` +
        `,"source_timestamp":${j(datastreamTime(event.sourceTimestampMs))}` +
        `,"object":${j(objectName(event.database, event.table))},"read_method":${j(event.readMethod)}` +
        `,"stream_name":${j(event.streamName)},"schema_key":${j(schemaKey)}` +
        `,"sort_keys":${j([event.sourceTimestampMs, logFile, logPosition])}` +
        `,"source_metadata":{"table":${j(event.table)},"database":${j(event.database)}` +
        `,"primary_keys":${j(event.primaryKeys)},"log_file":${j(logFile)},"log_position":${logPosition}` +
        `,"change_type":${j(event.changeType)},"is_deleted":${isDeleteType(event.changeType)}` +
        `,"gtid":${j(event.position.gtid ?? null)},"row_index":`;
      this.#tail =
        `,"commit_timestamp":${j(event.commitTimestampUs === null ? null : isoFromMicros(event.commitTimestampUs))}` +
        `${snapshot ? `,"snapshot_id":${j(event.snapshotId ?? null)}` : ''}},"payload":`;
      this.#last = event;
      this.#lastSchemaKey = schemaKey;
    }
    const before = event.before ? `,"payload_before":${rowJson(event.before, schema)}` : '';
    return `{"uuid":${JSON.stringify(uuid)}${this.#head}${event.position.rowIndex}${this.#tail}${rowJson(event.payload, schema)}${before}}`;
  }
}

/** Formats one event as a change-file line (without the trailing newline). */
export function formatChangeLine(event: ChangeEvent, schema: TableSchema): string {
  return new ChangeLineFormatter().format(event, schema, event.schemaKey, event.uuid);
}

// A number token of 16 or more digits may not survive JSON.parse; only then pay for the lossless
// parser. (A digit run inside a string can trigger it too: slower, never wrong.)
const LONG_NUMBER = /[:,[]\s*-?\d{16,}/;

function parseNumber(text: string): number | LosslessNumber {
  return isSafeNumber(text) ? Number(text) : new LosslessNumber(text);
}

/** Parses JSON text without losing the digits of large numbers. */
export function parseJsonExact(text: string): WireValue {
  if (!LONG_NUMBER.test(text)) return JSON.parse(text) as WireValue;
  return losslessParse(text, null, parseNumber) as WireValue;
}

/** Parses one change-file line; text that is not JSON is an InputError (a dead letter). */
export function parseJsonLine(text: string): WireValue {
  try {
    return parseJsonExact(text);
  } catch (err) {
    throw new InputError('MALFORMED_JSON', `not valid JSON (${(err as Error).message})`);
  }
}

type WireObject = { [k: string]: WireValue };

function isObject(v: WireValue | undefined): v is WireObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof LosslessNumber);
}

function str(obj: WireObject, key: string, required = true): string {
  const v = obj[key];
  if (typeof v === 'string') return v;
  if (!required && (v === undefined || v === null)) return '';
  throw new InputError(
    'MALFORMED_EVENT',
    `field ${key} must be a string, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`,
  );
}

function num(v: WireValue | undefined): number | null {
  if (typeof v === 'number') return v;
  if (v instanceof LosslessNumber) return Number(v.value);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return null;
}

/** A Datastream timestamp: epoch ms as a number, or zone-less/UTC text. Returns ms. */
function timeMs(v: WireValue | undefined, field: string): number {
  const n = num(v);
  if (n !== null) return n;
  if (typeof v === 'string') {
    try {
      return Math.floor(parseUtcMicros(v) / 1000);
    } catch {
      // fall through to the error below
    }
  }
  throw new InputError('MALFORMED_EVENT', `field ${field} is not a timestamp: ${JSON.stringify(v)}`);
}

function decodeRow(wire: WireValue | undefined, field: string, ctx: LineContext | undefined): Row {
  if (!isObject(wire)) throw new InputError('MALFORMED_EVENT', `field ${field} must be an object`);
  const row: Row = {};
  if (ctx?.complete) {
    for (const [name, column] of ctx.columns) row[name] = decodeValue(wire[name], column);
  }
  for (const [name, value] of Object.entries(wire)) {
    const column = ctx?.columns.get(name);
    if (column) {
      if (!ctx?.complete) row[name] = decodeValue(value, column);
    } else if (ctx?.complete) {
      throw new InputError('UNKNOWN_COLUMN', `${field} has column ${name}, which its schema does not list`);
    } else {
      row[name] = inferValue(value);
    }
  }
  return row;
}

/**
 * Parses one line into a ChangeEvent. `ordinal` stands in for the row index when the line has none
 * (Datastream's files): the reader passes the event's place among lines of the same position.
 * Throws InputError (code MALFORMED_EVENT, VALUE_TYPE, …) for anything that is not a usable event.
 */
export function parseChangeLine(text: string, ordinal: number, schemaFor: SchemaLookup): ChangeEvent {
  const parsed = parseJsonLine(text);
  if (!isObject(parsed)) throw new InputError('MALFORMED_EVENT', 'a change line must be a JSON object');
  return eventFromWire(parsed, ordinal, schemaFor);
}

/** Builds a ChangeEvent from a parsed envelope (JSON lines, or an Avro record turned into wire values). */
export function eventFromWire(obj: WireObject, ordinal: number, schemaFor: SchemaLookup): ChangeEvent {
  const meta = obj.source_metadata;
  if (!isObject(meta)) throw new InputError('MALFORMED_EVENT', 'field source_metadata is missing');
  const readMethod = str(obj, 'read_method');
  const snapshot = readMethod.includes('backfill');
  const rawType = meta.change_type ?? (snapshot ? 'INSERT' : null);
  if (typeof rawType !== 'string' || !(CHANGE_TYPES as readonly string[]).includes(rawType)) {
    throw new InputError(
      'MALFORMED_EVENT',
      `change_type ${JSON.stringify(rawType)} is not one of ${CHANGE_TYPES.join(', ')}`,
    );
  }
  const changeType = rawType as ChangeType;
  // GTID-mode Datastream files name the coordinates binlog_file/binlog_position.
  const logFile = meta.log_file ?? meta.binlog_file ?? null;
  const logPosition = num(meta.log_position ?? meta.binlog_position ?? null);
  if (!snapshot && (typeof logFile !== 'string' || logFile === '' || logPosition === null)) {
    throw new InputError('MALFORMED_EVENT', 'a binlog change needs log_file and log_position');
  }
  const rowIndex = num(meta.row_index) ?? ordinal;
  const schemaKey = str(obj, 'schema_key', false);
  const database = str(meta, 'database');
  const table = str(meta, 'table');
  const ctx = schemaFor(schemaKey, database, table);
  const primaryKeys = meta.primary_keys;
  if (!Array.isArray(primaryKeys) || !primaryKeys.every((k) => typeof k === 'string')) {
    throw new InputError('MALFORMED_EVENT', 'source_metadata.primary_keys must be a list of column names');
  }
  const commit = meta.commit_timestamp;
  let commitTimestampUs: number | null = null;
  if (typeof commit === 'string') {
    try {
      commitTimestampUs = parseUtcMicros(commit);
    } catch {
      throw new InputError(
        'MALFORMED_EVENT',
        `commit_timestamp ${JSON.stringify(commit)} is not a UTC timestamp`,
      );
    }
  }
  const gtid = meta.gtid;
  const snapshotId = meta.snapshot_id;
  const before = obj.payload_before;
  return {
    database,
    table,
    changeType,
    readMethod,
    position: {
      snapshot,
      logFile: snapshot ? '' : (logFile as string),
      logPosition: snapshot ? 0 : (logPosition ?? 0),
      rowIndex,
      gtid: typeof gtid === 'string' ? gtid : null,
    },
    commitTimestampUs,
    sourceTimestampMs: timeMs(obj.source_timestamp, 'source_timestamp'),
    readTimestampMs: timeMs(obj.read_timestamp, 'read_timestamp'),
    primaryKeys,
    schemaKey,
    payload: decodeRow(obj.payload, 'payload', ctx),
    before: before === undefined || before === null ? null : decodeRow(before, 'payload_before', ctx),
    snapshotId: typeof snapshotId === 'string' ? snapshotId : null,
    uuid: str(obj, 'uuid', false),
    streamName: str(obj, 'stream_name', false),
  };
}

export function columnsByName(schema: TableSchema): Map<string, ColumnSchema> {
  return new Map(schema.columns.map((c) => [c.name, c]));
}
