import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { applyBucket, retryDeadLetters } from '../apply/index.ts';
import { runApplyWorker } from '../apply/worker.ts';
import { ConfigError, lockDataDir } from '../core/index.ts';
import { checkNotificationsUrl } from '../notify/index.ts';
import { openRemoteBucket, parseBucketUrl } from '../bucket/index.ts';
import { bucketDirOf } from '../capture/index.ts';
import { openStore } from '../store/index.ts';
import { createLogger } from './logger.ts';
import { positiveSecondsMs } from './numbers.ts';

export interface ApplyCommandOptions {
  dataDir: string;
  store?: string;
  retryDeadLetters?: boolean;
  notifications?: string;
  sweepInterval?: string;
  bucket?: string;
}

/** `tabletime apply --data-dir DIR [--store URL]`: applies every change file not applied yet, then exits. */
export async function applyCommand(opts: ApplyCommandOptions, out: NodeJS.WritableStream): Promise<number> {
  const dataDir = resolve(opts.dataDir);
  // Setup mistakes first, before anything is opened.
  if (opts.notifications?.startsWith('pubsub://') && !opts.bucket)
    throw new ConfigError(
      'USAGE',
      '--notifications pubsub://… names objects of a Cloud Storage bucket: give it with --bucket gs://BUCKET[/prefix]',
    );
  if (opts.notifications) checkNotificationsUrl(opts.notifications);
  const sweep = positiveSecondsMs(opts.sweepInterval, '--sweep-interval');
  const remote = opts.bucket ? await openRemoteBucket(opts.bucket) : undefined;
  // A worker on a new machine starts with an empty data dir (DuckDB does not create folders).
  await mkdir(dataDir, { recursive: true });
  // With --bucket, files are downloaded here and removed once applied: one worker per data dir.
  await using _lock = remote
    ? await lockDataDir(dataDir, 'apply', 'give each apply worker its own --data-dir')
    : null;
  const logger = createLogger();
  await using store = await openStore(dataDir, opts.store, { notice: (m) => logger.info(m) });
  const options = {
    store,
    remote,
    bucketDir: bucketDirOf(dataDir),
    deadLetterDir: join(dataDir, 'dead-letters'),
    logger,
  };
  if (opts.notifications) {
    // A worker: runs until SIGINT/SIGTERM, then finishes the batch in hand.
    const controller = new AbortController();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());
    await runApplyWorker({
      ...options,
      notifications: opts.notifications,
      ...pubsubBucketOf(opts.bucket),
      signal: controller.signal,
      sweepMs: sweep,
    });
    return 0;
  }
  if (opts.retryDeadLetters) {
    const retried = await retryDeadLetters(options);
    out.write(
      `retried dead letters: ${retried.applied} applied, ${retried.remaining} still bad (see ${options.deadLetterDir})\n`,
    );
    return retried.remaining === 0 ? 0 : 1;
  }
  const result = await applyBucket(options);
  out.write(
    `applied ${result.files} file(s): ${result.events} change(s), ${result.inserted} new version(s); ` +
      `${result.skipped} file(s) already applied; ${result.deadLetters} dead letter(s)` +
      `${result.deadLetters > 0 ? ` in ${join(dataDir, 'dead-letters')}` : ''}\n`,
  );
  return 0;
}

/** The bucket and object prefix Pub/Sub notifications carry for `--bucket gs://bucket/prefix`. */
function pubsubBucketOf(url: string | undefined): { bucketName?: string; bucketPrefix?: string } {
  if (!url) return {};
  const target = parseBucketUrl(url);
  return target.kind === 'gcs' ? { bucketName: target.bucket, bucketPrefix: target.prefix } : {};
}
