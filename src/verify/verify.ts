/**
 * `tabletime verify`: compares each table's history with the live source without stopping writes.
 * The source is read in primary-key chunks, each inside a consistent snapshot whose binlog
 * position is known; once apply has passed that position, the history as of exactly that position
 * (not a time) must hold the same rows for the chunk's keys: compared by digest first, row by row
 * where the digests differ. Records the history holds but no chunk saw (deleted at the source while
 * verify ran, or never deleted in the history) are checked again at a fresh position at the end.
 */
import { createHash } from 'node:crypto';
import type { Connection } from 'mysql2/promise';
import type { Logger } from 'pino';
import { decodeValue, encodeValue } from '../changefile/index.ts';
import {
  boundAtBinlogPosition,
  type ColumnSchema,
  ConfigError,
  type PositionBound,
  type Row,
  sleep,
  type TableSchema,
  TransientError,
  type Value,
} from '../core/index.ts';
import { openSnapshot, readChunk, type SnapshotPosition } from '../capture/snapshot.ts';
import {
  ident,
  prepareExactReads,
  readTableSchema,
  rowFromSelect,
  selectList,
} from '../capture/select-values.ts';
import { keyTextOfRow } from '../store/history-columns.ts';
import type { HistoryStore } from '../store/index.ts';

/** Canonical text of one record's values: a JSON object of the compared columns, in their order. */
export function canonicalLine(row: Row, columns: readonly ColumnSchema[]): string {
  const out: Record<string, string | null> = {};
  for (const c of columns) {
    const v = row[c.name];
    if (v === null || v === undefined) out[c.name] = null;
    else {
      const e = encodeValue(v, c);
      // A column the history turned into text (a type change) compares by its text form.
      out[c.name] = typeof e === 'string' ? e : JSON.stringify(e);
    }
  }
  return JSON.stringify(out);
}

/** Source rows as SELECT returned them (selectList) -> canonical lines by record key. */
export function linesOfRows(
  rows: readonly Record<string, unknown>[],
  schema: TableSchema,
  columns: readonly ColumnSchema[],
): Map<string, string> {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const lines = new Map<string, string>();
  for (const raw of rows) {
    const row = rowFromSelect(raw, schema);
    lines.set(keyTextOfRow(row, schema.primaryKeys, byName)!, canonicalLine(row, columns));
  }
  return lines;
}

/** The digest of a chunk: its records in key order. */
export function digestOf(lines: ReadonlyMap<string, string>): string {
  const h = createHash('sha256');
  for (const k of [...lines.keys()].sort()) h.update(`${k}\t${lines.get(k)!}\n`);
  return h.digest('hex');
}

/** What verify needs of the history: the store here, or a running `tabletime run` that holds it. */
export interface HistorySide {
  tables(): Promise<{ database: string; table: string }[]>;
  schemaOf(database: string, table: string): Promise<TableSchema | null>;
  /** True once everything the source committed before `pos` is in the history; false on timeout. */
  waitApplied(pos: SnapshotPosition, timeoutMs: number): Promise<boolean>;
  /** The digest of the records `keys` as of `bound` (and, with `withRows`, their lines by key). */
  chunk(request: ChunkRequest): Promise<{ digest: string; lines?: Record<string, string> }>;
  /** The `_tt_key` of every record present as of `bound`. */
  keysAt(database: string, table: string, bound: PositionBound): Promise<string[]>;
}

export interface ChunkRequest {
  readonly database: string;
  readonly table: string;
  readonly bound: PositionBound;
  readonly keys: readonly string[];
  /** The compared columns (the source's, that the history has too). */
  readonly columns: readonly string[];
  readonly withRows: boolean;
}

/** The history-side half of a chunk, run where the store is open. */
export async function historyChunk(
  store: HistoryStore,
  request: ChunkRequest,
): Promise<{ digest: string; lines?: Record<string, string> }> {
  const schema = await store.schemaOf(request.database, request.table);
  if (!schema) throw new ConfigError('UNKNOWN_TABLE', `no history for ${request.database}.${request.table}`);
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const columns = request.columns.map((n) => byName.get(n)!);
  const rows = await store.asOf(request.database, request.table, request.bound, { keys: request.keys });
  const lines = new Map<string, string>();
  for (const row of rows)
    lines.set(keyTextOfRow(row, schema.primaryKeys, byName)!, canonicalLine(row, columns));
  return {
    digest: digestOf(lines),
    ...(request.withRows ? { lines: Object.fromEntries(lines) } : {}),
  };
}

export interface Mismatch {
  readonly table: string;
  readonly key: string;
  readonly at: string;
  /** The record's values on each side (a JSON object), or null where that side has no such record. */
  readonly source: string | null;
  readonly history: string | null;
}

export interface TableResult {
  readonly table: string;
  readonly rows: number;
  readonly chunks: number;
  readonly mismatches: Mismatch[];
  /**
   * Differences seen once and gone when their records were read again at a later position: a
   * chunk read that did not hold to its snapshot (below, readInSnapshot). Not mismatches.
   */
  readonly cleared?: number;
  /** Why the table was not compared, when it was not. */
  readonly skipped?: string;
}

export interface VerifyOptions {
  readonly conn: Connection;
  readonly history: HistorySide;
  readonly tables: readonly { database: string; table: string }[];
  readonly chunkRows?: number;
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  /**
   * Runs between each read's consistent snapshot and its SELECT (tests put another session's DDL
   * or non-transactional write there, where it can land by chance in production).
   */
  readonly afterSnapshot?: () => Promise<void>;
}

interface SourceChunk {
  readonly pos: SnapshotPosition;
  readonly lines: Map<string, string>;
  /** The columns its lines hold (the table's as the read found them, that the history has). */
  readonly columns: readonly string[];
}

/**
 * The table as verify reads it: its schema, which changes when a column verify reads is dropped or
 * renamed meanwhile (withColumnsNow).
 */
interface SourceTable {
  schema: TableSchema;
  /** The history's columns when verify began: a column added later is read but not compared. */
  readonly inHistory: ReadonlySet<string>;
}

/** The columns compared: the table's, those the history has. */
const comparedColumns = (table: SourceTable): ColumnSchema[] =>
  table.schema.columns.filter((c) => table.inHistory.has(c.name));

/** A key value as a query parameter for the source (the inverse of the change-file encoding). */
function sourceParam(value: Value, column: ColumnSchema): unknown {
  if (value === null) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (column.kind === 'timestamp' && typeof value === 'string') return value.replace(/Z$/, '');
  return value;
}

/** ER_TABLE_DEF_CHANGED: the table was truncated or rebuilt after the snapshot opened. */
const TABLE_DEF_CHANGED = 1412;
const SNAPSHOT_ATTEMPTS = 5;

/**
 * Reads the source inside a new consistent snapshot, with its binlog position. A snapshot holds for
 * transactions only: a TRUNCATE or an ALTER that rebuilds the table after it opened makes the read
 * fail (ER_TABLE_DEF_CHANGED), and it is taken again; MariaDB can also show a snapshot a TRUNCATE
 * whose binlog event comes after the snapshot's position, and a non-transactional table (Aria,
 * MyISAM) is read as it is now. verify reads the records that differ again (recheck, below).
 */
async function readInSnapshot<T>(
  options: VerifyOptions,
  table: string,
  read: () => Promise<T>,
): Promise<{ pos: SnapshotPosition; result: T }> {
  const { conn } = options;
  for (let attempt = 1; ; attempt++) {
    const pos = await openSnapshot(conn);
    try {
      await options.afterSnapshot?.();
      const result = await read();
      await conn.query('COMMIT');
      return { pos, result };
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      if ((err as { errno?: number }).errno !== TABLE_DEF_CHANGED) throw err;
      if (attempt >= SNAPSHOT_ATTEMPTS)
        throw new TransientError(
          'VERIFY_TABLE_CHANGING',
          `${table} was truncated or rebuilt during each of ${SNAPSHOT_ATTEMPTS} reads: run verify again once the DDL on it is done`,
        );
      options.logger?.info(
        { table, attempt },
        'verify: the table was truncated or rebuilt meanwhile; reading it again',
      );
      await sleep(100 * attempt);
    }
  }
}

/** ER_BAD_FIELD_ERROR: a column the SELECT names is not in the table (dropped or renamed). */
const BAD_FIELD = 1054;

/**
 * Runs a read of the source table as verify knows it. When a column it names was dropped or
 * renamed since verify read the table's schema (ER_BAD_FIELD_ERROR), the schema is read again and
 * so is the table: the chunks read before compared the columns they had, later ones compare the
 * columns there are now. A changed primary key, or the table gone, ends the table's verify.
 */
async function withColumnsNow<T>(
  options: VerifyOptions,
  table: SourceTable,
  read: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      if ((err as { errno?: number }).errno !== BAD_FIELD || attempt >= SNAPSHOT_ATTEMPTS) throw err;
      const name = nameOf(table.schema);
      const now = await readTableSchema(options.conn, table.schema.database, table.schema.table);
      if (!now || now.primaryKeys.join('\u0000') !== table.schema.primaryKeys.join('\u0000'))
        throw new TransientError(
          'VERIFY_TABLE_CHANGING',
          `${name} ${now ? 'changed its primary key' : 'was dropped'} while verify read it: run verify again once the DDL on it is done`,
        );
      options.logger?.info(
        { table: name, columns: now.columns.map((c) => c.name) },
        "verify: the table's columns changed meanwhile; reading it with the columns it has now",
      );
      table.schema = now;
    }
  }
}

async function readSourceChunk(
  options: VerifyOptions,
  table: SourceTable,
  after: unknown[] | null,
  limit: number,
): Promise<{ chunk: SourceChunk; last: unknown[] | null }> {
  return withColumnsNow(options, table, async () => {
    const { schema } = table;
    const columns = comparedColumns(table);
    const { pos, result } = await readInSnapshot(options, nameOf(schema), () =>
      readChunk(options.conn, schema, after, limit),
    );
    return {
      chunk: { pos, lines: linesOfRows(result.rows, schema, columns), columns: columns.map((c) => c.name) },
      last: result.last,
    };
  });
}

const nameOf = (schema: TableSchema) => `${schema.database}.${schema.table}`;

/** The source's records for `keys` (history keys no chunk saw), at a fresh consistent position. */
async function readSourceKeys(
  options: VerifyOptions,
  table: SourceTable,
  keys: readonly string[],
): Promise<SourceChunk> {
  return withColumnsNow(options, table, () => readKeys(options, table.schema, comparedColumns(table), keys));
}

async function readKeys(
  options: VerifyOptions,
  schema: TableSchema,
  columns: readonly ColumnSchema[],
  keys: readonly string[],
): Promise<SourceChunk> {
  const { conn } = options;
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const pkCols = schema.primaryKeys.map((k) => byName.get(k)!);
  const tuple = `(${pkCols.map(() => '?').join(', ')})`;
  const params = keys.flatMap((k) =>
    (JSON.parse(k) as (string | number | null)[]).map((text, i) =>
      sourceParam(decodeValue(text, pkCols[i]!), pkCols[i]!),
    ),
  );
  const { pos, result: rows } = await readInSnapshot(options, nameOf(schema), async () => {
    const [rows] = (await conn.query(
      `SELECT ${selectList(schema)} FROM ${ident(schema.database)}.${ident(schema.table)}
        WHERE (${pkCols.map((c) => ident(c.name)).join(', ')}) IN (${keys.map(() => tuple).join(', ')})`,
      params,
    )) as unknown as [Record<string, unknown>[]];
    return rows;
  });
  return { pos, lines: linesOfRows(rows, schema, columns), columns: columns.map((c) => c.name) };
}

/**
 * The source's records for `keys` at a fresh consistent position, compared with the history as of
 * that position once apply has passed it.
 */
async function compareKeys(
  options: VerifyOptions,
  table: SourceTable,
  keys: readonly string[],
  chunkRows: number,
  timeoutMs: number,
): Promise<Mismatch[]> {
  const out: Mismatch[] = [];
  for (let i = 0; i < keys.length; i += chunkRows) {
    const some = keys.slice(i, i + chunkRows);
    const chunk = await readSourceKeys(options, table, some);
    await waitFor(options.history, chunk.pos, timeoutMs);
    out.push(
      ...(await compareChunk(
        nameOf(table.schema),
        options.history,
        table.schema.database,
        table.schema.table,
        chunk,
        some,
      )),
    );
  }
  return out;
}

async function compareChunk(
  name: string,
  history: HistorySide,
  database: string,
  table: string,
  chunk: SourceChunk,
  keys: readonly string[],
): Promise<Mismatch[]> {
  const bound = boundAtBinlogPosition(chunk.pos.logFile, chunk.pos.logPosition);
  const request = { database, table, bound, keys, columns: chunk.columns, withRows: false };
  const { digest } = await history.chunk(request);
  // Source lines only for the asked keys (a record absent at the source is absent from `lines`).
  if (digest === digestOf(chunk.lines)) return [];
  const { lines = {} } = await history.chunk({ ...request, withRows: true });
  const out: Mismatch[] = [];
  for (const key of keys) {
    const source = chunk.lines.get(key) ?? null;
    const stored = lines[key] ?? null;
    if (source !== stored) out.push({ table: name, key, at: bound.text, source, history: stored });
  }
  return out;
}

async function waitFor(history: HistorySide, pos: SnapshotPosition, timeoutMs: number): Promise<void> {
  if (!(await history.waitApplied(pos, timeoutMs)))
    throw new TransientError(
      'VERIFY_TIMEOUT',
      `the history did not reach the source position ${pos.logFile}:${pos.logPosition} within ${timeoutMs / 1000} s: is capture and apply (or \`tabletime run\`) running? (--timeout gives it longer)`,
    );
}

export async function verifyTable(
  options: VerifyOptions,
  database: string,
  table: string,
): Promise<TableResult> {
  const { conn, history } = options;
  const name = `${database}.${table}`;
  const chunkRows = options.chunkRows ?? 2_000;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const stored = await history.schemaOf(database, table);
  if (!stored)
    throw new ConfigError(
      'UNKNOWN_TABLE',
      `no history for ${name}: \`tabletime query tables\` lists what there is`,
    );
  const schema = await readTableSchema(conn, database, table);
  if (!schema)
    return {
      table: name,
      rows: 0,
      chunks: 0,
      mismatches: [{ table: name, key: '*', at: 'now', source: null, history: 'the table' }],
      skipped: 'the table is not in the source any more',
    };
  if (schema.primaryKeys.length === 0)
    return {
      table: name,
      rows: 0,
      chunks: 0,
      mismatches: [],
      skipped: 'no primary key to compare records by',
    };
  const inHistory = new Set(stored.columns.map((c) => c.name));
  const missing = schema.columns.filter((c) => !inHistory.has(c.name)).map((c) => c.name);
  if (missing.length > 0)
    return {
      table: name,
      rows: 0,
      chunks: 0,
      mismatches: [
        { table: name, key: '*', at: 'now', source: `columns ${missing.join(', ')}`, history: null },
      ],
      skipped: `the history lacks the source's columns ${missing.join(', ')}`,
    };
  const source: SourceTable = { schema, inHistory };

  const seen = new Set<string>();
  const mismatches: Mismatch[] = [];
  let rows = 0;
  let chunks = 0;
  let after: unknown[] | null = null;
  let lastPos: SnapshotPosition | null = null;
  let lastReport = Date.now();
  do {
    // Read a group of chunks (each at its own position), then wait once for the last position.
    const group: SourceChunk[] = [];
    const started = Date.now();
    do {
      const read = await readSourceChunk(options, source, after, chunkRows);
      group.push(read.chunk);
      after = read.last;
    } while (after && group.length < 16 && Date.now() - started < 1_000);
    lastPos = group[group.length - 1]!.pos;
    await waitFor(history, lastPos, timeoutMs);
    for (const chunk of group) {
      for (const k of chunk.lines.keys()) seen.add(k);
      mismatches.push(
        ...(await compareChunk(name, history, database, table, chunk, [...chunk.lines.keys()])),
      );
      rows += chunk.lines.size;
      chunks++;
    }
    if (Date.now() - lastReport >= 5_000) {
      lastReport = Date.now();
      options.logger?.info({ table: name, rows, chunks, mismatches: mismatches.length }, 'verify progress');
    }
  } while (after);

  // Records the history has and no chunk saw: compare them at a fresh position.
  const unseen = (
    await history.keysAt(database, table, boundAtBinlogPosition(lastPos.logFile, lastPos.logPosition))
  ).filter((k) => !seen.has(k));
  mismatches.push(...(await compareKeys(options, source, unseen, chunkRows, timeoutMs)));
  if (mismatches.length === 0) return { table: name, rows, chunks, mismatches };

  // A record that differs is read again at a later position: a real difference is still there, one
  // a read saw out of its snapshot's order (readInSnapshot) is gone. Each record still differing is
  // reported once, as the later read found it.
  const differing = [...new Set(mismatches.map((m) => m.key))];
  const confirmed = await compareKeys(options, source, differing, chunkRows, timeoutMs);
  const cleared = differing.length - confirmed.length;
  if (cleared > 0)
    options.logger?.warn(
      { table: name, cleared },
      'verify: records that differed matched when read again (a TRUNCATE or ALTER on the table, or a write to a table without transactions, during the read)',
    );
  return { table: name, rows, chunks, mismatches: confirmed, ...(cleared > 0 ? { cleared } : {}) };
}

export async function verify(options: VerifyOptions): Promise<TableResult[]> {
  await prepareExactReads(options.conn);
  await options.conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  const out: TableResult[] = [];
  for (const t of options.tables) out.push(await verifyTable(options, t.database, t.table));
  return out;
}
