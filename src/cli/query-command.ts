/**
 * `tabletime query …`: questions to the history store. Output `--format table` (aligned, for
 * people; default), `jsonl` (one object a row, values in the change-file encoding) or `csv`.
 * `current` and `as-of` print exactly the source's columns; `history` adds the version metadata.
 */
import { once } from 'node:events';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { encodeValue } from '../changefile/index.ts';
import {
  boundAtBinlogPosition,
  ConfigError,
  type ColumnSchema,
  parsePositionText,
  parseUtcMicros,
  type PositionBound,
  type Row,
  type TableSchema,
  TransientError,
} from '../core/index.ts';
import { decodeValue } from '../changefile/index.ts';
import { type DiffOut, type HistoryStore, openStore, type VersionOut } from '../store/index.ts';
import { answeredError, streamFromRunning } from './run-socket.ts';

export type Format = 'table' | 'jsonl' | 'csv';

export interface QueryOptions {
  dataDir: string;
  store?: string;
  format?: string;
  at?: string;
  atPosition?: string;
  from?: string;
  to?: string;
  key?: string;
  /** Rows read and printed at a time by current, as-of and history (the store's default; smaller in tests). */
  pageRows?: number;
}

/** An instant from ISO-8601 text: zone-less means UTC; an offset is honoured. µs kept. */
export function parseInstant(text: string, flag: string): number {
  try {
    return parseUtcMicros(text);
  } catch {
    // ISO-8601 only: Date.parse alone would take "x' OR 1=1" for the year 2001.
    const iso = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;
    const ms = iso.test(text.trim()) ? Date.parse(text) : Number.NaN;
    if (Number.isNaN(ms))
      throw new ConfigError('USAGE', `${flag} '${text}' is not an ISO-8601 time, e.g. 2026-11-24T10:42:00Z`);
    const frac = /\.\d{3}(\d{1,3})/.exec(text)?.[1] ?? '';
    return ms * 1000 + Number(frac.padEnd(3, '0'));
  }
}

function splitTable(name: string): [string, string] {
  const dot = name.indexOf('.');
  if (dot <= 0) throw new ConfigError('USAGE', `'${name}' is not database.table`);
  return [name.slice(0, dot), name.slice(dot + 1)];
}

function cell(value: Row[string] | undefined, column: ColumnSchema | undefined): string {
  if (value === null || value === undefined) return '';
  if (!column) return String(value);
  return String(encodeValue(value, column));
}

/** One CSV field: quoted when it holds a quote, a comma or a line break. */
export function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A record's values in the change-file encoding (exact: big numbers as digit strings). */
export function encodeRow(schema: TableSchema, row: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of schema.columns) out[c.name] = encodeValue(row[c.name], c);
  return out;
}

/** What of a table or CSV to print besides the rows: the header, and a table's count of rows. */
interface Framing {
  readonly header: boolean;
  readonly count: boolean;
}

const WHOLE: Framing = { header: true, count: true };

const rowCount = (n: number) => `(${n} row${n === 1 ? '' : 's'})\n`;

function render(
  format: Format,
  header: string[],
  rows: string[][],
  nulls: boolean[][],
  out: NodeJS.WritableStream,
  framing: Framing = WHOLE,
): void {
  if (format === 'csv') {
    if (framing.header) out.write(`${header.map(csvField).join(',')}\n`);
    for (const r of rows) out.write(`${r.map(csvField).join(',')}\n`);
    return;
  }
  const widths = header.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const fit = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
  if (framing.header) {
    out.write(`${header.map((h, i) => fit(h, widths[i]!)).join('  ')}\n`);
    out.write(`${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  }
  rows.forEach((r, j) =>
    out.write(`${r.map((c, i) => fit(nulls[j]![i] ? 'NULL' : c, widths[i]!)).join('  ')}\n`),
  );
  if (framing.count) out.write(rowCount(rows.length));
}

function printRows(
  schema: TableSchema,
  rows: Row[],
  extra: Record<string, string>[] | null,
  format: Format,
  out: NodeJS.WritableStream,
  framing: Framing = WHOLE,
): void {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const names = schema.columns.map((c) => c.name);
  if (format === 'jsonl') {
    rows.forEach((row, i) => {
      out.write(`${JSON.stringify({ ...(extra?.[i] ?? {}), ...encodeRow(schema, row) })}\n`);
    });
    return;
  }
  const extraNames = extra && extra.length > 0 ? Object.keys(extra[0]!) : [];
  const header = [...extraNames, ...names];
  const cells = rows.map((row, i) => [
    ...extraNames.map((n) => extra![i]![n] ?? ''),
    ...names.map((n) => cell(row[n], byName.get(n))),
  ]);
  const nulls = rows.map((row) => [
    ...extraNames.map(() => false),
    ...names.map((n) => row[n] === null || row[n] === undefined),
  ]);
  render(format, header, cells, nulls, out, framing);
}

/** Until `out` has taken what it holds, when it asks to be waited for (a slow reader). */
async function drained(out: NodeJS.WritableStream): Promise<void> {
  const w = out as Partial<Writable>;
  if (w.writableNeedDrain && !w.destroyed) {
    const stop = new AbortController();
    await Promise.race([
      once(out, 'drain', { signal: stop.signal }),
      once(out, 'close', { signal: stop.signal }),
    ]).finally(() => stop.abort());
  }
  if (w.destroyed)
    throw new TransientError('OUTPUT_CLOSED', 'the reader of the answer went away before its end');
}

/** A page of an answer as printRows takes it: the source's columns, and any metadata before them. */
interface PrintedPage {
  rows: Row[];
  extra: Record<string, string>[] | null;
}

/**
 * A large answer (the whole table now or as of a moment, a table's history, a diff) printed page by
 * page as the store reads it: memory holds one page, not the table. A table's columns are aligned
 * within each page, and each page has its header; the count comes last.
 */
async function printPages<P>(
  schema: TableSchema,
  pages: AsyncIterable<P>,
  toPrint: (page: P) => PrintedPage,
  format: Format,
  out: NodeJS.WritableStream,
): Promise<void> {
  let total = 0;
  for await (const page of pages) {
    const { rows, extra } = toPrint(page);
    if (rows.length === 0) continue;
    printRows(schema, rows, extra, format, out, { header: format === 'table' || total === 0, count: false });
    total += rows.length;
    await drained(out);
  }
  if (total === 0) printRows(schema, [], null, format, out);
  else if (format === 'table') out.write(rowCount(total));
}

const asRows = (rows: Row[]): PrintedPage => ({ rows, extra: null });

/** A history page: each version's row, after its metadata. */
const asVersions = (versions: VersionOut[]): PrintedPage => ({
  rows: versions.map((v) => v.row),
  extra: versions.map((v) => ({
    _tt_commit_ts: v.commitTimestamp,
    _tt_op: v.op,
    _tt_deleted: String(v.deleted),
    _tt_version_id: v.versionId,
    _tt_position: v.position,
  })),
});

/**
 * A diff's changes in its order, each with the row it shows (a changed record's row after the
 * change), the columns that changed and, for a changed record, its row before.
 */
export function changesOf(d: DiffOut): { change: string; columns: string[]; row: Row; before: Row | null }[] {
  return [
    ...d.inserted.map((row) => ({ change: 'inserted', columns: [], row, before: null })),
    ...d.deleted.map((row) => ({ change: 'deleted', columns: [], row, before: null })),
    ...d.changed.map((c) => ({ change: 'changed', columns: c.columns, row: c.after, before: c.before })),
  ];
}

/** A diff page: each change's row, after its kind and changed columns. */
const asChanges = (d: DiffOut): PrintedPage => {
  const changes = changesOf(d);
  return {
    rows: changes.map((c) => c.row),
    extra: changes.map((c) => ({ change: c.change, columns: c.columns.join(' ') })),
  };
};

/**
 * `tabletime query …`. With a running `tabletime run` on the data dir, the question goes to it
 * (it holds the DuckDB file); otherwise the file is opened here.
 */

/** A log line on stderr; the logger is loaded only then (a query does not need it otherwise). */
async function logLine(message: string): Promise<void> {
  (await import('./logger.ts')).createLogger().info(message);
}

export async function queryCommand(
  what: string,
  table: string | undefined,
  opts: QueryOptions,
  out: NodeJS.WritableStream,
): Promise<number> {
  const forwarded = await streamFromRunning(resolve(opts.dataDir), 'query', { what, table, opts }, out);
  if (forwarded) {
    if (forwarded.error) throw answeredError(forwarded.error);
    return forwarded.exitCode;
  }
  await using store = await openStore(resolve(opts.dataDir), opts.store, {
    existing: true,
    notice: (m) => void logLine(m),
  });
  return await answerQuery(store, what, table, opts, out);
}

/** `--at-position` text -> the bound to read the history at (a GTID is looked up in the history). */
export async function resolvePosition(store: HistoryStore, text: string): Promise<PositionBound> {
  const parsed = parsePositionText(text);
  if (!parsed)
    throw new ConfigError(
      'USAGE',
      `--at-position '${text}' is neither a binlog position (mysql-bin.000003:4567) nor a GTID (0-1-42 or uuid:42)`,
    );
  if (parsed.kind === 'binlog') return boundAtBinlogPosition(parsed.logFile, parsed.logPosition);
  const bound = await store.positionOfGtid(parsed.gtid);
  if (!bound)
    throw new ConfigError(
      'UNKNOWN_GTID',
      `GTID ${parsed.gtid} is not in the history (no captured table changed in that transaction): give its binlog position file:pos instead`,
    );
  return bound;
}

/**
 * `col=value[,col=value]` of the primary key -> the key as a row (`query history --key`, and the
 * API's `key`). Only key columns, all of them, each value of its column's type.
 */
export function parseKey(schema: TableSchema, text: string, what = 'key'): Row {
  const key: Row = {};
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const table = `${schema.database}.${schema.table}`;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const col = byName.get(part.slice(0, eq).trim());
    if (eq <= 0 || !col || !schema.primaryKeys.includes(col.name))
      throw new ConfigError(
        'USAGE',
        `${what} '${part}' is not column=value of ${table}'s key (${schema.primaryKeys.join(', ')})`,
      );
    const value = part.slice(eq + 1).trim();
    try {
      key[col.name] = decodeValue(value, col);
    } catch {
      throw new ConfigError(
        'USAGE',
        `${what} ${col.name}='${value}' is not a value of ${col.name}'s type (${col.sqlType})`,
      );
    }
  }
  const missing = schema.primaryKeys.filter((k) => !(k in key));
  if (missing.length > 0) throw new ConfigError('USAGE', `${what} lacks ${missing.join(', ')}`);
  return key;
}

/** Answers one query from an open store (here, or inside `tabletime run`). */
export async function answerQuery(
  store: HistoryStore,
  what: string,
  table: string | undefined,
  opts: QueryOptions,
  out: NodeJS.WritableStream,
): Promise<number> {
  const format = (opts.format ?? 'table') as Format;
  if (!['table', 'jsonl', 'csv'].includes(format))
    throw new ConfigError('USAGE', `--format takes table, jsonl or csv, not '${format}'`);
  if (what === 'tables') {
    const tables = await store.tables();
    if (format === 'jsonl') for (const t of tables) out.write(`${JSON.stringify(t)}\n`);
    else
      render(
        format,
        ['table', 'versions'],
        tables.map((t) => [`${t.database}.${t.table}`, String(t.versions)]),
        tables.map(() => [false, false]),
        out,
      );
    return 0;
  }
  if (!table) throw new ConfigError('USAGE', `query ${what} needs a table: database.table`);
  const [database, name] = splitTable(table);
  const schema = await store.schemaOf(database, name);
  if (!schema)
    throw new ConfigError(
      'UNKNOWN_TABLE',
      `no history for ${table}: \`tabletime query tables\` lists what there is`,
    );
  switch (what) {
    case 'current':
      await printPages(schema, store.asOfPages(database, name, null, opts.pageRows), asRows, format, out);
      return 0;
    case 'as-of': {
      if (!opts.at === !opts.atPosition)
        throw new ConfigError(
          'USAGE',
          'query as-of needs either --at TIME (ISO-8601, e.g. 2026-11-24T10:42:00Z) or --at-position (binlog file:pos or GTID)',
        );
      const at = opts.atPosition
        ? await resolvePosition(store, opts.atPosition)
        : parseInstant(opts.at!, '--at');
      await printPages(schema, store.asOfPages(database, name, at, opts.pageRows), asRows, format, out);
      return 0;
    }
    case 'history': {
      const key = opts.key ? parseKey(schema, opts.key, '--key') : undefined;
      await printPages(
        schema,
        store.historyPages(database, name, key, opts.pageRows),
        asVersions,
        format,
        out,
      );
      return 0;
    }
    case 'diff': {
      if (!opts.from || !opts.to)
        throw new ConfigError('USAGE', 'query diff needs --from TIME and --to TIME');
      const pages = store.diffPages(
        database,
        name,
        parseInstant(opts.from, '--from'),
        parseInstant(opts.to, '--to'),
        opts.pageRows,
      );
      await printPages(schema, pages, asChanges, format, out);
      return 0;
    }
    default:
      throw new ConfigError('USAGE', `query takes tables, current, as-of, history or diff, not '${what}'`);
  }
}
