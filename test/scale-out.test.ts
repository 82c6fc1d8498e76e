/**
 * Scale-out: three `apply` workers share one durable NATS JetStream consumer and write to
 * PostgreSQL while capture notifies each file; two workers are killed -9 mid-run and restarted.
 * As on separate machines, each process has its own data dir and the files travel through a
 * shared bucket folder (`--bucket`): capture uploads them, workers download what they apply.
 * The history must equal the source exactly (the fault suite's checks): nothing lost, doubled or
 * changed, TRUNCATE tombstones included.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileName, listBucket } from '../src/apply/index.ts';
import { prepareExactReads } from '../src/capture/select-values.ts';
import { PostgresStore } from '../src/store/index.ts';
import { waitForCheckpoint } from './support/bucket.ts';
import { masterPosition } from './support/capture.ts';
import { spawnTabletime } from './support/cli.ts';
import { startTestMariadb } from './support/mariadb.ts';
import { startTestNats } from './support/nats.ts';
import { createTestPostgres } from './support/postgres.ts';
import { seededRandom, testSeed } from './support/random.ts';
import { checkHistory, type Tally } from './torture/torture.ts';
import { CREATE, DATABASE, TortureWorkload } from './torture/workload.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('scale-out: apply workers on a shared JetStream consumer', () => {
  it('3 workers into PostgreSQL, 2 of them killed -9 and restarted: the history equals the source', async () => {
    const seed = testSeed('scale-out');
    const random = seededRandom(seed);
    await using db = await startTestMariadb();
    await using nats = await startTestNats();
    await using pg = await createTestPostgres();
    const dir = await mkdtemp(join(tmpdir(), 'tabletime-scale-'));
    const children: ChildProcess[] = [];
    const logs: string[] = [];
    const start = (args: string[]) => {
      const i = logs.length;
      logs.push('');
      const child = spawnTabletime(args, { TABLETIME_LOG_LEVEL: 'info' });
      child.stderr!.on('data', (d: Buffer) => (logs[i] += d.toString()));
      children.push(child);
      return { child, log: () => logs[i]! };
    };
    const exited = (c: ChildProcess) =>
      c.exitCode !== null || c.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => c.once('exit', r));
    try {
      await db.query(`CREATE DATABASE ${DATABASE}`);
      for (const sql of CREATE) await db.query(sql);
      const workload = new TortureWorkload(random);
      const conn = await db.connect();
      await conn.query("SET time_zone = '+00:00'");
      await workload.preload(conn, 40);
      const subject = `${nats.url}/tt.files?stream=TT`;
      const shared = join(dir, 'shared');
      await mkdir(shared);
      start([
        'capture',
        '--source',
        db.url,
        '--tables',
        `${DATABASE}.*`,
        '--data-dir',
        dir,
        '--notify',
        subject,
        '--bucket',
        shared,
        '--flush-interval-ms',
        '100',
      ]);
      await waitForCheckpoint(dir, await masterPosition(db));
      const workerArgs = (i: number) => [
        'apply',
        '--data-dir',
        join(dir, `worker-${i}`),
        '--bucket',
        shared,
        '--store',
        pg.url,
        '--notifications',
        subject,
        '--sweep-interval',
        '3',
      ];
      const worker = (i: number) => start(workerArgs(i));
      const workers = [worker(0), worker(1), worker(2)];
      // One process per data dir and role: a second worker on worker-0's data dir, and a second
      // capture on capture's, are refused at once, before they touch anything.
      await sleep(1_000);
      for (const args of [
        workerArgs(0),
        ['capture', '--source', db.url, '--tables', `${DATABASE}.*`, '--data-dir', dir],
      ]) {
        const second = start(args);
        const code = await Promise.race([
          new Promise<number | null>((r) => second.child.once('exit', r)),
          sleep(20_000).then(() => 'still running'),
        ]);
        assert.equal(code, 2, `${args[0]} beside another on its data dir: ${second.log()}`);
        assert.match(second.log(), /DATA_DIR_BUSY: another tabletime (apply|capture) is using/);
      }

      // Write for a while; kill two workers -9 at different instants and restart them.
      const started = Date.now();
      const duration = 8_000;
      const killer = (async () => {
        for (const [i, at] of [
          [0, 2_000 + random() * 1_000],
          [1, 4_500 + random() * 1_000],
        ] as const) {
          await sleep(Math.max(0, started + at - Date.now()));
          workers[i]!.child.kill('SIGKILL');
          await exited(workers[i]!.child);
          await sleep(300);
          // On the same data dir: the killed worker's lock went with it.
          workers[i] = worker(i);
        }
      })();
      while (Date.now() - started < duration) {
        await workload.transaction(conn, (Date.now() - started) / duration);
        await sleep(random() * 5);
      }
      await killer;
      await waitForCheckpoint(dir, await masterPosition(db), 60_000);
      for (const w of workers) assert.equal(w.child.exitCode, null, `a worker exited: ${w.log()}`);

      // Every published file applied (by notification, or by a worker's sweep), then compare.
      await using store = await PostgresStore.open(pg.url);
      const bucket = shared;
      const deadline = Date.now() + 60_000;
      for (;;) {
        const files = (await listBucket(bucket)).map((p) => fileName(bucket, p));
        const applied = await store.appliedAmong(files);
        const versions = (await store.tables()).reduce((n, t) => n + t.versions, 0);
        const expected = Object.values(workload.versions).reduce((a, b) => a + b, 0);
        if (applied.size === files.length && versions >= expected) break;
        if (Date.now() > deadline)
          throw new Error(
            `not applied after 60 s: ${applied.size}/${files.length} files, ${versions}/${expected} versions\n${logs
              .map(
                (l, i) =>
                  `--- process ${i} (exit ${children[i]?.exitCode ?? 'running'}):\n${l
                    .split('\n')
                    .filter((x) => !/"level":30/.test(x))
                    .slice(-4)
                    .join('\n')}`,
              )
              .join('\n')}`,
          );
        await sleep(200);
      }
      const tally: Tally = { lost: 0, duplicated: 0, mismatched: 0, versions: 0, problems: [] };
      await prepareExactReads(conn);
      await checkHistory('scale-out', store, conn, workload, [], tally);
      await conn.end();
      console.log(
        `# scale-out seed=${seed}: changes ${workload.changes}, versions ${tally.versions}, lost ${tally.lost}, duplicated ${tally.duplicated}, mismatched ${tally.mismatched}`,
      );
      assert.deepEqual(
        { lost: tally.lost, duplicated: tally.duplicated, mismatched: tally.mismatched },
        { lost: 0, duplicated: 0, mismatched: 0 },
        `seed ${seed}:\n${tally.problems.slice(0, 20).join('\n')}`,
      );
      assert.ok(workload.truncated, 'the workload truncated a table');
      // Capture moved every file to the shared bucket; none is left only on its own disk.
      assert.deepEqual(await listBucket(join(dir, 'bucket')), []);
      assert.ok((await listBucket(shared)).length > 10, 'files reached the shared bucket');
      // The notifications were used (not only the sweeps). How the broker spreads them over the
      // workers depends on timing, so it is printed, not asserted.
      const busy = logs.slice(1).filter((l) => /notified files applied/.test(l)).length;
      console.log(`# scale-out: ${busy} of ${logs.length - 1} worker processes applied notified files`);
      assert.ok(busy >= 1, 'no worker applied a notified file');
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await Promise.all(children.map(exited));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
