/**
 * `tabletime run --store postgres://…` rides out its store going away: PostgreSQL is stopped while
 * the source keeps changing and started again; run stays up (capture goes on writing change
 * files, apply waits for the store; its HTTP API answers 503 STORE_UNREACHABLE), and once the store
 * is back every change is queryable, once, through run's own reader (whose idle connection the stop
 * also broke), on the socket and over HTTP. The same for an apply worker on a NATS subscription:
 * it gives the files it could not apply back, stays up, and applies them once the store is back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, runTabletime, spawnRun, spawnTabletime, untilRunAnswers } from './support/cli.ts';
import { startTestNats, type TestNats } from './support/nats.ts';
import { waitForCheckpoint } from './support/bucket.ts';
import { masterPosition } from './support/capture.ts';
import { PostgresStore } from '../src/store/index.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { type PrivatePostgres, startPrivatePostgres } from './support/private-postgres.ts';
import { seededRandom, testSeed } from './support/random.ts';
import { Workload } from './support/workload.ts';

describe('tabletime run and apply workers while their PostgreSQL store is down', () => {
  let db: TestMariadb;
  let pg: PrivatePostgres;
  let nats: TestNats;
  let dataDir: string;
  before(async () => {
    [db, pg, nats] = await Promise.all([startTestMariadb(), startPrivatePostgres(), startTestNats()]);
    await db.query('CREATE DATABASE shop');
    dataDir = await mkdtemp(join(tmpdir(), 'tabletime-outage-'));
  });
  after(async () => {
    await db?.stop();
    await pg?.remove();
    await nats?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps running, and applies what was captured meanwhile once the store is back', async () => {
    const seed = testSeed('store outage');
    await db.query('CREATE TABLE shop.r (id INT PRIMARY KEY, v INT)');
    const workload = new Workload(seededRandom(seed), 'shop.r');
    const conn = await db.connect();
    const initial = await workload.preload(conn, 20);
    const port = await freePort();
    const run = spawnRun(db.url, dataDir, [
      '--store',
      pg.url,
      '--flush-interval-ms',
      '50',
      '--http',
      `127.0.0.1:${port}`,
    ]);
    const api = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/api/tables/shop/r/current?limit=1000`);
      return {
        status: res.status,
        body: (await res.json()) as { rows?: unknown[]; error?: { code: string } },
      };
    };
    const query = async () =>
      (await runTabletime(['query', 'current', 'shop.r', '--data-dir', dataDir, '--format', 'jsonl'])).stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const r = JSON.parse(l) as { id: number; v: number };
          return [r.id, r.v];
        });
    try {
      await untilRunAnswers(dataDir, run.stderr, 100);
      await workload.run(conn, 10);
      await runTabletime(['wait', '--data-dir', dataDir, '--timeout', '30']);

      await pg.stop();
      await workload.run(conn, 30);
      // Long enough for capture to hand the changes over and for apply to fail on them.
      const deadline = Date.now() + 15_000;
      while (!/STORE_UNREACHABLE/.test(run.stderr()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(run.stderr(), /STORE_UNREACHABLE/, 'apply met the outage');
      assert.equal(run.child.exitCode, null, `run exited while the store was down: ${run.stderr()}`);
      // status still reports the pipeline, and says why the history cannot be read.
      const statusDown = JSON.parse(
        (await runTabletime(['status', '--data-dir', dataDir, '--json'])).stdout,
      ) as { storeError: string | null; captured: unknown; tables: unknown[] };
      assert.match(statusDown.storeError ?? '', /^STORE_UNREACHABLE: /);
      assert.notEqual(statusDown.captured, null);
      assert.deepEqual(statusDown.tables, []);
      assert.match(
        (await runTabletime(['status', '--data-dir', dataDir])).stdout,
        /store +unreachable \(apply waits for it\): STORE_UNREACHABLE/,
      );
      const down = await api();
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.equal(down.body.error?.code, 'STORE_UNREACHABLE');
      await pg.start();

      await runTabletime(['wait', '--data-dir', dataDir, '--timeout', '60']);
      const want = [...workload.stateAfter(initial, workload.expected.length)].sort((a, b) => a[0] - b[0]);
      assert.deepEqual(await query(), want, `seed ${seed}`);
      const up = await api();
      assert.equal(up.status, 200, JSON.stringify(up.body));
      assert.equal(up.body.rows?.length, want.length);
      const status = JSON.parse((await runTabletime(['status', '--data-dir', dataDir, '--json'])).stdout) as {
        storeError: string | null;
        tables: { table: string; versions: number }[];
      };
      assert.equal(status.storeError, null);
      assert.equal(
        status.tables.find((t) => t.table === 'r')!.versions,
        initial.size + workload.expected.length,
        'every change once',
      );
      assert.equal(run.child.exitCode, null, `run exited: ${run.stderr()}`);
    } finally {
      await conn.end();
      await run.stop();
    }
  });

  it('an apply worker gives the files back while the store is down, stays up, and applies them after', async () => {
    const seed = testSeed('store outage worker');
    await db.query('CREATE TABLE shop.w (id INT PRIMARY KEY, v INT)');
    const workload = new Workload(seededRandom(seed), 'shop.w');
    const conn = await db.connect();
    const initial = await workload.preload(conn, 20);
    const dir = await mkdtemp(join(tmpdir(), 'tabletime-outage-worker-'));
    const subject = `${nats.url}/tt.outage?stream=OUTAGE`;
    const logs = { capture: '', worker: '' };
    const capture = spawnTabletime(
      [
        'capture',
        '--source',
        db.url,
        '--tables',
        'shop.w',
        '--data-dir',
        dir,
        '--notify',
        subject,
        '--flush-interval-ms',
        '50',
      ],
      { TABLETIME_LOG_LEVEL: 'warn' },
    );
    capture.stderr!.on('data', (d: Buffer) => (logs.capture += d.toString()));
    // A sweep interval longer than the test: what the worker applies comes by notification.
    const worker = spawnTabletime(
      ['apply', '--data-dir', dir, '--store', pg.url, '--notifications', subject, '--sweep-interval', '600'],
      { TABLETIME_LOG_LEVEL: 'warn' },
    );
    worker.stderr!.on('data', (d: Buffer) => (logs.worker += d.toString()));
    const versions = async () => {
      await using store = await PostgresStore.open(pg.url);
      return (await store.tables()).find((t) => t.table === 'w')?.versions ?? 0;
    };
    const until = async (want: number, what: string) => {
      const deadline = Date.now() + 60_000;
      let got = -1;
      while (Date.now() < deadline) {
        got = await versions().catch(() => -1);
        if (got === want) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.fail(`${what}: ${got} versions, want ${want}\nworker: ${logs.worker}\ncapture: ${logs.capture}`);
    };
    try {
      // The snapshot holds the preloaded rows only; every change after it is a binlog version.
      await waitForCheckpoint(dir, await masterPosition(db));
      await workload.run(conn, 10);
      await until(initial.size + workload.expected.length, 'before the outage');

      await pg.stop();
      await workload.run(conn, 30);
      const deadline = Date.now() + 20_000;
      while (
        !/STORE_UNREACHABLE|cannot reach the PostgreSQL store/.test(logs.worker) &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(logs.worker, /the files will be delivered again/, 'the worker met the outage');
      assert.equal(worker.exitCode, null, `the worker exited while the store was down: ${logs.worker}`);
      await pg.start();

      await until(initial.size + workload.expected.length, 'after the outage');
      assert.equal(worker.exitCode, null, `the worker exited: ${logs.worker}`);
    } finally {
      await conn.end();
      for (const child of [capture, worker]) {
        if (child.exitCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
  });
});
