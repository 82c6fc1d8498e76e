/**
 * The HTTP API (read-only), on Hono: the tables and their freshness, a table's current state or
 * its state as of a time or a binlog position, one record's history, and the diff between two
 * times; JSON or CSV, paged with a cursor. The request schemas (zod) validate every parameter and
 * generate the OpenAPI document (`/api/openapi.json`). Errors are JSON: `{error: {code, message}}`
 * with the codes of docs/errors.md; parameters are validated and passed to the store as values,
 * never as SQL.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { decodeValue, encodeValue } from '../changefile/index.ts';
import { ConfigError, type Row, type TableSchema, TabletimeError } from '../core/index.ts';
import {
  changesOf,
  csvField,
  encodeRow,
  parseInstant,
  parseKey,
  resolvePosition,
} from '../cli/query-command.ts';
import type { HistoryStore, Moment } from '../store/index.ts';

/** What the running pipeline knows that the store does not (absent under `tabletime serve`). */
export interface PipelineState {
  /** Commit time (ISO, UTC) of the last source transaction captured. */
  readonly capturedUpTo: string | null;
  /** How far the history is behind the source, in seconds (0 when caught up). */
  readonly lagSeconds: number | null;
  /** Changes captured and not yet queryable, and the files holding them. */
  readonly pendingEvents: number;
  readonly pendingFiles: number;
}

export interface ApiOptions {
  readonly store: HistoryStore;
  readonly pipeline?: () => Promise<PipelineState | null>;
  /** `/metrics` (Prometheus text), when a pipeline runs here. */
  readonly metrics?: () => Promise<{ contentType: string; body: string }>;
}

const MAX_LIMIT = 10_000;
const DEFAULT_LIMIT = 1_000;

const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).openapi('Error');

const TableParams = z.object({
  database: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'database', in: 'path' }, example: 'shop' }),
  table: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'table', in: 'path' }, example: 'orders' }),
});

const Paging = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_LIMIT)
    .default(DEFAULT_LIMIT)
    .openapi({ description: `records per page (at most ${MAX_LIMIT})` }),
  cursor: z.string().max(4096).optional().openapi({ description: 'the `next` cursor of the previous page' }),
  format: z.enum(['json', 'csv']).default('json'),
};

const Instant = z
  .string()
  .max(64)
  .openapi({ description: 'ISO-8601; without an offset it is UTC', example: '2026-11-24T10:42:00Z' });

const RowsBody = z
  .object({
    columns: z.array(z.string()),
    rows: z.array(z.record(z.string(), z.unknown())),
    next: z.string().nullable().openapi({ description: 'cursor of the next page, null on the last' }),
  })
  .openapi('Rows');

const errors = {
  400: { description: 'a parameter is wrong', content: { 'application/json': { schema: ErrorBody } } },
  404: { description: 'no such table', content: { 'application/json': { schema: ErrorBody } } },
} as const;
const rowsResponse = {
  200: {
    description: 'one page of records',
    content: { 'application/json': { schema: RowsBody }, 'text/csv': { schema: z.string() } },
  },
  ...errors,
} as const;

const tablesRoute = createRoute({
  method: 'get',
  path: '/api/tables',
  summary: 'The captured tables, their sizes and how fresh their history is',
  responses: {
    200: {
      description: 'the tables',
      content: {
        'application/json': {
          schema: z
            .object({
              tables: z.array(
                z.object({
                  database: z.string(),
                  table: z.string(),
                  versions: z.number(),
                  records: z.number(),
                  lastCommit: z.string().nullable(),
                  columns: z.array(z.object({ name: z.string(), type: z.string() })),
                  primaryKeys: z.array(z.string()),
                }),
              ),
              pipeline: z
                .object({
                  capturedUpTo: z.string().nullable(),
                  lagSeconds: z.number().nullable(),
                  pendingEvents: z.number(),
                  pendingFiles: z.number(),
                })
                .nullable(),
            })
            .openapi('Tables'),
        },
      },
    },
  },
});

const currentRoute = createRoute({
  method: 'get',
  path: '/api/tables/{database}/{table}/current',
  summary: "The table's current state, ordered by key",
  request: { params: TableParams, query: z.object(Paging) },
  responses: rowsResponse,
});

const asOfRoute = createRoute({
  method: 'get',
  path: '/api/tables/{database}/{table}/as-of',
  summary: 'The table as it was at a time, or right after a binlog position or GTID',
  request: {
    params: TableParams,
    query: z.object({
      at: Instant.optional(),
      position: z
        .string()
        .max(200)
        .optional()
        .openapi({ description: 'binlog file:pos, or a GTID', example: 'mariadb-bin.000003:4567' }),
      ...Paging,
    }),
  },
  responses: rowsResponse,
});

const historyRoute = createRoute({
  method: 'get',
  path: '/api/tables/{database}/{table}/history',
  summary: "One record's versions, oldest first, with what changed in each",
  request: {
    params: TableParams,
    query: z.object({
      key: z
        .string()
        .min(1)
        .max(4096)
        .openapi({ description: 'column=value[,column=value] of the primary key', example: 'id=42' }),
      ...Paging,
    }),
  },
  responses: rowsResponse,
});

const diffRoute = createRoute({
  method: 'get',
  path: '/api/tables/{database}/{table}/diff',
  summary: 'Records inserted, deleted and changed between two times',
  request: { params: TableParams, query: z.object({ from: Instant, to: Instant, ...Paging }) },
  responses: rowsResponse,
});

/** `{error: {code, message}}` with the HTTP status its kind calls for. */
export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof TabletimeError) {
    const status =
      err.code === 'UNKNOWN_TABLE' ? 404 : err.kind === 'config' || err.kind === 'input' ? 400 : 503;
    return c.json({ error: { code: err.code, message: err.message } }, status);
  }
  return c.json({ error: { code: 'INTERNAL', message: 'unexpected error: see the server log' } }, 500);
}

function csv(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const q = (v: unknown) =>
    v === null || v === undefined ? '' : csvField(typeof v === 'string' ? v : JSON.stringify(v));
  return (
    [columns.map(q).join(','), ...rows.map((r) => columns.map((k) => q(r[k])).join(','))].join('\n') + '\n'
  );
}

/** The cursor after a record: its key, encoded, in base64url. */
function keyCursor(schema: TableSchema, row: Row): string {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const key = schema.primaryKeys.map((k) => encodeValue(row[k] ?? null, byName.get(k)!));
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function parseKeyCursor(schema: TableSchema, cursor: string): Row {
  const bad = () => new ConfigError('BAD_CURSOR', 'cursor is not one this API gave: start again without it');
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parts) || parts.length !== schema.primaryKeys.length) throw bad();
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  const row: Row = {};
  schema.primaryKeys.forEach((k, i) => {
    const text = parts[i] as unknown;
    if (typeof text !== 'string' && typeof text !== 'number') throw bad();
    try {
      row[k] = decodeValue(String(text), byName.get(k)!);
    } catch {
      throw bad();
    }
  });
  return row;
}

/** An offset cursor (history, diff, a keyless table's rows): the index of the next item. */
function parseOffset(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const n = Number(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ConfigError('BAD_CURSOR', 'cursor is not one this API gave: start again without it');
  return n;
}

/** The offset cursor of the item at `index`. */
function offsetCursor(index: number): string {
  return Buffer.from(String(index)).toString('base64url');
}

/** One page of a list answered whole (history, diff): the items shown, where they start, the next cursor. */
function offsetPage<T>(items: readonly T[], cursor: string | undefined, limit: number) {
  const from = parseOffset(cursor);
  const shown = items.slice(from, from + limit);
  const next = from + limit < items.length ? offsetCursor(from + limit) : null;
  return { from, shown, next };
}

export function createApi(options: ApiOptions): OpenAPIHono {
  const { store } = options;
  const app = new OpenAPIHono({
    // A parameter that fails its schema: 400 with every problem and where it is.
    defaultHook: (result, c) => {
      if (!result.success) {
        const message = result.error.issues
          .map((i) => `${i.path.join('.') || 'request'}: ${i.message}`)
          .join('; ');
        return c.json({ error: { code: 'BAD_PARAMETER', message } }, 400);
      }
      return undefined;
    },
  });
  app.onError((err, c) => errorResponse(c, err));

  const schemaOf = async (database: string, table: string): Promise<TableSchema> => {
    const schema = await store.schemaOf(database, table);
    if (!schema)
      throw new ConfigError(
        'UNKNOWN_TABLE',
        `no history for ${database}.${table}: GET /api/tables lists what there is`,
      );
    return schema;
  };

  const page = (
    c: Context,
    format: 'json' | 'csv',
    columns: string[],
    rows: Record<string, unknown>[],
    next: string | null,
  ) => {
    if (format === 'csv') {
      if (next) c.header('Link', `<?cursor=${next}>; rel="next"`);
      return c.body(csv(columns, rows), 200, { 'content-type': 'text/csv; charset=utf-8' });
    }
    return c.json({ columns, rows, next }, 200);
  };

  const rowsAt = async (c: Context, database: string, table: string, at: Moment, q: PagingQuery) => {
    const schema = await schemaOf(database, table);
    // A table without a key has no key to page by: its pages go by offset.
    const keyed = schema.primaryKeys.length > 0;
    const after = keyed && q.cursor !== undefined ? parseKeyCursor(schema, q.cursor) : undefined;
    const offset = keyed ? 0 : parseOffset(q.cursor);
    // One more than asked: whether there is a next page.
    const rows = await store.asOf(database, table, at, { after, offset, limit: q.limit + 1 });
    const more = rows.length > q.limit;
    const shown = more ? rows.slice(0, q.limit) : rows;
    const next = !more
      ? null
      : keyed
        ? keyCursor(schema, shown[shown.length - 1]!)
        : offsetCursor(offset + q.limit);
    return page(
      c,
      q.format,
      schema.columns.map((col) => col.name),
      shown.map((r) => encodeRow(schema, r)),
      next,
    );
  };

  app.openapi(tablesRoute, async (c) => {
    const tables = await store.tables();
    const withCounts = [];
    for (const t of tables) {
      const schema = await schemaOf(t.database, t.table);
      withCounts.push({
        ...t,
        records: await store.countAsOf(t.database, t.table, null),
        columns: schema.columns.map((c) => ({ name: c.name, type: c.sqlType })),
        primaryKeys: [...schema.primaryKeys],
      });
    }
    return c.json({ tables: withCounts, pipeline: (await options.pipeline?.()) ?? null }, 200);
  });

  app.openapi(currentRoute, (c) => {
    const { database, table } = c.req.valid('param');
    return rowsAt(c, database, table, null, c.req.valid('query'));
  });

  app.openapi(asOfRoute, async (c) => {
    const { database, table } = c.req.valid('param');
    const q = c.req.valid('query');
    if ((q.at === undefined) === (q.position === undefined))
      throw new ConfigError(
        'USAGE',
        'as-of needs either at (an ISO-8601 time) or position (file:pos or a GTID)',
      );
    const at =
      q.position !== undefined ? await resolvePosition(store, q.position) : parseInstant(q.at!, 'at');
    return rowsAt(c, database, table, at, q);
  });

  app.openapi(historyRoute, async (c) => {
    const { database, table } = c.req.valid('param');
    const q = c.req.valid('query');
    const schema = await schemaOf(database, table);
    const versions = await store.history(database, table, parseKey(schema, q.key));
    const { from, shown, next } = offsetPage(versions, q.cursor, q.limit);
    // Each version shown, and the one before the first, encoded once.
    const base = Math.max(0, from - 1);
    const encoded = versions.slice(base, from + shown.length).map((v) => encodeRow(schema, v.row));
    const at = (index: number) => encoded[index - base]!;
    const columns = [
      '_tt_commit_ts',
      '_tt_op',
      '_tt_deleted',
      '_tt_changed',
      '_tt_position',
      '_tt_version_id',
      ...schema.columns.map((col) => col.name),
    ];
    const rows = shown.map((v, i) => {
      const prev = versions[from + i - 1];
      const now = at(from + i);
      const before = prev ? at(from + i - 1) : null;
      // What this version changed: every column for the first, none for a delete.
      const changed = v.deleted
        ? []
        : schema.columns
            .map((col) => col.name)
            .filter((n) => !before || prev!.deleted || JSON.stringify(before[n]) !== JSON.stringify(now[n]));
      return {
        _tt_commit_ts: v.commitTimestamp,
        _tt_op: v.op,
        _tt_deleted: v.deleted,
        _tt_changed: q.format === 'csv' ? changed.join(' ') : changed,
        _tt_position: v.position,
        _tt_version_id: v.versionId,
        ...now,
      };
    });
    return page(c, q.format, columns, rows, next);
  });

  app.openapi(diffRoute, async (c) => {
    const { database, table } = c.req.valid('param');
    const q = c.req.valid('query');
    const schema = await schemaOf(database, table);
    // Read a page of the store's at a time, up to one change past this page's (whether there is a
    // next page): memory holds a page, not the diff.
    const from = parseOffset(q.cursor);
    const shown: ReturnType<typeof changesOf> = [];
    let seen = 0;
    let more = false;
    const pages = store.diffPages(
      database,
      table,
      parseInstant(q.from, 'from'),
      parseInstant(q.to, 'to'),
      Math.min(10_000, from + q.limit + 1),
    );
    pages: for await (const d of pages) {
      for (const change of changesOf(d)) {
        if (seen++ < from) continue;
        if (shown.length === q.limit) {
          more = true;
          break pages;
        }
        shown.push(change);
      }
    }
    const next = more ? offsetCursor(from + q.limit) : null;
    const columns = ['_tt_change', '_tt_changed', ...schema.columns.map((col) => col.name)];
    const rows = shown.map((x) => ({
      _tt_change: x.change,
      _tt_changed: q.format === 'csv' ? x.columns.join(' ') : x.columns,
      ...encodeRow(schema, x.row),
      ...(q.format === 'json' && x.before ? { _tt_before: encodeRow(schema, x.before) } : {}),
    }));
    return page(c, q.format, columns, rows, next);
  });

  if (options.metrics) {
    const metrics = options.metrics;
    app.get('/metrics', async (c) => {
      const m = await metrics();
      return c.body(m.body, 200, { 'content-type': m.contentType });
    });
  }

  app.doc31('/api/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'tabletime',
      version: '1',
      description:
        'The history of MySQL/MariaDB tables: current state, as of a moment, one record’s versions, diffs. Read-only.',
    },
  });
  return app;
}

type PagingQuery = { limit: number; cursor?: string; format: 'json' | 'csv' };
