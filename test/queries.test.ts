/**
 * The read side of both SQL stores against a model: as-of, its count and keys, the as-of macro or
 * function and the current view, and the history of one key, over random changes to two tables.
 * One has a column named `ts` (the name the as-of macro's parameter once had), the other a column
 * named `rowid` (the name of DuckDB's row id, which DuckDB's as-of plan uses) and a composite key
 * of text and bytes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import {
  type ChangeEvent,
  type ChangeType,
  columnFromSqlType,
  isoFromMicros,
  type Row,
  type TableSchema,
} from '../src/core/index.ts';
import { type DiffOut, DuckdbStore, type HistoryStore, PostgresStore } from '../src/store/index.ts';
import { binlogEvent } from './support/events.ts';
import { createTestPostgres, type TestPostgres, wrongEndsSql } from './support/postgres.ts';
import { seededRandom, testSeed } from './support/random.ts';

const A: TableSchema = {
  database: 'q',
  table: 'a',
  primaryKeys: ['id'],
  columns: [
    columnFromSqlType('id', 'bigint(20) unsigned'),
    columnFromSqlType('ts', 'datetime'),
    columnFromSqlType('v', 'varchar(20)'),
  ],
};
const B: TableSchema = {
  database: 'q',
  table: 'b',
  primaryKeys: ['code', 'bin'],
  columns: [
    columnFromSqlType('code', 'varchar(8)'),
    columnFromSqlType('bin', 'varbinary(4)'),
    columnFromSqlType('rowid', 'int'),
    columnFromSqlType('v', 'int'),
  ],
};

/** Like A, but its commit times do not follow its positions (see `changes`). */
const C: TableSchema = { ...A, table: 'c' };

const BASE = Date.UTC(2026, 0, 1) * 1000;
/** JSON-comparable: bigints as `123n`, bytes as hex (JSON.stringify would call Buffer's toJSON first). */
const plain = (v: unknown) =>
  JSON.parse(
    JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
      const raw = this[k];
      if (raw instanceof Uint8Array) return Buffer.from(raw).toString('hex');
      return typeof x === 'bigint' ? `${x}n` : x;
    }),
  ) as unknown;

interface Change {
  event: ChangeEvent;
  key: string;
}

/**
 * Random inserts, updates and deletes; snapshot rows first. Commit times one second apart, or for
 * C at random over the same 300 s, so that a later change can carry an earlier time (as a
 * snapshot's rows carry the time it started): the state at a time is still each key's last change
 * by position among those committed by then.
 */
function changes(schema: TableSchema, seed: string, count: number): Change[] {
  const random = seededRandom(testSeed(seed));
  const keyOf = (r: Row) => JSON.stringify(plain(schema.primaryKeys.map((k) => r[k])));
  const newRow = (i: number): Row =>
    schema !== B
      ? {
          id: BigInt(Math.floor(random() * 60)) + 18_446_744_073_709_551_000n,
          ts: '2026-03-04 05:06:07',
          v: `v${i}`,
        }
      : {
          code: ['a', 'b', "c'd", 'A'][Math.floor(random() * 4)]!,
          bin: new Uint8Array([Math.floor(random() * 4), 0, 255]),
          rowid: i,
          v: i,
        };
  const live = new Map<string, Row>();
  const out: Change[] = [];
  // Snapshot rows come first in source order (position '0:…'): only the leading inserts are.
  let snapshotting = true;
  for (let i = 0; i < count; i++) {
    const keys = [...live.keys()];
    const r = random();
    let changeType: ChangeType = 'INSERT';
    let row = newRow(i);
    if (keys.length > 0 && r < 0.45) {
      const old = live.get(keys[Math.floor(random() * keys.length)]!)!;
      row =
        schema !== B
          ? { ...old, v: `v${i}`, ts: `2026-03-04 05:06:${String(i % 60).padStart(2, '0')}` }
          : { ...old, v: i, rowid: -i };
      changeType = 'UPDATE-INSERT';
    } else if (keys.length > 0 && r < 0.6) {
      row = live.get(keys[Math.floor(random() * keys.length)]!)!;
      changeType = 'DELETE';
    } else if (live.has(keyOf(row))) {
      changeType = 'UPDATE-INSERT';
    }
    if (changeType === 'DELETE') live.delete(keyOf(row));
    else live.set(keyOf(row), row);
    const event = binlogEvent(schema, row, {
      changeType,
      logPosition: 1000 + i * 10,
      commitUs: BASE + (schema === C ? Math.floor(random() * count) : i) * 1_000_000,
    });
    snapshotting &&= i < 10 && changeType === 'INSERT';
    if (snapshotting) {
      out.push({
        key: keyOf(row),
        event: {
          ...event,
          changeType: 'INSERT',
          position: { ...event.position, snapshot: true, logFile: '', logPosition: 0, rowIndex: i },
        },
      });
    } else out.push({ key: keyOf(row), event });
  }
  return out;
}

/** The table at `at` (µs) by the model: each key's last change up to then, unless it is a delete. */
function modelAt(all: readonly Change[], at: number): Row[] {
  const state = new Map<string, Row>();
  for (const c of all) {
    if ((c.event.commitTimestampUs ?? 0) > at) continue;
    if (c.event.changeType === 'DELETE') state.delete(c.key);
    else state.set(c.key, c.event.payload);
  }
  return [...state.values()];
}

const sortRows = (rows: readonly Row[]) =>
  (plain(rows) as Record<string, unknown>[]).map((r) => JSON.stringify(r)).sort();

/** The diff from one moment to the other by the model (null: now), each list sorted as sortRows. */
function modelDiff(all: readonly Change[], schema: TableSchema, from: number | null, to: number | null) {
  const keyOf = (r: Row) => JSON.stringify(plain(schema.primaryKeys.map((k) => r[k])));
  const [before, after] = [from, to].map(
    (at) => new Map(modelAt(all, at ?? Infinity).map((r) => [keyOf(r), r] as const)),
  ) as [Map<string, Row>, Map<string, Row>];
  const same = (x: unknown, y: unknown) => JSON.stringify(plain(x)) === JSON.stringify(plain(y));
  const changed = [...after]
    .filter(([k, r]) => before.has(k) && !same(before.get(k), r))
    .map(([k, r]) => {
      const old = before.get(k)!;
      return {
        before: old,
        after: r,
        columns: schema.columns.map((c) => c.name).filter((n) => !same(old[n], r[n])),
      };
    });
  return {
    inserted: sortRows([...after].filter(([k]) => !before.has(k)).map(([, r]) => r)),
    deleted: sortRows([...before].filter(([k]) => !after.has(k)).map(([, r]) => r)),
    changed: changed.map((c) => JSON.stringify(plain(c))).sort(),
  };
}

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`${kind}: queries against a model`, () => {
    let root: string;
    let db: TestPostgres | undefined;
    let location: string;
    let store: HistoryStore;
    const all = {
      a: changes(A, 'queries-a', 300),
      b: changes(B, 'queries-b', 300),
      c: changes(C, 'queries-c', 300),
    };
    const tables = [
      ['a', all.a, A],
      ['b', all.b, B],
      ['c', all.c, C],
    ] as const;
    const moments = [BASE - 1, BASE + 9_500_000, BASE + 120_500_000, BASE + 299_000_000, BASE + 400_000_000];
    // Every third commit time of C, and the moment just before it.
    const everySecond = [...new Set(all.c.map((c) => c.event.commitTimestampUs!))]
      .sort((x, y) => x - y)
      .filter((_, i) => i % 3 === 0)
      .flatMap((t) => [t - 1, t]);

    const reopen = async () =>
      kind === 'duckdb' ? DuckdbStore.open(location) : PostgresStore.open(location);
    /** Runs one statement with the store closed; the first value of its first row, if any. */
    const raw = async (sql: string): Promise<unknown> => {
      if (kind === 'duckdb') {
        const instance = await DuckDBInstance.create(location);
        try {
          const conn = await instance.connect();
          const rows = (await conn.runAndReadAll(sql)).getRows();
          conn.closeSync();
          return rows[0]?.[0];
        } finally {
          instance.closeSync();
        }
      }
      const client = new pg.Client({ connectionString: location });
      await client.connect();
      try {
        return Object.values((await client.query(sql)).rows[0] ?? {})[0];
      } finally {
        await client.end();
      }
    };

    before(async () => {
      root = await mkdtemp(join(tmpdir(), `tabletime-queries-${kind}-`));
      if (kind === 'duckdb') location = join(root, 'store.duckdb');
      else location = (db = await createTestPostgres()).url;
      store = await reopen();
      // In several files, so that versions land in several inserts; C's files last first, so
      // that versions also arrive before the ones they follow.
      for (const [name, list, schema] of tables) {
        const starts = Array.from({ length: Math.ceil(list.length / 70) }, (_, j) => j * 70);
        for (const i of schema === C ? starts.reverse() : starts)
          await store.applyFile(
            `${name}-${i}.jsonl`,
            list.slice(i, i + 70).map((c) => ({ event: c.event, schema })),
          );
      }
    });
    after(async () => {
      await store.close().catch(() => undefined);
      await db?.drop();
      await rm(root, { recursive: true, force: true });
    });

    it('as-of, its count and its keys match the model at every moment', async () => {
      for (const [table, list] of tables) {
        for (const at of table === 'c' ? everySecond : moments) {
          const expected = modelAt(list, at);
          const got = await store.asOf('q', table, at);
          assert.deepEqual(sortRows(got), sortRows(expected), `${table} at ${at - BASE}`);
          assert.equal(await store.countAsOf('q', table, at), expected.length);
          assert.equal((await store.keysAsOf('q', table, at)).length, expected.length);
        }
        assert.deepEqual(sortRows(await store.asOf('q', table, null)), sortRows(modelAt(list, Infinity)));
      }
    });

    it('as-of a page at a time gives the same records in the same order, in pages of the size asked', async () => {
      for (const [table] of tables) {
        for (const at of [...moments, null]) {
          const whole = await store.asOf('q', table, at);
          const pages: Row[][] = [];
          for await (const page of store.asOfPages('q', table, at, 7)) pages.push(page);
          assert.deepEqual(plain(pages.flat()), plain(whole), `${table} at ${at}`);
          assert.ok(
            pages.every((p) => p.length > 0 && p.length <= 7),
            `${table}: pages of 1–7 records`,
          );
          assert.equal(pages.length, Math.ceil(whole.length / 7), table);
        }
      }
    });

    it('history a page at a time gives the same versions in the same order, in pages of the size asked', async () => {
      for (const [table, list, schema] of tables) {
        const first = list[0]!.event.payload;
        const key: Row = Object.fromEntries(schema.primaryKeys.map((n) => [n, first[n]!]));
        for (const k of [undefined, key]) {
          const whole = await store.history('q', table, k);
          const pages = [];
          for await (const page of store.historyPages('q', table, k, 7)) pages.push(page);
          assert.deepEqual(plain(pages.flat()), plain(whole), `${table} ${k ? 'one key' : 'all'}`);
          assert.ok(
            pages.every((p) => p.length > 0 && p.length <= 7),
            `${table}: pages of 1–7 versions`,
          );
          assert.equal(pages.length, Math.ceil(whole.length / 7), table);
        }
        assert.equal((await store.history('q', table)).length, list.length, table);
      }
    });

    it('diff matches the model between every two moments, either way round', async () => {
      let reversed = 0;
      for (const [table, list, schema] of tables) {
        const at: (number | null)[] = table === 'c' ? everySecond.filter((_, i) => i % 12 === 0) : moments;
        for (const [from, to] of [...at, null].flatMap((f) => [...at, null].map((t) => [f, t] as const))) {
          const got = await store.diff('q', table, from, to);
          const expected = modelDiff(list, schema, from, to);
          const where = `${table} from ${from === null ? 'now' : from - BASE} to ${to === null ? 'now' : to - BASE}`;
          assert.deepEqual(sortRows(got.inserted), expected.inserted, `${where}: inserted`);
          assert.deepEqual(sortRows(got.deleted), expected.deleted, `${where}: deleted`);
          assert.deepEqual(
            got.changed.map((c) => JSON.stringify(plain(c))).sort(),
            expected.changed,
            `${where}: changed`,
          );
          if ((from ?? Infinity) > (to ?? Infinity) && expected.deleted.length + expected.changed.length > 0)
            reversed++;
        }
      }
      assert.ok(reversed > 0, 'some diffs asked backwards have changes');
    });

    it('diff a page at a time gives the same changes in the same order, in pages of the size asked', async () => {
      let paged = 0;
      for (const [table] of tables) {
        for (const [from, to] of moments.flatMap((f) => moments.map((t) => [f, t] as const))) {
          const whole = await store.diff('q', table, from, to);
          const pages = [];
          for await (const page of store.diffPages('q', table, from, to, 7)) pages.push(page);
          for (const kind of ['inserted', 'deleted', 'changed'] as const)
            assert.deepEqual(
              plain(pages.flatMap((p) => p[kind] as unknown[])),
              plain(whole[kind]),
              `${table} ${kind}`,
            );
          const sizes = pages.map((p) => p.inserted.length + p.deleted.length + p.changed.length);
          assert.ok(
            sizes.every((n) => n <= 7),
            `${table}: pages of at most 7 changes`,
          );
          if (pages.length > 1) paged++;
        }
      }
      assert.ok(paged > 0, 'some diffs came in more than one page');
    });

    it('the pages of one answer all come from the moment it began, while versions are applied between them', async () => {
      const P: TableSchema = { ...A, table: 'p' };
      const row = (i: number, v: string): Row => ({ id: BigInt(i), ts: '2026-03-04 05:06:07', v });
      const at = (i: number) => ({ logPosition: 500_000 + i * 10, commitUs: BASE + (500 + i) * 1_000_000 });
      await store.applyFile(
        'p-1.jsonl',
        Array.from({ length: 20 }, (_, i) => ({
          event: binlogEvent(P, row(i + 1, 'before'), at(i)),
          schema: P,
        })),
      );
      const pages = store.asOfPages('q', 'p', null, 5)[Symbol.asyncIterator]();
      const first = await pages.next();
      // Between the pages: every record deleted but the first, ten new ones, the first updated.
      const later = [
        ...Array.from({ length: 19 }, (_, i) =>
          binlogEvent(P, row(i + 2, 'before'), { ...at(100 + i), changeType: 'DELETE' }),
        ),
        ...Array.from({ length: 10 }, (_, i) => binlogEvent(P, row(i + 21, 'new'), at(200 + i))),
        binlogEvent(P, row(1, 'after'), { ...at(300), changeType: 'UPDATE-INSERT' }),
      ];
      await store.applyFile(
        'p-2.jsonl',
        later.map((event) => ({ event, schema: P })),
      );
      const seen = [...(first.value as Row[])];
      for (let page = await pages.next(); !page.done; page = await pages.next()) seen.push(...page.value);
      assert.deepEqual(
        seen.map((r) => `${String(r.id)}:${String(r.v)}`),
        Array.from({ length: 20 }, (_, i) => `${i + 1}:before`),
      );
      // A new answer sees the versions applied since.
      const now: Row[] = [];
      for await (const page of store.asOfPages('q', 'p', null, 5)) now.push(...page);
      assert.deepEqual(
        now.map((r) => `${String(r.id)}:${String(r.v)}`),
        ['1:after', ...Array.from({ length: 10 }, (_, i) => `${i + 21}:new`)],
      );
    });

    it('a table without a key is a multiset: a tombstone removes one row of the same values, in as-of, its count, the views and diff', async () => {
      // A keyless row has no identity to follow (docs/history-tables.md): a DELETE, or an update's
      // old image (UPDATE-DELETE, as capture writes it), removes one row holding the same values.
      const K: TableSchema = { ...A, table: 'k', primaryKeys: [] };
      const at = (i: number) => ({ logPosition: 700_000 + i * 10, commitUs: BASE + (700 + i) * 1_000_000 });
      const row = (i: number, v = `k${i}`): Row => ({ id: BigInt(i), ts: '2026-03-04 05:06:07', v });
      const ev = (r: Row, i: number, changeType?: ChangeType) => ({
        event: binlogEvent(K, r, { ...at(i), ...(changeType ? { changeType } : {}) }),
        schema: K,
      });
      await store.applyFile('k-1.jsonl', [
        ...[1, 2, 3, 4].map((i) => ev(row(i), i)),
        ev(row(2), 5, 'DELETE'),
        ev(row(5), 6),
      ]);
      const ids = (rows: readonly Row[]) => rows.map((r) => `${String(r.id)}:${String(r.v)}`).sort();
      const state = async (i: number | null) => {
        const moment = i === null ? null : at(i).commitUs;
        const rows = ids(await store.asOf('q', 'k', moment));
        assert.equal(await store.countAsOf('q', 'k', moment), rows.length, `count at ${i}`);
        return rows;
      };
      assert.deepEqual(await state(0), []);
      assert.deepEqual(await state(2), ['1:k1', '2:k2']);
      assert.deepEqual(await state(5), ['1:k1', '3:k3', '4:k4'], 'the DELETE removed row 2');
      assert.deepEqual(await state(null), ['1:k1', '3:k3', '4:k4', '5:k5']);
      // A second row like row 1; an update of row 3 (its old image's tombstone, then the new
      // image); one of the two rows like row 1 deleted.
      await store.applyFile('k-2.jsonl', [
        ev(row(1), 7),
        ev(row(3), 8, 'UPDATE-DELETE'),
        ev(row(3, 'k3 again'), 8, 'UPDATE-INSERT'),
        ev(row(1), 9, 'DELETE'),
      ]);
      assert.deepEqual(await state(7), ['1:k1', '1:k1', '3:k3', '4:k4', '5:k5'], 'a row held twice');
      assert.deepEqual(await state(8), ['1:k1', '1:k1', '3:k3 again', '4:k4', '5:k5']);
      const now = ['1:k1', '3:k3 again', '4:k4', '5:k5'];
      assert.deepEqual(await state(null), now, 'one of the two rows like row 1 is left');
      // Its diff is the rows added and gone, a multiset.
      const d = await store.diff('q', 'k', at(2).commitUs, at(8).commitUs);
      assert.deepEqual(
        { inserted: ids(d.inserted), deleted: ids(d.deleted), changed: d.changed.length },
        { inserted: ['1:k1', '3:k3 again', '4:k4', '5:k5'], deleted: ['2:k2'], changed: 0 },
      );
      // Read a page at a time, as the CLI and the HTTP API read it: the same changes, in pages (the
      // whole diff was read into memory at once before).
      const pages: DiffOut[] = [];
      for await (const page of store.diffPages('q', 'k', at(2).commitUs, at(8).commitUs, 2)) pages.push(page);
      assert.ok(pages.length > 1, `${pages.length} page(s)`);
      assert.deepEqual(
        [ids(pages.flatMap((p) => p.inserted)), ids(pages.flatMap((p) => p.deleted))],
        [ids(d.inserted), ids(d.deleted)],
      );
      const back = await store.diff('q', 'k', at(9).commitUs, at(0).commitUs);
      assert.deepEqual(
        { inserted: ids(back.inserted), deleted: ids(back.deleted), changed: back.changed.length },
        { inserted: [], deleted: now, changed: 0 },
      );
      // The current view and the as-of macro or function, in SQL, say the same.
      await store.close();
      assert.equal(Number(await raw('SELECT count(*) FROM "q"."k"')), now.length);
      const mid = `CAST('${isoFromMicros(at(7).commitUs)}' AS TIMESTAMP WITH TIME ZONE)`;
      assert.equal(Number(await raw(`SELECT count(*) FROM "q"."k__as_of"(${mid})`)), 5);
      store = await reopen();
    });

    if (kind === 'postgres')
      it("every version's stored end is the earliest commit time of the later versions of its key", async () => {
        await store.close();
        for (const [table] of tables) {
          const wrong = await raw(wrongEndsSql(`"q"."${table}__history"`));
          assert.equal(Number(wrong), 0, table);
        }
        store = await reopen();
      });

    it("the versions view's `_tt_valid_from` and `_tt_valid_to` hold the model's records at every moment", async () => {
      // Its end is the earliest later commit time (as PostgreSQL stores it), not the next version's:
      // with C's commit times, which do not follow positions, the two differ.
      await store.close();
      for (const [table, list] of tables) {
        for (const at of table === 'c' ? everySecond : moments) {
          const t = `CAST('${isoFromMicros(at)}' AS TIMESTAMP WITH TIME ZONE)`;
          const n = await raw(`SELECT count(*) FROM "q"."${table}__versions"
            WHERE _tt_valid_from <= ${t} AND (_tt_valid_to IS NULL OR _tt_valid_to > ${t}) AND NOT _tt_deleted`);
          assert.equal(Number(n), modelAt(list, at).length, `${table} at ${at - BASE}`);
        }
      }
      store = await reopen();
    });

    it('the history of one key holds exactly its versions, for keys of every kind here', async () => {
      for (const [table, list, schema] of tables) {
        const keys = [...new Set(list.map((c) => c.key))];
        assert.ok(keys.length > 10);
        for (const k of keys) {
          const mine = list.filter((c) => c.key === k);
          const first = mine[0]!.event.payload;
          const key: Row = Object.fromEntries(schema.primaryKeys.map((n) => [n, first[n]!]));
          const got = await store.history('q', table, key);
          assert.deepEqual(
            plain(got.map((v) => [v.op, v.row])),
            plain(mine.map((c) => [c.event.changeType, c.event.payload])),
            `${table} ${k}`,
          );
        }
      }
    });

    it('a store whose views an older tabletime made gets them made again when it opens, and only then', async () => {
      await store.close();
      await raw('DROP VIEW "q"."a"');
      await (await reopen()).close();
      await assert.rejects(raw('SELECT count(*) FROM "q"."a"'), 'views of this version are not made again');
      await raw(`UPDATE "_tabletime"."store" SET value = '1' WHERE name = 'views'`);
      await (await reopen()).close();
      assert.equal(Number(await raw('SELECT count(*) FROM "q"."a"')), modelAt(all.a, Infinity).length);
      assert.equal(await raw(`SELECT value FROM "_tabletime"."store" WHERE name = 'views'`), '8');
      store = await reopen();
    });

    if (kind === 'postgres')
      it('a PostgreSQL history made before versions kept their end gets `_tt_valid_to` filled in when it opens', async () => {
        await store.close();
        for (const t of ['a', 'c']) {
          await raw(`ALTER TABLE "q"."${t}__history" DROP COLUMN _tt_valid_to CASCADE`);
        }
        await raw(`UPDATE "_tabletime"."store" SET value = '2' WHERE name = 'views'`);
        const notices: string[] = [];
        store = await PostgresStore.open(location, { notice: (m) => notices.push(m) });
        // The long work at open is announced, table by table, and only where it is done.
        assert.equal(notices.length, 4, notices.join('\n'));
        for (const [i, t] of ['a', 'c'].entries()) {
          assert.match(notices[2 * i]!, new RegExp(`^upgrading q\\.${t}: filling in each version's end`));
          assert.match(notices[2 * i + 1]!, new RegExp(`^upgraded q\\.${t} in \\d+\\.\\d s$`));
        }
        for (const [table, list] of [
          ['a', all.a],
          ['c', all.c],
        ] as const)
          for (const at of [...moments, ...everySecond.filter((_, i) => i % 7 === 0)]) {
            assert.deepEqual(
              sortRows(await store.asOf('q', table, at)),
              sortRows(modelAt(list, at)),
              `${table} at ${at - BASE}`,
            );
          }
      });

    it("the as-of macro (or function) and the current view answer as the model, whatever a table's columns are called", async () => {
      await store.close();
      const counts = async (sql: (t: string, at: string) => string) => {
        const out: number[] = [];
        for (const t of ['a', 'b', 'c'])
          for (const at of moments)
            out.push(Number(await raw(sql(t, `CAST('${isoFromMicros(at)}' AS TIMESTAMPTZ)`))));
        return out;
      };
      const expected = [all.a, all.b, all.c].flatMap((list) => moments.map((at) => modelAt(list, at).length));
      assert.deepEqual(
        await counts((t, at) => `SELECT count(*) AS n FROM "q"."${t}__as_of"(${at})`),
        expected,
      );
      const now = [all.a, all.b, all.c].map((list) => modelAt(list, Infinity).length);
      const current = await counts((t) => `SELECT count(*) AS n FROM "q"."${t}"`);
      assert.deepEqual(
        current,
        now.flatMap((n) => moments.map(() => n)),
      );
      store = await reopen();
    });
  });
}
