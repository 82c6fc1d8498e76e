import { resolve } from 'node:path';
import { BucketUploader, openRemoteBucket } from '../bucket/index.ts';
import { bucketDirOf, runCapture } from '../capture/index.ts';
import type { ColumnPolicySpec } from '../capture/column-policy.ts';
import { notificationOf, openNotifier } from '../notify/index.ts';
import { createLogger } from './logger.ts';
import { megabytesToBytes, positiveInt } from './numbers.ts';
import { resolveSourceUrl } from './source-url.ts';

export interface CaptureCommandOptions {
  source?: string;
  sourcePasswordFile?: string;
  tables: string;
  dataDir: string;
  gzip?: boolean;
  flushIntervalMs?: string;
  fileRotationMb?: string;
  serverId?: string;
  snapshot?: boolean;
  snapshotChunkRows?: string;
  notify?: string;
  bucket?: string;
  excludeTables?: string;
  /** Columns to leave out or hash (config file only). */
  columns?: ColumnPolicySpec;
}

/** `tabletime capture`: runs in the foreground until SIGINT/SIGTERM, then flushes and exits 0. */
export async function captureCommand(opts: CaptureCommandOptions): Promise<number> {
  const logger = createLogger();
  // Checked before anything is opened or created.
  const numbers = {
    flushIntervalMs: positiveInt(opts.flushIntervalMs, '--flush-interval-ms'),
    maxFileBytes: megabytesToBytes(opts.fileRotationMb, '--file-rotation-mb'),
    serverId: positiveInt(opts.serverId, '--server-id'),
    snapshotChunkRows: positiveInt(opts.snapshotChunkRows, '--snapshot-chunk-rows'),
  };
  const controller = new AbortController();
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping: finishing the files being written');
    controller.abort();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  const dataDir = resolve(opts.dataDir);
  const notifier = opts.notify ? await openNotifier(opts.notify) : null;
  const bucket = bucketDirOf(dataDir);
  const uploader = opts.bucket
    ? new BucketUploader(bucket, await openRemoteBucket(opts.bucket), logger)
    : null;
  await runCapture({
    onDurable: uploader ? () => uploader.syncUp().then(() => undefined) : undefined,
    onFiles: notifier ? (files) => notifier.publish(files.map((f) => notificationOf(bucket, f))) : undefined,
    source: await resolveSourceUrl(opts),
    tables: opts.tables,
    excludeTables: opts.excludeTables,
    columns: opts.columns,
    dataDir,
    gzip: opts.gzip,
    ...numbers,
    snapshot: opts.snapshot,
    logger,
    signal: controller.signal,
  });
  await notifier?.close();
  logger.info('capture stopped');
  return 0;
}
