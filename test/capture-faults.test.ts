/**
 * Capture under faults: `kill -9` of the capture process at random moments while a workload runs,
 * and the MariaDB server restarted (cleanly and with `kill -9`) mid-stream. Afterwards the bucket,
 * deduplicated by version id, must hold exactly the workload's committed changes: nothing lost,
 * nothing doubled, nothing invented.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bucketDirOf } from '../src/capture/index.ts';
import { bucketEvents, waitForCheckpoint } from './support/bucket.ts';
import { masterPosition, startCapture } from './support/capture.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { spawnTabletime } from './support/cli.ts';
import { seededRandom, testSeed } from './support/random.ts';
import { Workload } from './support/workload.ts';

function spawnCapture(
  url: string,
  dataDir: string,
  tables: string,
  logLevel = 'warn',
  faults = '',
): ChildProcess {
  const args = [
    'capture',
    '--source',
    url,
    '--tables',
    tables,
    '--data-dir',
    dataDir,
    '--flush-interval-ms',
    '30',
  ];
  return spawnTabletime(args, { TABLETIME_LOG_LEVEL: logLevel, TABLETIME_FAULTS: faults });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Waits until the child's log says `pattern` (it logs 'streaming' once it reads the binlog). */
function waitForLog(child: ChildProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        child.stderr!.off('data', onData);
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`capture exited (${String(code)}) before logging ${pattern}: ${seen}`)),
    );
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('capture under faults', () => {
  let db: TestMariadb;
  let dataDir: string;
  before(async () => {
    db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    dataDir = await mkdtemp(join(tmpdir(), 'tabletime-faults-'));
  });
  after(async () => {
    await db?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('kill -9 of capture at 22 random moments during a workload: every change exactly once', async () => {
    const seed = testSeed('capture kill -9');
    const random = seededRandom(seed);
    await db.query('CREATE TABLE shop.k (id INT PRIMARY KEY, v INT)');
    const dir = join(dataDir, 'kill9');
    const workload = new Workload(random, 'shop.k');
    const conn = await db.connect();
    let kills = 0;
    try {
      for (let round = 0; round < 22; round++) {
        // Every fourth run dies at the worst instant on its own: files published, checkpoint not saved.
        const worstInstant = round % 4 === 1;
        const child = spawnCapture(db.url, dir, 'shop.*', 'warn', worstInstant ? 'capture.after-files' : '');
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        if (round === 0) await waitForCheckpoint(dir, { logFile: '', logPosition: 0 });
        const burst = workload.run(conn, 8 + Math.floor(random() * 8));
        if (worstInstant) {
          // It dies by itself at its first flush that publishes files, before saving the checkpoint.
          await burst;
          const code = await exited(child);
          assert.equal(
            code,
            null,
            `capture was to die at the fault point, but exited with ${String(code)}: ${stderr}`,
          );
          assert.equal(child.signalCode, 'SIGKILL');
        } else {
          await delay(50 + Math.floor(random() * 500));
          child.kill('SIGKILL');
          const code = await exited(child);
          assert.equal(
            code,
            null,
            `capture exited by itself (${String(code)}) instead of being killed: ${stderr}`,
          );
          await burst;
        }
        kills++;
      }
    } finally {
      await conn.end();
    }
    // The last run is stopped cleanly, once it has caught up.
    const child = spawnCapture(db.url, dir, 'shop.*', 'info');
    await waitForLog(child, /"msg":"streaming"/);
    await waitForCheckpoint(dir, await masterPosition(db));
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0, 'a SIGTERM stops capture cleanly');

    const { events, raw, deadLetters } = await bucketEvents(bucketDirOf(dir));
    assert.equal(deadLetters, 0, 'no half-written file is ever visible');
    assert.equal(kills, 22);
    const got = events.map((e) => [e.changeType, e.payload.id, e.payload.v]);
    assert.ok(workload.expected.length > 100, `workload made ${workload.expected.length} changes`);
    assert.ok(
      raw > events.length,
      'the runs killed after publishing re-wrote changes, which deduplication removed',
    );
    assert.deepEqual(got, workload.expected, `seed ${seed}: captured history differs from the workload`);
    console.log(
      `# ${kills} kills, ${workload.expected.length} changes, ${raw} lines written, ${raw - events.length} re-written after kills`,
    );
  });

  it('MariaDB restarted mid-stream (clean, then kill -9): capture resumes by itself', async () => {
    const seed = testSeed('MariaDB restart');
    const random = seededRandom(seed);
    await db.query('CREATE TABLE shop.r (id INT PRIMARY KEY, v INT)');
    await using capture = await startCapture(db, 'shop.r', join(dataDir, 'restart'));
    const workload = new Workload(random, 'shop.r');
    for (const kill9 of [false, true]) {
      let conn = await db.connect();
      await workload.run(conn, 20);
      await conn.end();
      await db.restart({ kill9 });
      conn = await db.connect();
      await workload.run(conn, 20);
      await conn.end();
      await capture.catchUp();
    }
    const { events } = await bucketEvents(capture.bucketDir);
    assert.deepEqual(
      events.map((e) => [e.changeType, e.payload.id, e.payload.v]),
      workload.expected,
      `seed ${seed}`,
    );
  });
});
