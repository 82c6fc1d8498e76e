import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { bucketDirOf, type CaptureOptions, runCapture } from '../../src/capture/index.ts';
import type { TestMariadb } from './mariadb.ts';
import { waitForCheckpoint } from './bucket.ts';

export interface RunningCapture extends AsyncDisposable {
  readonly dataDir: string;
  readonly bucketDir: string;
  /** Waits until everything the source has committed so far is captured. */
  catchUp(): Promise<void>;
  stop(): Promise<void>;
}

export async function masterPosition(db: TestMariadb): Promise<{ logFile: string; logPosition: number }> {
  const [row] = await db.query<{ File: string; Position: string }>('SHOW MASTER STATUS');
  return { logFile: row!.File, logPosition: Number(row!.Position) };
}

/** Runs capture in this process until stopped; resolves once it has its first checkpoint. */
export async function startCapture(
  db: TestMariadb,
  tables: string,
  dataDir?: string,
  extra: Partial<
    Pick<
      CaptureOptions,
      | 'snapshotChunkRows'
      | 'snapshot'
      | 'flushIntervalMs'
      | 'maxFileBytes'
      | 'onFiles'
      | 'largeTransactionRows'
      | 'largeTransactionBytes'
      | 'logger'
    >
  > = {},
): Promise<RunningCapture> {
  let dir = dataDir;
  if (!dir) {
    // A folder of our own: gone when the test file's process ends (a test may restart capture in
    // it, or read its bucket, after stop()), not left in /tmp run after run.
    const made = (dir = await mkdtemp(join(tmpdir(), 'tabletime-capture-')));
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  const controller = new AbortController();
  const logger = extra.logger ?? pino({ level: process.env.TABLETIME_TEST_LOG ?? 'silent' });
  const state: { failure: Error | null } = { failure: null };
  const done = runCapture({
    source: db.url,
    tables,
    dataDir: dir,
    logger,
    signal: controller.signal,
    flushIntervalMs: 50,
    ...extra,
  }).catch((err: unknown) => {
    state.failure = err instanceof Error ? err : new Error(String(err));
  });
  const catchUp = async () => {
    await waitForCheckpoint(dir, await masterPosition(db));
    if (state.failure) throw state.failure;
  };
  await catchUp();
  const stop = async () => {
    controller.abort();
    await done;
    if (state.failure) throw state.failure;
  };
  return { dataDir: dir, bucketDir: bucketDirOf(dir), catchUp, stop, [Symbol.asyncDispose]: stop };
}
