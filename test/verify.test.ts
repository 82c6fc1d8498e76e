/**
 * `tabletime verify` while `tabletime run` runs and a writer keeps changing the source: a clean
 * match, then differences planted with the binlog off for that session (so capture cannot see
 * them) are found and reported with both sides. And `query as-of --at-position` (binlog position
 * and GTID) returns the tables exactly as they were after a transaction, across tables. And a read
 * that does not hold to its snapshot (DDL, a table without transactions) is read again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { connectSource } from '../src/capture/source.ts';
import { runningHistorySide } from '../src/verify/history-side.ts';
import { verify } from '../src/verify/verify.ts';
import { runTabletime, spawnTabletime, untilRunAnswers } from './support/cli.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { seededRandom, testSeed } from './support/random.ts';

describe('tabletime verify and as-of a position', () => {
  let db: TestMariadb;
  let dataDir: string;
  let child: ChildProcess;
  let stderr = '';
  before(async () => {
    db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    await db.query(
      'CREATE TABLE shop.a (id INT PRIMARY KEY, v VARCHAR(20), d DECIMAL(10,2), ts TIMESTAMP(6) NULL, b BLOB)',
    );
    await db.query('CREATE TABLE shop.k (region VARCHAR(10), n BIGINT, note TEXT, PRIMARY KEY (region, n))');
    const values = Array.from(
      { length: 1500 },
      (_, i) =>
        `(${i + 1}, 'v${i}', ${i}.25, '2026-01-0${(i % 9) + 1} 10:00:00.${i % 1000}', x'0a${(i % 256).toString(16).padStart(2, '0')}')`,
    );
    await db.query(`INSERT INTO shop.a VALUES ${values.join(', ')}`);
    await db.query(
      `INSERT INTO shop.k VALUES ${Array.from({ length: 300 }, (_, i) => `('r${i % 7}', ${9_007_199_254_740_993n + BigInt(i)}, 'n${i}')`).join(', ')}`,
    );
    dataDir = await mkdtemp(join(tmpdir(), 'tabletime-verify-'));
    child = spawnTabletime(
      ['run', '--source', db.url, '--tables', 'shop.*', '--data-dir', dataDir, '--flush-interval-ms', '50'],
      { TABLETIME_LOG_LEVEL: 'warn' },
    );
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await untilRunAnswers(dataDir, () => stderr, 200);
  });
  after(async () => {
    child?.kill('SIGTERM');
    if (child && child.exitCode === null) await new Promise((r) => child.once('exit', r));
    await db?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('matches while a writer runs, then finds a changed and a deleted record planted without the binlog', async () => {
    const random = seededRandom(testSeed('verify writer'));
    let writing = true;
    let writes = 0;
    const conn = await db.connect();
    const writer = (async () => {
      while (writing) {
        const id = 1 + Math.floor(random() * 1500);
        const r = random();
        if (r < 0.6) await conn.query('UPDATE shop.a SET v = ?, d = d + 1 WHERE id = ?', [`w${writes}`, id]);
        else if (r < 0.8) await conn.query('DELETE FROM shop.a WHERE id = ?', [id]);
        else await conn.query('INSERT INTO shop.a (id, v) VALUES (?, ?)', [2000 + writes, `new${writes}`]);
        writes++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      const verify = (...extra: string[]) =>
        runTabletime(['verify', '--source', db.url, '--data-dir', dataDir, '--chunk-rows', '200', ...extra]);
      const clean = await verify();
      assert.match(clean.stdout, /shop\.a: \d+ record\(s\) in \d+ chunk\(s\): match/);
      assert.match(clean.stdout, /shop\.k: 300 record\(s\) in 2 chunk\(s\): match/);
      assert.match(clean.stdout, /everything matches/);
      assert.ok(writes > 20, `the writer ran during verify (${writes} writes)`);

      // Changes the binlog never sees: the history cannot have them, verify must say so.
      const quiet = await db.connect();
      try {
        await quiet.query('SET sql_log_bin = 0');
        await quiet.query("INSERT INTO shop.k VALUES ('zz', 1, 'planted-row')");
        await quiet.query(
          "UPDATE shop.k SET note = 'planted-change' WHERE region = 'r3' AND n = 9007199254740996",
        );
        await quiet.query("DELETE FROM shop.k WHERE region = 'r0' AND n = 9007199254740993");
      } finally {
        await quiet.end();
      }
      await assert.rejects(verify('--tables', 'shop.k'), (err: { code: number; stdout: string }) => {
        assert.equal(err.code, 1, err.stdout);
        assert.match(err.stdout, /shop\.k: 300 record\(s\) in 2 chunk\(s\): 3 MISMATCH\(ES\)/);
        assert.match(
          err.stdout,
          /key \["zz","1"\] at \S+:\d+\n {4}source: {2}\{"region":"zz","n":"1","note":"planted-row"\}\n {4}history: \(no such record\)/,
        );
        assert.match(
          err.stdout,
          /key \["r3","9007199254740996"\][^\n]*\n {4}source: {2}[^\n]*"note":"planted-change"\}\n {4}history: [^\n]*"note":"n3"\}/,
        );
        assert.match(
          err.stdout,
          /key \["r0","9007199254740993"\][^\n]*\n {4}source: {2}\(no such record\)\n {4}history: [^\n]*"note":"n0"\}/,
        );
        assert.doesNotMatch(err.stdout, /shop\.a/, '--tables limits verify');
        return true;
      });
    } finally {
      writing = false;
      await writer;
      await conn.end();
    }
  });

  it('as of a binlog position or a GTID: exactly the state after that transaction, in every table', async () => {
    const conn = await db.connect();
    try {
      const state = async () => ({
        a: JSON.stringify(
          await db.query('SELECT id, v FROM shop.a WHERE id IN (900001, 900002) ORDER BY id'),
        ),
        k: JSON.stringify(
          (
            await db.query<{ n: string; note: string }>(
              "SELECT n, note FROM shop.k WHERE region = 'p' ORDER BY n",
            )
          ).map((r) => ({ n: Number(r.n), note: r.note })),
        ),
      });
      // Records of this test's own (the first test's writer changes ids up to a few thousand).
      await conn.query("INSERT INTO shop.a (id, v) VALUES (900001, 'a'), (900002, 'b')");
      // One transaction over both tables, then others right after it (same second: a time cannot
      // tell them apart, a position can).
      await conn.query('BEGIN');
      await conn.query("UPDATE shop.a SET v = 'tx1' WHERE id IN (900001, 900002)");
      await conn.query("INSERT INTO shop.k VALUES ('p', 1, 'tx1')");
      await conn.query('COMMIT');
      const [[gtid]] = (await conn.query('SELECT @@last_gtid AS g')) as unknown as [{ g: string }[]];
      const [[master]] = (await conn.query('SHOW MASTER STATUS')) as unknown as [
        { File: string; Position: number }[],
      ];
      const atTx1 = await state();
      await conn.query("UPDATE shop.a SET v = 'tx2' WHERE id = 900001");
      await conn.query("INSERT INTO shop.k VALUES ('p', 2, 'tx2')");
      await conn.query('DELETE FROM shop.a WHERE id = 900002');
      await runTabletime(['wait', '--data-dir', dataDir, '--timeout', '30']);

      const asOf = async (table: string, at: string) =>
        (
          await runTabletime([
            'query',
            'as-of',
            table,
            '--data-dir',
            dataDir,
            '--at-position',
            at,
            '--format',
            'jsonl',
          ])
        ).stdout
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const at of [`${master!.File}:${master!.Position}`, gtid!.g]) {
        const a = (await asOf('shop.a', at))
          .filter((r) => r.id === 900001 || r.id === 900002)
          .map((r) => ({ id: r.id, v: r.v }));
        const k = (await asOf('shop.k', at))
          .filter((r) => r.region === 'p')
          .map((r) => ({ n: Number(r.n), note: r.note }));
        assert.deepEqual({ a: JSON.stringify(a), k: JSON.stringify(k) }, atTx1, `as of ${at}`);
      }
      const now = await asOf('shop.a', `${master!.File}:999999999`);
      assert.deepEqual(
        now.filter((r) => r.id === 900001 || r.id === 900002).map((r) => r.v),
        ['tx2'],
        'a later position sees the later transactions',
      );
      await assert.rejects(
        runTabletime(['query', 'as-of', 'shop.a', '--data-dir', dataDir, '--at-position', '0-1-999999']),
        (err: { code: number; stderr: string }) => {
          assert.equal(err.code, 2);
          assert.match(err.stderr, /^tabletime: UNKNOWN_GTID: GTID 0-1-999999 is not in the history/);
          return true;
        },
      );
    } finally {
      await conn.end();
    }
  });

  it('a table truncated or rebuilt, or a write without a transaction, between a snapshot and its read: no false mismatch', async () => {
    // A consistent snapshot holds for transactions only. DDL after it opens makes the read fail
    // (ER_TABLE_DEF_CHANGED) and an Aria table is read as it is now: verify reads again, in a new
    // snapshot and then at a later position, instead of failing or reporting what is not wrong.
    await db.query('CREATE TABLE shop.r (id INT PRIMARY KEY, v VARCHAR(20))');
    await db.query('CREATE TABLE shop.m (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=Aria');
    const rows = Array.from({ length: 40 }, (_, i) => `(${i + 1}, 'v${i}')`).join(', ');
    await db.query(`INSERT INTO shop.r VALUES ${rows}`);
    await db.query(`INSERT INTO shop.m VALUES ${rows}`);
    await runTabletime(['wait', '--data-dir', dataDir, '--timeout', '30']);
    const history = (await runningHistorySide(dataDir))!;
    assert.ok(history, '`run` answers verify');
    const conn = await connectSource(db.url);
    const other = await db.connect();
    try {
      /** verify of one table, with `statement` run once between the first snapshot and its read. */
      const verifyOne = async (table: string, statement?: string) => {
        let done = statement === undefined;
        const [r] = await verify({
          conn,
          history,
          tables: [{ database: 'shop', table }],
          afterSnapshot: async () => {
            if (done) return;
            done = true;
            await other.query(statement!);
          },
        });
        return { rows: r!.rows, mismatches: r!.mismatches, cleared: r!.cleared };
      };
      assert.deepEqual(await verifyOne('r', 'ALTER TABLE shop.r FORCE'), {
        rows: 40,
        mismatches: [],
        cleared: undefined,
      });
      assert.deepEqual(
        await verifyOne('m', "UPDATE shop.m SET v = 'moved' WHERE id = 7"),
        { rows: 40, mismatches: [], cleared: 1 },
        'the record read ahead of its snapshot matched when read again',
      );

      // A real difference is still there when read again: reported, as the later read saw it.
      await other.query('SET sql_log_bin = 0');
      await other.query("UPDATE shop.m SET v = 'planted' WHERE id = 9");
      const planted = await verifyOne('m');
      assert.deepEqual(
        planted.mismatches.map((m) => [m.key, m.source, m.history]),
        [['[9]', '{"id":"9","v":"planted"}', '{"id":"9","v":"v8"}']],
      );
    } finally {
      await other.end();
      await conn.end();
    }
  });

  it('a column dropped while verify reads the table: the rest of the table compares the columns it has now', async () => {
    // verify reads a table's columns once; a DROP COLUMN after that made every later read fail
    // with "Unknown column". The chunks read before compare the columns they had.
    await db.query('CREATE TABLE shop.dc (id INT PRIMARY KEY, v VARCHAR(20), gone VARCHAR(20))');
    const rows = Array.from({ length: 50 }, (_, i) => `(${i + 1}, 'v${i}', 'g${i}')`).join(', ');
    await db.query(`INSERT INTO shop.dc VALUES ${rows}`);
    await runTabletime(['wait', '--data-dir', dataDir, '--timeout', '30']);
    const history = (await runningHistorySide(dataDir))!;
    const conn = await connectSource(db.url);
    const other = await db.connect();
    try {
      let reads = 0;
      const [r] = await verify({
        conn,
        history,
        tables: [{ database: 'shop', table: 'dc' }],
        chunkRows: 20,
        afterSnapshot: async () => {
          // After the first chunk's read: the column goes, and a row changes in the same breath.
          if (++reads !== 2) return;
          await other.query('ALTER TABLE shop.dc DROP COLUMN gone');
          await other.query("UPDATE shop.dc SET v = 'after' WHERE id = 45");
        },
      });
      assert.deepEqual(
        { rows: r!.rows, chunks: r!.chunks, mismatches: r!.mismatches },
        { rows: 50, chunks: 3, mismatches: [] },
      );

      // Still a check: a difference planted in a column that is left is found.
      await other.query('SET sql_log_bin = 0');
      await other.query("UPDATE shop.dc SET v = 'planted' WHERE id = 3");
      const [again] = await verify({ conn, history, tables: [{ database: 'shop', table: 'dc' }] });
      assert.deepEqual(
        again!.mismatches.map((m) => [m.key, m.source, m.history]),
        [['[3]', '{"id":"3","v":"planted"}', '{"id":"3","v":"v2"}']],
      );
    } finally {
      await other.end();
      await conn.end();
    }
  });
});
