/**
 * The consistent snapshot and its handoff to the stream: under concurrent writes the snapshot is
 * the table at one instant and the stream holds exactly the changes after it (no gap, no overlap);
 * a crash inside the snapshot publishes nothing partial; a table added later is snapshotted then.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bucketDirOf } from '../src/capture/index.ts';
import type { ChangeEvent } from '../src/core/index.ts';
import { bucketEvents, listChangeFiles } from './support/bucket.ts';
import { startCapture } from './support/capture.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { spawnTabletime } from './support/cli.ts';
import { seededRandom, testSeed } from './support/random.ts';
import { type ExpectedChange, Workload } from './support/workload.ts';

/**
 * Checks that `events` of one table are a snapshot of the state after the workload's first k
 * changes, followed by exactly the workload's changes from k on, for some k.
 */
function assertHandoff(
  events: readonly ChangeEvent[],
  workload: Workload,
  initial: ReadonlyMap<number, number>,
  label: string,
) {
  const snapshot = events.filter((e) => e.position.snapshot);
  const stream = events.filter((e) => !e.position.snapshot);
  const tail: ExpectedChange[] = stream.map((e) => [
    e.changeType,
    e.payload.id as number,
    e.payload.v as number,
  ]);
  const k = workload.expected.length - tail.length;
  assert.ok(k >= 0, `${label}: the stream has more changes than the workload made`);
  assert.deepEqual(
    tail,
    workload.expected.slice(k),
    `${label}: the stream is not exactly the changes after the snapshot`,
  );
  const snapState = new Map(snapshot.map((e) => [e.payload.id as number, e.payload.v as number]));
  assert.equal(snapState.size, snapshot.length, `${label}: a key appears twice in the snapshot`);
  assert.deepEqual(
    [...snapState].sort((a, b) => a[0] - b[0]),
    [...workload.stateAfter(initial, k)].sort((a, b) => a[0] - b[0]),
    `${label}: the snapshot is not the table as it was just before the stream's first change`,
  );
  return { snapshotRows: snapshot.length, streamChanges: stream.length, k };
}

function runCli(
  args: string[],
  faults = '',
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const child = spawnTabletime(args, { TABLETIME_LOG_LEVEL: 'warn', TABLETIME_FAULTS: faults });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
}

describe('snapshot', () => {
  let db: TestMariadb;
  let dir: string;
  before(async () => {
    db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    dir = await mkdtemp(join(tmpdir(), 'tabletime-snapshot-'));
  });
  after(async () => {
    await db?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('meets the stream without a gap or an overlap while a writer runs', async () => {
    const seed = testSeed('snapshot handoff');
    await db.query('CREATE TABLE shop.h (id INT PRIMARY KEY, v INT)');
    const workload = new Workload(seededRandom(seed), 'shop.h');
    const writer = await db.connect();
    const reader = await db.connect();
    try {
      const initial = await workload.preload(writer, 3000);
      // The writer keeps committing while capture snapshots the table 100 rows a query.
      let stop = false;
      const writing = (async () => {
        while (!stop) await workload.run(writer, 5);
      })();
      const capture = await startCapture(db, 'shop.h', join(dir, 'handoff'), { snapshotChunkRows: 100 });
      stop = true;
      await writing;
      await workload.run(writer, 30); // and some more after it
      await capture.catchUp();
      await capture.stop();
      const { events } = await bucketEvents(capture.bucketDir);
      const result = assertHandoff(events, workload, initial, `seed ${seed}`);
      assert.ok(result.k > 0, 'some changes were committed before the snapshot');
      assert.ok(result.streamChanges > 0, 'some changes came after it');
      // And the history replayed gives today's table.
      const [rows] = (await reader.query('SELECT id, v FROM shop.h ORDER BY id')) as unknown as [
        { id: number; v: number }[],
      ];
      assert.deepEqual(
        rows.map((r) => [r.id, r.v]),
        [...workload.stateAfter(initial, workload.expected.length)].sort((a, b) => a[0] - b[0]),
      );
    } finally {
      await writer.end();
      await reader.end();
    }
  });

  it('pages sized by their bytes: every row of a table wider than a page, once', async () => {
    // 2 KiB a row: the first pages ask for 1,000 rows, the next ones for about 400.
    await db.query('CREATE TABLE shop.wide (id INT PRIMARY KEY, pad TEXT)');
    await db.query(
      "INSERT INTO shop.wide SELECT seq, CONCAT(seq, ':', REPEAT('w', 2048)) FROM shop.seq_1_to_2500",
    );
    const capture = await startCapture(db, 'shop.wide', join(dir, 'wide'));
    await capture.stop();
    const { events, raw } = await bucketEvents(capture.bucketDir);
    assert.equal(raw, 2500, 'every row once');
    assert.deepEqual(
      events.map((e) => Number(e.payload.id)).sort((a, b) => a - b),
      Array.from({ length: 2500 }, (_, i) => i + 1),
    );
    for (const e of events) assert.ok(String(e.payload.pad).startsWith(`${String(e.payload.id)}:`));
  });

  it('a crash inside the snapshot publishes nothing partial; the restart publishes it whole, once', async () => {
    await db.query('CREATE TABLE shop.c (id INT PRIMARY KEY, v INT)');
    const conn = await db.connect();
    const workload = new Workload(seededRandom(1), 'shop.c');
    await workload.preload(conn, 1000);
    await conn.end();
    const dataDir = join(dir, 'crash');
    const args = [
      'capture',
      '--source',
      db.url,
      '--tables',
      'shop.c',
      '--data-dir',
      dataDir,
      '--snapshot-chunk-rows',
      '100',
    ];
    const bucket = bucketDirOf(dataDir);

    const first = await runCli(args, 'snapshot.after-chunk');
    assert.equal(first.signal, 'SIGKILL', first.stderr);
    assert.deepEqual(await listChangeFiles(bucket), [], 'nothing of a half-read snapshot is visible');

    const second = await runCli(args, 'snapshot.before-publish');
    assert.equal(second.signal, 'SIGKILL', second.stderr);
    assert.deepEqual(await listChangeFiles(bucket), [], 'read but not yet published: still nothing visible');
    assert.ok(
      existsSync(join(dataDir, 'capture', 'snapshot-publishing.json')),
      'the intent to publish is saved',
    );

    // The third run finishes publishing the second run's snapshot, then streams; stop it cleanly.
    const capture = await startCapture(db, 'shop.c', dataDir);
    await capture.stop();
    const { events, raw } = await bucketEvents(bucket);
    assert.equal(raw, 1000, 'every row once, no leftovers of the first run');
    assert.deepEqual(
      events.map((e) => e.payload.id).sort((a, b) => (a as number) - (b as number)),
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    assert.equal(new Set(events.map((e) => e.snapshotId)).size, 1);
    assert.ok(!existsSync(join(dataDir, 'capture', 'snapshot-publishing.json')));
  });

  it('the snapshot and the stream after it write one schema and the same values', async () => {
    // information_schema says int(11), bigint(20) unsigned, year(4), double(10,2), zerofill; the
    // binlog path rebuilds int, bigint unsigned, year, double. One schema key, not two. The
    // numeric columns after the YEAR column take their sign from the table map's signedness bits,
    // where YEAR has a bit too; the text after the POINT its collation from the column charsets,
    // where MariaDB gives GEOMETRY an entry. The snapshot reads the POINT as bytes.
    await db.query(
      `CREATE TABLE shop.widths (id INT(11) PRIMARY KEY, b BIGINT(20) UNSIGNED, t TINYINT(1), y YEAR(4),
         d DOUBLE(10,2), f FLOAT(7,3), z INT(5) UNSIGNED ZEROFILL, m DECIMAL(12,2), a INT UNSIGNED,
         n INT, s VARCHAR(30), c CHAR(4), at DATETIME(6), j JSON, x TEXT, e ENUM('a','b'), g POINT,
         after_g VARCHAR(8) CHARACTER SET utf8mb4)`,
    );
    const row = (id: number) =>
      `(${id}, 18446744073709551615, -1, 2024, -1.25, 0.5, 7, -3.10, 4000000000, -5, 's', 'c',
         '2026-12-01 10:00:00.000001', '{"k": 1}', 'text', 'b', ST_GeomFromText('POINT(1 2)'), 'ção')`;
    await db.query(`INSERT INTO shop.widths VALUES ${row(1)}`);
    const capture = await startCapture(db, 'shop.widths', join(dir, 'widths'));
    await db.query(`INSERT INTO shop.widths VALUES ${row(2)}`);
    await capture.catchUp();
    await capture.stop();
    const { events } = await bucketEvents(capture.bucketDir);
    assert.deepEqual(
      events.map((e) => [e.payload.id, e.position.snapshot]),
      [
        [1, true],
        [2, false],
      ],
    );
    const values = (e: ChangeEvent) => ({ ...e.payload, id: 0 });
    assert.deepEqual(values(events[1]!), values(events[0]!));
    assert.deepEqual(
      [
        events[1]!.payload.t,
        events[1]!.payload.d,
        events[1]!.payload.m,
        events[1]!.payload.a,
        events[1]!.payload.n,
      ],
      [-1, -1.25, '-3.10', 4000000000, -5],
    );
    assert.equal(events[1]!.payload.after_g, 'ção');
    assert.equal(
      Buffer.from(events[1]!.payload.g as Uint8Array).toString('hex'),
      '000000000101000000000000000000f03f0000000000000040',
    );
    assert.equal(events[0]!.schemaKey, events[1]!.schemaKey);
  });

  it('a table added to the selection later is snapshotted then, and its stream starts after it', async () => {
    const seed = testSeed('table added later');
    await db.query('CREATE TABLE shop.a (id INT PRIMARY KEY, v INT)');
    await db.query('CREATE TABLE shop.b (id INT PRIMARY KEY, v INT)');
    const dataDir = join(dir, 'later');
    const wa = new Workload(seededRandom(seed), 'shop.a');
    const wb = new Workload(seededRandom(seed + 1), 'shop.b');
    const conn = await db.connect();
    try {
      const initialB = await wb.preload(conn, 200);
      let capture = await startCapture(db, 'shop.a', dataDir);
      await wa.run(conn, 20);
      await wb.run(conn, 20); // b is not captured yet
      await capture.catchUp();
      await capture.stop();
      await wb.run(conn, 20); // while capture is down
      capture = await startCapture(db, 'shop.a,shop.b', dataDir);
      await wa.run(conn, 20);
      await wb.run(conn, 20);
      await capture.catchUp();
      await capture.stop();
      const { events } = await bucketEvents(capture.bucketDir);
      const b = events.filter((e) => e.table === 'b');
      const result = assertHandoff(b, wb, initialB, `seed ${seed}`);
      assert.equal(result.k, wb.expected.length - result.streamChanges);
      assert.ok(result.snapshotRows > 0 && result.streamChanges > 0);
      const a = events.filter((e) => e.table === 'a');
      assert.deepEqual(
        a.map((e) => [e.changeType, e.payload.id, e.payload.v]),
        wa.expected,
        'table a keeps its history across the restart',
      );
    } finally {
      await conn.end();
    }
  });
});
