/**
 * Apply into the DuckDB history store: real Datastream files give the right histories, applying
 * twice changes nothing, bad lines become dead letters, and capture -> apply keeps every type
 * exact and answers as-of at each pause with the source's content at that pause.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyBucket, applyFile, retryDeadLetters } from '../src/apply/index.ts';
import {
  prepareExactReads,
  readTableSchema,
  rowFromSelect,
  selectList,
} from '../src/capture/select-values.ts';
import { columnFromSqlType, type Row, type TableSchema, valuesEqual } from '../src/core/index.ts';
import { DuckdbStore, type HistoryStore, PostgresStore } from '../src/store/index.ts';
import { binlogEvent } from './support/events.ts';
import { createTestPostgres, type TestPostgres } from './support/postgres.ts';
import { startCapture } from './support/capture.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { DATASTREAM_FIXTURES, REPO_ROOT } from './support/paths.ts';
import { seededRandom, testSeed } from './support/random.ts';
import { Workload } from './support/workload.ts';

const fixture = (name: string) => join(DATASTREAM_FIXTURES, `${name}.avro`);
const plain = (rows: Row[]) =>
  JSON.parse(JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))) as unknown;

/**
 * Records the SQL a store sends to its database (the real one; the statements still run), and the
 * views it re-creates, from now on.
 */
function spyOnStatements(store: HistoryStore): string[] {
  const seen: string[] = [];
  const dialect = (store as unknown as { dialect: Record<string, unknown> }).dialect;
  for (const method of ['run', 'rows', 'change', 'createViews'] as const) {
    const original = dialect[method] as (...args: unknown[]) => Promise<unknown>;
    dialect[method] = (...args: unknown[]) => {
      seen.push(method === 'createViews' ? `CREATE views of ${String(args[1])}` : String(args[0]));
      return original.apply(dialect, args);
    };
  }
  return seen;
}

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`${kind} store`, () => {
    let root: string;
    const databases: TestPostgres[] = [];
    before(async () => {
      root = await mkdtemp(join(tmpdir(), `tabletime-${kind}-`));
    });
    after(async () => {
      for (const db of databases) await db.drop();
      await rm(root, { recursive: true, force: true });
    });
    /** A new, empty store of this kind: a DuckDB file, or a fresh PostgreSQL database. */
    const openStore = async (name: string): Promise<HistoryStore> => {
      if (kind === 'duckdb') return DuckdbStore.open(join(root, `${name}.duckdb`));
      const db = await createTestPostgres();
      databases.push(db);
      return PostgresStore.open(db.url);
    };

    describe(`${kind}: apply`, () => {
      let dir: string;
      before(async () => {
        dir = await mkdtemp(join(tmpdir(), 'tabletime-apply-'));
      });
      after(async () => {
        await rm(dir, { recursive: true, force: true });
      });

      it('real Datastream files apply into the right histories, in any file order', async () => {
        await using store = await openStore('ds');
        const opts = { store, bucketDir: join(dir, 'none'), deadLetterDir: join(dir, 'dl-ds') };
        // CDC before backfill on purpose: versions are ordered by source position, not by arrival.
        for (const f of [
          'DataStreamToSpannerEventsIT__mysql-cdc-Users',
          'DataStreamToSpannerEventsIT__mysql-backfill-Users',
          'SeparateShadowTableDatabaseIT__my_table-simpleTest-pk-update',
          'SeparateShadowTableDatabaseIT__my_table-simpleTest-update-delete',
          'SeparateShadowTableDatabaseIT__my_table-simpleTest-3-inserts',
        ]) {
          assert.equal((await applyFile(fixture(f), opts)).deadLetters, 0);
        }
        const user = (
          id: number,
          name: string,
          age: bigint,
          subscribed: bigint,
          plan: string,
          start: string,
        ) => ({
          id,
          name,
          age,
          subscribed,
          plan,
          startDate: `${start} 00:00:00.000000`,
        });
        assert.deepEqual(
          plain(await store.asOf('l1', 'Users', null)),
          plain([
            user(1, 'Tester Kumar', 30n, 0n, 'A', '2023-01-01'),
            user(3, 'Tester Gupta', 50n, 0n, 'Z', '2023-06-07'),
            user(4, 'Tester', 38n, 1n, 'D', '2023-09-10'),
          ]),
        );
        // The deleted user: its backfill version, then a tombstone that keeps what the row held.
        const two = await store.history('l1', 'Users', { id: 2 });
        assert.deepEqual(
          two.map((v) => [v.op, v.deleted, v.snapshot, v.commitTimestamp]),
          [
            ['INSERT', false, true, '2024-05-09T05:11:39.000000Z'],
            ['DELETE', true, false, '2024-05-09T06:56:53.000000Z'],
          ],
        );
        assert.deepEqual(plain([two[1]!.row]), plain([user(2, 'Tester Yadav', 33n, 1n, 'B', '2024-01-01')]));
        // As of a moment after the backfill and before the CDC, user 2 is there and user 3 is not.
        const between = await store.asOf('l1', 'Users', Date.UTC(2024, 4, 9, 6, 0, 0) * 1000);
        assert.deepEqual(
          between.map((r) => r.id),
          [1, 2],
        );
        // ea-main.my_table: the key change 1 -> 10, an update of 2, the delete of 3.
        assert.deepEqual(await store.asOf('ea-main', 'my_table', null), [
          { id: 2, val: 20 },
          { id: 10, val: 10 },
        ]);
        assert.deepEqual(
          (await store.history('ea-main', 'my_table', { id: 1 })).map((v) => [v.op, v.deleted]),
          [
            ['INSERT', false],
            ['UPDATE-DELETE', true],
          ],
        );
      });

      // A composite key too: its part after a string that holds a comma, quotes and a backslash.
      for (const composite of [false, true])
        it(`a key column widened from INT to BIGINT keeps one record per key (${composite ? 'composite key' : 'one-column key'})`, async () => {
          // The key's text spells an INT as a number and a BIGINT as a string ([5], ["5"]).
          await using store = await openStore(composite ? 'widened2' : 'widened');
          const region = 'a,"]\\b';
          const primaryKeys = composite ? ['region', 'id'] : ['id'];
          const schemaOf = (idType: string): TableSchema => ({
            database: 'w',
            table: 't',
            primaryKeys,
            // `n` changes type with the key: DuckDB takes no ALTER after the key's re-spelling UPDATE.
            columns: [
              ...(composite ? [columnFromSqlType('region', 'varchar(8)')] : []),
              columnFromSqlType('id', idType),
              columnFromSqlType('v', 'varchar(8)'),
              columnFromSqlType('n', idType),
            ],
          });
          const change = (
            i: number,
            changeType: 'INSERT' | 'UPDATE-INSERT' | 'DELETE',
            values: Row,
            schema: TableSchema,
          ) => ({
            event: binlogEvent(schema, composite ? { region, ...values } : values, {
              changeType,
              logFile: 'b.000001',
              logPosition: 100 + i,
              commitUs: Date.UTC(2026, 0, 1) * 1000 + i * 1_000_000,
            }),
            schema,
          });
          const keyOf = (id: string): Row => (composite ? { region, id } : { id });
          const int = schemaOf('int');
          const big = schemaOf('bigint');
          await store.applyFile('before.jsonl', [
            change(1, 'INSERT', { id: 5, v: 'a', n: 1 }, int),
            change(2, 'INSERT', { id: 6, v: 'b', n: 2 }, int),
          ]);
          await store.applyFile('after.jsonl', [
            change(3, 'UPDATE-INSERT', { id: 5n, v: 'a2', n: 3n }, big),
            change(4, 'DELETE', { id: 6n, v: 'b', n: 2n }, big),
            change(5, 'INSERT', { id: 7n, v: 'c', n: 4n }, big),
          ]);
          const now = (await store.asOf('w', 't', null)).map((r) => [String(r.id), r.v, String(r.n)]);
          assert.deepEqual(now, [
            ['5', 'a2', '3'],
            ['7', 'c', '4'],
          ]);
          assert.deepEqual(
            (await store.history('w', 't', keyOf('5'))).map((v) => v.op),
            ['INSERT', 'UPDATE-INSERT'],
          );
          // A file captured before the widening and applied after it (workers apply files in any
          // order): its versions join the same records.
          await store.applyFile('late-int.jsonl', [
            change(0, 'INSERT', { id: 8, v: 'd', n: 6 }, int),
            change(7, 'DELETE', { id: 8, v: 'd', n: 6 }, int),
            change(8, 'UPDATE-INSERT', { id: 5, v: 'a3', n: 7 }, int),
          ]);
          assert.deepEqual(
            (await store.asOf('w', 't', null)).map((r) => [String(r.id), r.v]),
            [
              ['5', 'a3'],
              ['7', 'c'],
            ],
          );
          // Later files of the new type change nothing more in the history's table: it once
          // rewrote the catalog and the views and scanned the whole history at every batch.
          const statements = spyOnStatements(store);
          await store.applyFile('later.jsonl', [change(6, 'UPDATE-INSERT', { id: 7n, v: 'c2', n: 5n }, big)]);
          const schemaWork = statements.filter(
            (sql) =>
              /\b(ALTER|UPDATE|CREATE|DROP)\b|_tabletime.*columns/i.test(sql) && !sql.includes('_tt_staging'),
          );
          assert.deepEqual(schemaWork, []);
          assert.ok(statements.length > 0, "the spy sees the store's statements");
        });

      it('as-of pages by key and counts; diff reads only what changed and equals comparing two as-ofs', async () => {
        await using store = await openStore('paging');
        const schema: TableSchema = {
          database: 'pg',
          table: 'k',
          primaryKeys: ['region', 'n'],
          columns: [
            columnFromSqlType('region', 'varchar(8)'),
            columnFromSqlType('n', 'bigint'),
            columnFromSqlType('v', 'int'),
          ],
        };
        const random = seededRandom(testSeed('paging'));
        const base = Date.UTC(2026, 0, 1) * 1_000_000;
        const live = new Map<string, Row>();
        const events = [];
        for (let i = 0; i < 400; i++) {
          const keys = [...live.keys()];
          const r = random();
          let changeType: 'INSERT' | 'UPDATE-INSERT' | 'DELETE' = 'INSERT';
          let row: Row = {
            region: ['eu', 'us', "o'k", 'EU'][Math.floor(random() * 4)]!,
            n: BigInt(Math.floor(random() * 1e6)) - 500_000n,
            v: i,
          };
          if (keys.length > 0 && r < 0.4) {
            row = { ...live.get(keys[Math.floor(random() * keys.length)]!)!, v: i };
            changeType = 'UPDATE-INSERT';
          } else if (keys.length > 0 && r < 0.55) {
            row = live.get(keys[Math.floor(random() * keys.length)]!)!;
            changeType = 'DELETE';
          }
          const id = `${String(row.region)}|${String(row.n)}`;
          if (changeType === 'DELETE') live.delete(id);
          else live.set(id, row);
          events.push({
            event: binlogEvent(schema, row, {
              changeType,
              logFile: 'b.000001',
              logPosition: 100 + i,
              commitUs: base + i * 1_000_000,
            }),
            schema,
          });
        }
        await store.applyFile('paging.jsonl', events);
        for (const at of [base + 150_000_000, base + 399_000_000, null]) {
          const all = await store.asOf('pg', 'k', at);
          assert.equal(await store.countAsOf('pg', 'k', at), all.length);
          const paged: Row[] = [];
          let after: Row | undefined;
          for (;;) {
            const page = await store.asOf('pg', 'k', at, { limit: 7, after });
            paged.push(...page);
            if (page.length < 7) break;
            after = page[page.length - 1];
          }
          assert.deepEqual(plain(paged), plain(all), `pages of 7 = the whole table at ${at}`);
        }
        const [t1, t2] = [base + 100_000_000, base + 260_500_000];
        const d = await store.diff('pg', 'k', t1, t2);
        const key = (r: Row) => `${String(r.region)}|${String(r.n)}`;
        const before = new Map((await store.asOf('pg', 'k', t1)).map((r) => [key(r), r]));
        const afterRows = new Map((await store.asOf('pg', 'k', t2)).map((r) => [key(r), r]));
        assert.deepEqual(
          d.inserted.map(key).sort(),
          [...afterRows.keys()].filter((k) => !before.has(k)).sort(),
        );
        assert.deepEqual(
          d.deleted.map(key).sort(),
          [...before.keys()].filter((k) => !afterRows.has(k)).sort(),
        );
        assert.deepEqual(
          d.changed.map((c) => key(c.after)).sort(),
          [...afterRows.keys()]
            .filter((k) => before.has(k) && before.get(k)!.v !== afterRows.get(k)!.v)
            .sort(),
        );
        assert.ok(d.inserted.length > 0 && d.deleted.length > 0 && d.changed.length > 0, 'each kind occurs');
      });

      it('applying a file twice, or the same changes under another file name, changes nothing', async () => {
        await using store = await openStore('idem');
        const bucket = join(dir, 'idem-bucket');
        await mkdir(bucket, { recursive: true });
        const opts = { store, bucketDir: bucket, deadLetterDir: join(dir, 'dl-idem') };
        const src = fixture('DataStreamToSpannerEventsIT__mysql-cdc-Users');
        await copyFile(src, join(bucket, 'a.avro'));
        assert.equal((await applyBucket(opts)).inserted, 4);
        assert.deepEqual(await applyBucket(opts), {
          files: 0,
          skipped: 1,
          events: 0,
          inserted: 0,
          deadLetters: 0,
        });
        // A duplicate notification / a tail written again after a crash: a new name, the same changes.
        await copyFile(src, join(bucket, 'b.avro'));
        const again = await applyBucket(opts);
        assert.equal(again.events, 4);
        assert.equal(again.inserted, 0, 'the version ids are already there');
        assert.equal((await store.tables()).find((t) => t.table === 'Users')!.versions, 4);
        // Backfill (snapshot) rows, twice in one batch under two names, then once more: kept once.
        const backfill = fixture('DataStreamToSpannerEventsIT__mysql-backfill-Users');
        await copyFile(backfill, join(bucket, 'c.avro'));
        await copyFile(backfill, join(bucket, 'd.avro'));
        const both = await applyBucket(opts);
        assert.equal(both.events, 2 * both.inserted, 'each backfill row once');
        assert.ok(both.inserted > 0);
        await copyFile(backfill, join(bucket, 'e.avro'));
        assert.equal((await applyBucket(opts)).inserted, 0);
        assert.equal((await store.tables()).find((t) => t.table === 'Users')!.versions, 4 + both.inserted);
      });

      it('bad lines go to the dead-letter folder with their reason; the good ones land', async () => {
        await using store = await openStore('dead');
        const bucket = join(dir, 'dead-bucket');
        await mkdir(bucket, { recursive: true });
        const good = (
          await readFile(
            join(REPO_ROOT, 'test', 'fixtures', 'datastream-json', 'gtid-binlog-names.jsonl'),
            'utf8',
          )
        )
          .trim()
          .split('\n');
        await writeFile(join(bucket, 'mixed.jsonl'), [good[0], '{"not": "an event"', good[1]].join('\n'));
        const deadLetterDir = join(dir, 'dl-dead');
        const r = await applyBucket({ store, bucketDir: bucket, deadLetterDir });
        assert.deepEqual([r.events, r.inserted, r.deadLetters], [2, 2, 1]);
        const [letterFile] = await readdir(deadLetterDir);
        const letter = JSON.parse(
          (await readFile(join(deadLetterDir, letterFile!), 'utf8')).trim(),
        ) as Record<string, unknown>;
        assert.equal(letter.file, 'mixed.jsonl');
        assert.equal(letter.line, 2);
        assert.equal(letter.code, 'MALFORMED_JSON');
        assert.equal(letter.raw, '{"not": "an event"');
        // Read again by a store that lacks the file (as after a crash before the commit): the
        // dead letter is filed once, not once per reading.
        {
          await using again = await openStore('dead-again');
          assert.equal(
            (await applyBucket({ store: again, bucketDir: bucket, deadLetterDir })).deadLetters,
            1,
          );
        }
        assert.deepEqual(await readdir(deadLetterDir), [letterFile]);
        assert.equal((await readFile(join(deadLetterDir, letterFile!), 'utf8')).trim().split('\n').length, 1);

        // Not fixed yet: the retry keeps it.
        assert.deepEqual(await retryDeadLetters({ store, bucketDir: bucket, deadLetterDir }), {
          applied: 0,
          remaining: 1,
        });
        // Fixed (here, by correcting the line in the dead-letter file): the retry applies it, once.
        const fixedLine = good[1]!
          .replace('"id":3', '"id":30')
          .replace('"binlog_position":4', '"binlog_position":44');
        await writeFile(
          join(deadLetterDir, letterFile!),
          `${JSON.stringify({ ...letter, raw: fixedLine })}\n`,
        );
        assert.deepEqual(await retryDeadLetters({ store, bucketDir: bucket, deadLetterDir }), {
          applied: 1,
          remaining: 0,
        });
        assert.deepEqual(await readdir(deadLetterDir), []);
        assert.deepEqual(
          (await store.asOf('l1', 'Users', null)).map((r) => r.id),
          [3n, 30n], // a schema-less JSON file: integers are inferred as BIGINT
        );
        assert.deepEqual(await retryDeadLetters({ store, bucketDir: bucket, deadLetterDir }), {
          applied: 0,
          remaining: 0,
        });
      });
    });

    describe(`${kind}: capture -> apply -> query`, () => {
      let db: TestMariadb;
      before(async () => {
        db = await startTestMariadb();
        await db.query('CREATE DATABASE shop');
      });
      after(async () => {
        await db?.stop();
      });

      const sourceRows = async (table: string) => {
        const conn = await db.connect();
        try {
          await prepareExactReads(conn);
          const schema = (await readTableSchema(conn, 'shop', table))!;
          const [rows] = (await conn.query(
            `SELECT ${selectList(schema)} FROM shop.${table} ORDER BY id`,
          )) as unknown as [Record<string, unknown>[]];
          return { schema, rows: rows.map((r) => rowFromSelect(r, schema)) };
        } finally {
          await conn.end();
        }
      };

      const assertSameRows = (got: Row[], want: Row[], label: string) => {
        assert.equal(got.length, want.length, `${label}: row count`);
        want.forEach((w, i) => {
          for (const [k, v] of Object.entries(w)) {
            assert.ok(
              valuesEqual(got[i]![k] ?? null, v),
              `${label}: row ${i} ${k}: store ${String(got[i]![k])} vs source ${String(v)}`,
            );
          }
        });
      };

      it('over several tables, as-of at each pause equals the source then; versions = changes + snapshot rows', async () => {
        const seed = testSeed('capture -> apply');
        const tables = ['w1', 'w2', 'w3'];
        const workloads = new Map<string, Workload>();
        const snapshotRows = new Map<string, number>();
        const conn = await db.connect();
        for (const [n, t] of tables.entries()) {
          await db.query(`CREATE TABLE shop.${t} (id INT PRIMARY KEY, v INT)`);
          const w = new Workload(seededRandom(seed + n), `shop.${t}`);
          workloads.set(t, w);
          snapshotRows.set(t, (await w.preload(conn, 20 + n * 10)).size);
        }
        await using capture = await startCapture(db, 'shop.w*');
        const pauses: { atMicros: number; rows: Map<string, Row[]> }[] = [];
        for (let p = 0; p < 3; p++) {
          for (const w of workloads.values()) await w.run(conn, 6);
          // MariaDB commit times have whole seconds: let this second end before the next change.
          const second = Math.floor(Date.now() / 1000);
          const rows = new Map<string, Row[]>();
          for (const t of tables) rows.set(t, (await sourceRows(t)).rows);
          pauses.push({ atMicros: second * 1_000_000 + 999_999, rows });
          while (Math.floor(Date.now() / 1000) === second) await new Promise((r) => setTimeout(r, 20));
        }
        await conn.end();
        await capture.catchUp();
        await using store = await openStore(`${capture.dataDir.split('-').pop()!}`);
        const r = await applyBucket({
          store,
          bucketDir: capture.bucketDir,
          deadLetterDir: join(capture.dataDir, 'dead-letters'),
        });
        assert.equal(r.deadLetters, 0);
        for (const t of tables) {
          for (const [i, pause] of pauses.entries()) {
            assertSameRows(
              await store.asOf('shop', t, pause.atMicros),
              pause.rows.get(t)!,
              `seed ${seed} ${t} pause ${i}`,
            );
          }
          assertSameRows(await store.asOf('shop', t, null), (await sourceRows(t)).rows, `${t} current`);
          const versions = (await store.tables()).find((x) => x.table === t)!.versions;
          assert.equal(versions, workloads.get(t)!.expected.length + snapshotRows.get(t)!, `${t} versions`);
        }
      });

      it('TRUNCATE ends every current row with a tombstone, also when nothing follows it', async () => {
        await db.query('CREATE TABLE shop.tr (id INT PRIMARY KEY, v VARCHAR(10))');
        await using capture = await startCapture(db, 'shop.tr');
        await db.query("INSERT INTO shop.tr VALUES (1, 'a'), (2, 'b'), (3, 'c')");
        await db.query("UPDATE shop.tr SET v = 'bb' WHERE id = 2");
        await db.query('DELETE FROM shop.tr WHERE id = 3');
        await db.query('TRUNCATE TABLE shop.tr');
        await db.query("INSERT INTO shop.tr VALUES (4, 'd')");
        await capture.catchUp();
        await using store = await openStore(`tr-${kind}`);
        const opts = {
          store,
          bucketDir: capture.bucketDir,
          deadLetterDir: join(capture.dataDir, 'dead-letters'),
        };
        await applyBucket(opts);
        assert.deepEqual(await store.asOf('shop', 'tr', null), [{ id: 4, v: 'd' }]);
        assert.deepEqual(
          (await store.history('shop', 'tr', { id: 2 })).map((v) => [v.op, v.deleted, v.row.v]),
          [
            ['INSERT', false, 'b'],
            ['UPDATE-INSERT', false, 'bb'],
            ['TRUNCATE', true, 'bb'],
          ],
        );
        // A key already deleted before the TRUNCATE gets no second tombstone.
        assert.deepEqual(
          (await store.history('shop', 'tr', { id: 3 })).map((v) => v.op),
          ['INSERT', 'DELETE'],
        );
        // A TRUNCATE with nothing after it is applied too; applying again adds nothing.
        await db.query('TRUNCATE TABLE shop.tr');
        await capture.catchUp();
        await applyBucket(opts);
        assert.deepEqual(await store.asOf('shop', 'tr', null), []);
        const versions = (await store.tables()).find((t) => t.table === 'tr')!.versions;
        await applyBucket(opts);
        assert.equal((await store.tables()).find((t) => t.table === 'tr')!.versions, versions);
        assert.equal(versions, 3 + 1 + 1 + 2 + 1 + 1); // 3 inserts, update, delete, 2 tombstones, insert, 1 tombstone
      });

      it('every column type comes back from the store exactly as the source has it', async () => {
        await db.query(`CREATE TABLE shop.t (id INT PRIMARY KEY, c_bigint_u BIGINT UNSIGNED, c_decimal DECIMAL(65,30), c_dec DECIMAL(10,2),
      c_float FLOAT, c_double DOUBLE, c_date DATE, c_datetime6 DATETIME(6), c_ts TIMESTAMP(6) NULL, c_time TIME(6), c_year YEAR,
      c_bit BIT(64), c_enum ENUM('a','b,c'), c_set SET('x','y'), c_json JSON, c_text TEXT, c_blob BLOB, c_binary BINARY(4))`);
        const conn = await db.connect();
        await conn.query("SET sql_mode = ''");
        await conn.query(`INSERT INTO shop.t VALUES
      (1, 18446744073709551615, '-99999999999999999999999999999999999.999999999999999999999999999999', -0.01, 0.1, 5e-324,
       '0000-00-00', '9999-12-31 23:59:59.999999', '2038-01-19 16:14:07.999999', '-838:59:59.000000', 2155,
       b'1111111111111111111111111111111111111111111111111111111111111111', 'b,c', 'x,y', '{"big": 12345678901234567890}',
       '😀 ünïcödé', x'00ff10', x'01'),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
        await using capture = await startCapture(db, 'shop.t');
        // A DOUBLE with 17 significant digits: the binlog has it exactly, a plain SELECT rounds it.
        await conn.query(
          "UPDATE shop.t SET c_date = '2024-02-00', c_text = 'after', c_double = 97629880765.45299 WHERE id = 1",
        );
        await conn.end();
        await capture.catchUp();
        await using store = await openStore(`${capture.dataDir.split('-').pop()!}`);
        await applyBucket({
          store,
          bucketDir: capture.bucketDir,
          deadLetterDir: join(capture.dataDir, 'dead-letters'),
        });
        assertSameRows(await store.asOf('shop', 't', null), (await sourceRows('t')).rows, 'every type');
        assert.equal((await sourceRows('t')).rows[0]!.c_double, 97629880765.45299);
        const history = await store.history('shop', 't', { id: 1 });
        assert.deepEqual(
          history.map((v) => [v.op, v.row.c_date, v.row.c_text]),
          [
            ['INSERT', '0000-00-00', '😀 ünïcödé'],
            ['UPDATE-INSERT', '2024-02-00', 'after'],
          ],
        );
      });
    });
  });
}
