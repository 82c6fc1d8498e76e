/**
 * Reads one change file, ours or Google Datastream's (JSON lines, optionally gzipped, or Avro),
 * as a stream of events. A line that cannot be used becomes a dead letter (file, line, code,
 * reason, the raw text) and reading goes on: one bad line never costs the good ones around it.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import avro from 'avsc';
import {
  type ChangeEvent,
  columnFromSqlType,
  type ColumnSchema,
  InputError,
  reservedColumn,
  TabletimeError,
  type TableSchema,
} from '../core/index.ts';
import {
  avroColumn,
  type AvroColumn,
  avroValueToWire,
  bigintLongType,
  envelopeToWire,
} from './datastream-avro.ts';
import {
  columnsByName,
  eventFromWire,
  type LineContext,
  parseJsonLine,
  type SchemaLookup,
} from './line-format.ts';
import type { SchemaRegistry } from './schema-registry.ts';
import type { WireValue } from './value-encoding.ts';

export interface DeadLetter {
  readonly file: string;
  /** 1-based line number (JSON) or record number (Avro). */
  readonly line: number;
  readonly code: string;
  readonly reason: string;
  /** The line as it was (JSON), or a description of the record (Avro). */
  readonly raw: string;
}

export type ReadItem =
  | {
      readonly kind: 'event';
      readonly event: ChangeEvent;
      readonly line: number;
      readonly schema: TableSchema;
    }
  | { readonly kind: 'dead-letter'; readonly deadLetter: DeadLetter };

/** Real SQL types of some columns, for files that do not carry them (Datastream's). */
export type ColumnHints = (database: string, table: string) => Readonly<Record<string, string>> | undefined;

export interface ReadChangeFileOptions {
  /** The bucket's schema registry: gives exact types to our own JSON files. */
  readonly registry?: SchemaRegistry;
  readonly columnHints?: ColumnHints;
  readonly signal?: AbortSignal;
}

export type ChangeFileFormat = 'json' | 'json-gzip' | 'avro';

/** Tells the format by the first bytes, not the name: 'Obj\x01' is Avro, 1f 8b is gzip. */
export async function detectFormat(path: string): Promise<ChangeFileFormat> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    if (bytesRead >= 4 && head.toString('latin1', 0, 4) === 'Obj\u0001') return 'avro';
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'json-gzip';
    return 'json';
  } finally {
    await handle.close();
  }
}

/**
 * The stand-in row index for files without `row_index` (Datastream's): the event's place among the
 * consecutive lines that share one binlog position. A change re-sent in another file then gets the
 * same index, and so the same version id.
 */
class RowOrdinal {
  #key = '';
  #count = 0;

  next(wire: WireValue): number {
    const meta =
      wire !== null && typeof wire === 'object' && !Array.isArray(wire)
        ? (wire as Record<string, WireValue>).source_metadata
        : undefined;
    let key = '';
    if (meta !== null && typeof meta === 'object' && !Array.isArray(meta)) {
      const m = meta as Record<string, WireValue>;
      key = JSON.stringify([
        m.log_file ?? m.binlog_file ?? null,
        m.log_position ?? m.binlog_position ?? null,
      ]);
    }
    if (key === this.#key) return ++this.#count;
    this.#key = key;
    this.#count = 0;
    return 0;
  }
}

/**
 * `schema`, unless a column's name starts with `_tt_`: a history cannot hold it beside tabletime's
 * own columns, so each of the table's changes is a dead letter (and the other tables go on).
 */
function storable(schema: TableSchema): TableSchema {
  const name = reservedColumn(schema);
  if (name === undefined) return schema;
  throw new InputError(
    'RESERVED_COLUMN',
    `${schema.database}.${schema.table} has a column named ${name}: names starting with _tt_ are tabletime's own in the history; rename the column at the source, or leave the table out of capture (--exclude-tables)`,
  );
}

function deadLetterFrom(err: unknown, file: string, line: number, raw: string): DeadLetter {
  if (err instanceof TabletimeError && err.kind === 'input')
    return { file, line, code: err.code, reason: err.message, raw };
  throw err; // not bad input: a bug or an I/O failure must not be filed as a dead letter
}

/**
 * The table schema of an event: the known columns (Avro schema, hints), the rest inferred from the
 * values (a Datastream JSON file without types): integers as BIGINT, other numbers as DOUBLE,
 * bytes as LONGBLOB, anything else as text.
 */
function schemaOf(event: ChangeEvent, ctx: LineContext | undefined): TableSchema {
  const columns = Object.keys(event.payload).map((name) => {
    const known = ctx?.columns.get(name);
    if (known) return known;
    const v = event.payload[name];
    const type =
      typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))
        ? 'bigint'
        : typeof v === 'number'
          ? 'double'
          : v instanceof Uint8Array
            ? 'longblob'
            : 'longtext';
    return columnFromSqlType(name, type);
  });
  return { database: event.database, table: event.table, primaryKeys: event.primaryKeys, columns };
}

function hintContext(
  hints: ColumnHints | undefined,
  database: string,
  table: string,
): LineContext | undefined {
  const h = hints?.(database, table);
  if (!h) return undefined;
  const columns = new Map<string, ColumnSchema>();
  for (const [name, sqlType] of Object.entries(h)) columns.set(name, columnFromSqlType(name, sqlType));
  return { columns, complete: false };
}

async function* readJsonLines(
  path: string,
  gzip: boolean,
  options: ReadChangeFileOptions,
): AsyncGenerator<ReadItem> {
  const registered = new Map<string, { schema: TableSchema; ctx: LineContext } | null>();
  const lookup: SchemaLookup = (key, database, table) => {
    const found = registered.get(key);
    if (found) return found.ctx;
    return hintContext(options.columnHints, database, table);
  };
  const source = createReadStream(path, { signal: options.signal });
  const stream = gzip ? source.pipe(createGunzip()) : source;
  source.on('error', (err) => stream.destroy(err));
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let lineNo = 0;
  const ordinal = new RowOrdinal();

  async function* handle(text: string): AsyncGenerator<ReadItem> {
    lineNo++;
    if (text.trim() === '') return;
    try {
      const parsed = parseJsonLine(text);
      const key =
        parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) && 'schema_key' in parsed
          ? (parsed as { schema_key?: WireValue }).schema_key
          : undefined;
      if (typeof key === 'string' && options.registry && !registered.has(key)) {
        const schema = await options.registry.get(key);
        registered.set(
          key,
          schema ? { schema, ctx: { columns: columnsByName(schema), complete: true } } : null,
        );
      }
      const event = eventFromWire(parsed as Record<string, WireValue>, ordinal.next(parsed), lookup);
      const known = typeof key === 'string' ? registered.get(key) : undefined;
      if (known && (known.schema.database !== event.database || known.schema.table !== event.table)) {
        yield {
          kind: 'dead-letter',
          deadLetter: {
            file: path,
            line: lineNo,
            code: 'SCHEMA_MISMATCH',
            reason: `schema_key ${event.schemaKey} belongs to ${known.schema.database}.${known.schema.table}, not ${event.database}.${event.table}`,
            raw: text,
          },
        };
        return;
      }
      const ctx = lookup(event.schemaKey, event.database, event.table);
      yield {
        kind: 'event',
        event,
        line: lineNo,
        schema: storable(known ? known.schema : schemaOf(event, ctx)),
      };
    } catch (err) {
      yield { kind: 'dead-letter', deadLetter: deadLetterFrom(err, path, lineNo, text) };
    }
  }

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pending += decoder.write(chunk);
    let start = 0;
    let nl: number;
    while ((nl = pending.indexOf('\n', start)) !== -1) {
      yield* handle(pending.slice(start, nl));
      start = nl + 1;
    }
    pending = pending.slice(start);
  }
  pending += decoder.end();
  // A last line without its newline: a file cut short. It is read like any other; if it is cut
  // inside the JSON it becomes a dead letter, never a crash.
  if (pending !== '') yield* handle(pending);
}

interface AvroPayloadSchema {
  fields: { name: string; type: unknown }[];
}

async function* readAvro(path: string, options: ReadChangeFileOptions): AsyncGenerator<ReadItem> {
  let payloadSchema: AvroPayloadSchema | undefined;
  let headerRead = false;
  const decoder = new avro.streams.BlockDecoder({
    parseHook: (schema: avro.Schema) => {
      const fields = (schema as { fields?: { name: string; type: unknown }[] }).fields;
      const payload = fields?.find((f) => f.name === 'payload');
      payloadSchema = payload?.type as AvroPayloadSchema | undefined;
      headerRead = true;
      return avro.Type.forSchema(schema, { registry: { long: bigintLongType } });
    },
  });
  const source = createReadStream(path, { signal: options.signal });
  source.on('error', (err) => decoder.destroy(err));
  source.pipe(decoder);
  const contexts = new Map<string, { columns: AvroColumn[]; ctx: LineContext }>();
  const contextFor = (database: string, table: string) => {
    const id = `${database}\u0000${table}`;
    let found = contexts.get(id);
    if (!found) {
      const hints = options.columnHints?.(database, table);
      const columns = (payloadSchema?.fields ?? []).map((f) => avroColumn(f.name, f.type, hints?.[f.name]));
      found = {
        columns,
        ctx: { columns: new Map(columns.map((c) => [c.column.name, c.column])), complete: true },
      };
      contexts.set(id, found);
    }
    return found;
  };
  let record = 0;
  const ordinal = new RowOrdinal();
  try {
    for await (const rec of decoder as AsyncIterable<Record<string, unknown>>) {
      record++;
      if (options.signal?.aborted) throw options.signal.reason;
      try {
        const { payload, ...envelope } = rec;
        const wire = envelopeToWire(envelope) as Record<string, WireValue>;
        const meta = wire.source_metadata as Record<string, WireValue> | undefined;
        const database = typeof meta?.database === 'string' ? meta.database : '';
        const table = typeof meta?.table === 'string' ? meta.table : '';
        const { columns, ctx } = contextFor(database, table);
        const wirePayload: Record<string, WireValue> = {};
        const rawPayload = (payload ?? {}) as Record<string, unknown>;
        for (const col of columns)
          wirePayload[col.column.name] = avroValueToWire(rawPayload[col.column.name], col);
        wire.payload = wirePayload;
        const event = eventFromWire(wire, ordinal.next(wire), () => ctx);
        yield { kind: 'event', event, line: record, schema: storable(schemaOf(event, ctx)) };
      } catch (err) {
        yield { kind: 'dead-letter', deadLetter: deadLetterFrom(err, path, record, `avro record ${record}`) };
      }
    }
    // avsc ends quietly when the file stops inside a block or inside the header; the bytes it could
    // not use are still in its buffer. A file cut short must not pass for a complete one.
    const tap = (decoder as unknown as { _tap?: { buf: Buffer; pos: number } })._tap;
    if (!headerRead) throw new Error('the Avro header is incomplete');
    if (tap && tap.buf.length > tap.pos)
      throw new Error(`the file ends inside a block (${tap.buf.length - tap.pos} bytes left over)`);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    // The container itself is damaged (cut short, bad sync marker): what came before is kept.
    yield {
      kind: 'dead-letter',
      deadLetter: {
        file: path,
        line: record + 1,
        code: 'MALFORMED_AVRO',
        reason: `Avro file unreadable after record ${record}: ${(err as Error).message}`,
        raw: '',
      },
    };
  }
}

/** Reads every event of one change file, in file order. */
export async function* readChangeFile(
  path: string,
  options: ReadChangeFileOptions = {},
): AsyncGenerator<ReadItem> {
  const format = await detectFormat(path);
  if (format === 'avro') yield* readAvro(path, options);
  else yield* readJsonLines(path, format === 'json-gzip', options);
}
