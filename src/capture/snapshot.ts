/**
 * The initial snapshot (Datastream's backfill): every row of the selected tables, read inside one
 * consistent view whose binlog position is known, so that snapshot and stream meet without a gap
 * and without an overlap. The position is read inside the snapshot's view, never before it:
 * MariaDB reports it for a consistent-snapshot transaction (binlog_snapshot_file/position) without
 * locking; MySQL needs FLUSH TABLES WITH READ LOCK for the instant it takes to open the view.
 * Files are staged and published only when the whole snapshot is read (see capture.ts).
 */
import { readdir, rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Connection } from 'mysql2/promise';
import type { Logger } from 'pino';
import type { ColumnPolicy } from './column-policy.ts';
import { ChangeFileWriter, type CompletedFile, META_DIR, publishFile } from '../changefile/index.ts';
import { type ChangeEvent, faultPoint, type TableSchema, TransientError } from '../core/index.ts';
import { currentBinlogPosition } from './source.ts';
import { ident, prepareExactReads, readTableSchema, rowFromSelect, selectList } from './select-values.ts';

export interface SnapshotPosition {
  readonly logFile: string;
  readonly logPosition: number;
}

export interface SnapshotResult {
  readonly snapshotId: string;
  readonly position: SnapshotPosition;
  readonly tables: readonly string[];
  readonly rows: number;
  /** The snapshot's files, under their final bucket paths (announced once published). */
  readonly files: readonly CompletedFile[];
}

export interface SnapshotOptions {
  readonly conn: Connection;
  readonly tables: readonly { database: string; table: string }[];
  readonly bucketDir: string;
  readonly stagingDir: string;
  readonly streamName: string;
  /**
   * Rows per query, fixed. Default: sized to hold about SNAPSHOT_PAGE_BYTES of change-file lines
   * (from the lines written so far), between 100 and 10,000 rows.
   */
  readonly chunkRows?: number;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Columns left out or hashed before anything is written. */
  readonly policy: ColumnPolicy;
  /** After each chunk read: rows of `database.table` read so far by this chunk (for metrics). */
  readonly onRows?: (table: string, rows: number) => void;
}

/**
 * Tables of the source that `include` selects: base tables and MariaDB's system-versioned ones
 * (which capture refuses, see preflight); views have no binlog rows.
 */
export async function selectedTables(
  conn: Connection,
  include: (database: string, table: string) => boolean,
): Promise<{ database: string; table: string; systemVersioned: boolean }[]> {
  const [rows] = (await conn.query(
    `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS t, TABLE_TYPE AS type FROM information_schema.TABLES
      WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_SCHEMA, TABLE_NAME`,
  )) as unknown as [{ db: string; t: string; type: string }[]];
  return rows
    .filter((r) => include(r.db, r.t))
    .map((r) => ({ database: r.db, table: r.t, systemVersioned: r.type === 'SYSTEM VERSIONED' }));
}

/** Opens a consistent-snapshot transaction and returns the binlog position it corresponds to. */
export async function openSnapshot(conn: Connection): Promise<SnapshotPosition> {
  const [version] = (await conn.query('SELECT VERSION() AS v')) as unknown as [{ v: string }[]];
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  if (/mariadb/i.test(version[0]!.v)) {
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
    const [status] = (await conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'")) as unknown as [
      { Variable_name: string; Value: string }[],
    ];
    const get = (name: string) => status.find((s) => s.Variable_name.toLowerCase() === name)?.Value;
    return {
      logFile: get('binlog_snapshot_file') ?? '',
      logPosition: Number(get('binlog_snapshot_position')),
    };
  }
  await conn.query('FLUSH TABLES WITH READ LOCK');
  try {
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
    return await currentBinlogPosition(conn);
  } finally {
    await conn.query('UNLOCK TABLES');
  }
}

async function approximateRows(conn: Connection, database: string, table: string): Promise<number> {
  const [rows] = (await conn.query(
    'SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, table],
  )) as unknown as [{ n: number | string | null }[]];
  return Number(rows[0]?.n ?? 0);
}

/**
 * One page of a table in primary-key order, after the key `after` (null: from the start), and
 * the key values to continue after it, as the server returned them. Without a key: every row.
 */
export async function readChunk(
  conn: Connection,
  schema: TableSchema,
  after: unknown[] | null,
  limit: number,
): Promise<{ rows: Record<string, unknown>[]; last: unknown[] | null }> {
  const from = `${ident(schema.database)}.${ident(schema.table)}`;
  const list = selectList(schema);
  const keys = schema.primaryKeys;
  if (keys.length === 0) {
    const [rows] = (await conn.query(`SELECT ${list} FROM ${from}`)) as unknown as [
      Record<string, unknown>[],
    ];
    return { rows, last: null };
  }
  const order = keys.map(ident).join(', ');
  // Keys are read as the server returns them, so the next page starts exactly after the last row.
  const keySelect = keys.map((k, i) => `${ident(k)} AS \`__tt_k${i}\``).join(', ');
  const where = after ? `WHERE (${order}) > (${keys.map(() => '?').join(', ')})` : '';
  const [rows] = (await conn.query(
    `SELECT ${list}, ${keySelect} FROM ${from} ${where} ORDER BY ${order} LIMIT ${Math.floor(limit)}`,
    after ?? [],
  )) as unknown as [Record<string, unknown>[]];
  const end = rows[rows.length - 1];
  return { rows, last: end && rows.length === limit ? keys.map((_, i) => end[`__tt_k${i}`]) : null };
}

/**
 * About this much of change-file lines per snapshot page. The rows of a page and of the page read
 * ahead live until they are written: pages of 10,000 rows of the bench's table (about 5 MiB of
 * lines) outlived V8's young generation and made garbage collection a quarter of the snapshot's
 * CPU; 1,000-2,000 rows read 2 million rows 20-30 % faster in 35 % less memory
 * (docs/performance.md, session 12). Sized by bytes, not rows, so that wide rows make small pages.
 */
export const SNAPSHOT_PAGE_BYTES = 1024 * 1024;

/** Rows for the next page: fixed, or sized from the bytes a row has taken so far. */
export function pageRows(fixed: number | undefined, bytes: number, rows: number): number {
  if (fixed !== undefined) return fixed;
  if (rows === 0) return 1_000;
  return Math.max(100, Math.min(10_000, Math.round(SNAPSHOT_PAGE_BYTES / Math.max(1, bytes / rows))));
}

/**
 * Reads one table in primary-key chunks (keyset pagination) inside the open snapshot, a page ahead;
 * `limit()` gives the rows of each page when it is asked for.
 */
async function* readTable(
  conn: Connection,
  schema: TableSchema,
  limit: () => number,
): AsyncGenerator<Record<string, unknown>[]> {
  // One page ahead: the server reads the next page while this one is being written.
  let next = readChunk(conn, schema, null, limit());
  for (;;) {
    const { rows, last } = await next;
    if (last) {
      next = readChunk(conn, schema, last, limit());
      next.catch(() => undefined); // surfaced by the await above, on the next turn
    }
    if (rows.length > 0) yield rows;
    if (!last) return;
  }
}

export async function takeSnapshot(options: SnapshotOptions): Promise<SnapshotResult> {
  const { conn, logger } = options;
  const fixedRows = options.chunkRows;
  await rm(options.stagingDir, { recursive: true, force: true });
  await prepareExactReads(conn);
  const position = await openSnapshot(conn);
  const snapshotId = `snapshot-${position.logFile}-${position.logPosition}`;
  const startedUs = Date.now() * 1000;
  const writer = new ChangeFileWriter({
    bucketDir: options.bucketDir,
    stagingDir: options.stagingDir,
    maxFileAgeMs: 3_600_000,
  });
  let total = 0;
  const files: CompletedFile[] = [];
  const done: string[] = [];
  try {
    for (const { database, table } of options.tables) {
      const schema = await readTableSchema(conn, database, table);
      // information_schema is outside the snapshot's view: an ALTER that copies a table renames it
      // away and back, and for that instant it is not there. Skipping it would leave its rows out
      // of the history for good; the snapshot is taken again instead (the fault suite's source
      // reader met that instant). A table dropped meanwhile is then no longer selected.
      if (!schema)
        throw new TransientError(
          'SNAPSHOT_TABLE_MISSING',
          `snapshot: ${database}.${table} was not there when its columns were read (dropped, or an ALTER in progress); taking the snapshot again`,
        );
      const expected = await approximateRows(conn, database, table);
      const started = Date.now();
      let rows = 0;
      let lastReport = started;
      const bytesBefore = writer.bytesAppended;
      const limit = () => pageRows(fixedRows, writer.bytesAppended - bytesBefore, rows);
      for await (const chunk of readTable(conn, schema, limit)) {
        if (options.signal.aborted) throw new Error('snapshot aborted');
        for (const raw of chunk) {
          const event: ChangeEvent = {
            database,
            table,
            changeType: 'INSERT',
            readMethod: 'mysql-backfill-fulldump',
            position: { snapshot: true, logFile: '', logPosition: 0, rowIndex: rows, gtid: null },
            commitTimestampUs: startedUs,
            sourceTimestampMs: Math.floor(startedUs / 1000),
            readTimestampMs: Date.now(),
            primaryKeys: schema.primaryKeys,
            schemaKey: '',
            payload: rowFromSelect(raw, schema),
            before: null,
            snapshotId,
            uuid: '',
            streamName: options.streamName,
          };
          const w = options.policy.apply(event, schema);
          files.push(...(await writer.write(w.event, w.schema)));
          rows++;
        }
        options.onRows?.(`${database}.${table}`, chunk.length);
        faultPoint('snapshot.after-chunk');
        if (Date.now() - lastReport >= 1000) {
          lastReport = Date.now();
          const rate = Math.round((rows * 1000) / Math.max(1, lastReport - started));
          logger.info(
            {
              table: `${database}.${table}`,
              rows,
              of: expected,
              percent: expected ? Math.min(100, Math.round((rows * 100) / expected)) : null,
              rowsPerSecond: rate,
            },
            'snapshot progress',
          );
        }
      }
      total += rows;
      done.push(`${database}.${table}`);
      logger.info(
        { table: `${database}.${table}`, rows, ms: Date.now() - started },
        'snapshot of table read',
      );
    }
    files.push(...(await writer.finalizeAll()));
    await conn.query('COMMIT');
  } catch (err) {
    await writer.abort();
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  // Staged now; these are the paths they will have once published.
  const published = asPublished(files, options.bucketDir);
  return { snapshotId, position, tables: done, rows: total, files: published };
}

/** Staged files under the paths they have once publishStaged moved them into `bucketDir`. */
export function asPublished(files: readonly CompletedFile[], bucketDir: string): CompletedFile[] {
  return files.map((f) => ({ ...f, path: join(bucketDir, ...f.objectPath.split('/')) }));
}

/** Moves every staged file into the bucket (idempotent: a file already moved is not there any more). */
export async function publishStaged(stagingDir: string, bucketDir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(stagingDir, { withFileTypes: true, recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let moved = 0;
  for (const e of entries) {
    if (!e.isFile()) continue;
    const from = join(e.parentPath, e.name);
    const rel = relative(stagingDir, from);
    if (rel.split(sep)[0] === META_DIR) continue;
    await publishFile(from, join(bucketDir, rel));
    moved++;
  }
  await rm(stagingDir, { recursive: true, force: true });
  return moved;
}
