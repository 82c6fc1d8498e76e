/**
 * `tabletime apply --notifications URL`: one of N apply workers sharing one durable subscription
 * (docs/scale-out.md): a NATS JetStream consumer (`nats://host:port/subject`) or a Pub/Sub
 * subscription on the bucket's notifications (`pubsub://project/subscription`). Each file
 * notification goes to one worker at a time; the worker acknowledges it only after the file's
 * versions are committed, so a worker that dies mid-file has the file redelivered to another, and
 * the store's idempotency (the applied-files marker, the version id as key) makes redelivery
 * harmless. Notifications are a speed-up, not the source of truth: every `sweepMs` a worker also
 * applies whatever the bucket has held that long that the store does not (lost notifications), and
 * it turns TRUNCATE records into tombstones once every file published before them is applied.
 */
import { SchemaRegistry } from '../changefile/index.ts';
import { sleep, TabletimeError } from '../core/index.ts';
import { type NotificationSource, openNotificationSource } from '../notify/index.ts';
import { type ApplyOptions, applyBucket, applyNamed, applyReadyTruncates } from './apply.ts';

export interface WorkerOptions extends ApplyOptions {
  /** nats://host:port/subject[?stream=NAME&consumer=NAME] or pubsub://project/subscription */
  readonly notifications: string;
  readonly signal: AbortSignal;
  /** How long a file may take before it is given to another worker (default 5 min). */
  readonly ackWaitMs?: number;
  /**
   * How often the worker applies what notifications missed (default 60 s): files unapplied after
   * being in the bucket that long.
   */
  readonly sweepMs?: number;
  /** The bucket's object prefix (Pub/Sub notifications name whole objects). */
  readonly bucketPrefix?: string;
  /** The bucket's name: Pub/Sub notifications about another bucket's objects are ignored. */
  readonly bucketName?: string;
}

/** Notifications taken into one store transaction, at most: 50 files, or about 8 MiB of them. */
const BATCH = 50;
const BATCH_BYTES = 8 * 1024 * 1024;

export async function runApplyWorker(options: WorkerOptions): Promise<void> {
  const source = await openNotificationSource(options.notifications, {
    ackWaitMs: options.ackWaitMs,
    bucketPrefix: options.bucketPrefix,
    bucket: options.bucketName,
  });
  try {
    await workOn(source, options);
  } finally {
    await source.close();
  }
}

/** The worker's loop over any notification source. */
export async function workOn(source: NotificationSource, options: WorkerOptions): Promise<void> {
  const log = options.logger?.child({ component: 'apply-worker' });
  const registry = new SchemaRegistry(options.bucketDir);
  const sweepMs = options.sweepMs ?? 60_000;
  // First what the bucket held for a while already (notifications may have been lost while no
  // worker ran); newer files are their notifications' work, shared among the workers.
  let lastSweep = 0;
  const sweep = async () => {
    lastSweep = Date.now();
    try {
      await applyBucket(options, sweepMs);
    } catch (err) {
      if (!(err instanceof TabletimeError && err.kind === 'transient')) throw err;
      log?.warn({ err: err.message }, 'sweeping the bucket failed; trying again in a second');
      lastSweep = Date.now() - sweepMs + 1_000;
    }
  };
  await sweep();
  while (!options.signal.aborted) {
    const batch = await source.next(BATCH, 1_000, BATCH_BYTES);
    const files = batch.filter((d) => d.name !== null);
    // Not about a change file (a schema, a DDL record, another bucket): nothing to do.
    for (const d of batch) if (d.name === null) await d.ack();
    if (files.length > 0) {
      try {
        const r = await applyNamed(
          files.map((d) => d.name!),
          options,
          registry,
        );
        await applyReadyTruncates(options);
        // Only now, with the versions committed, may another worker stop caring about them.
        for (const d of files) await d.ack();
        log?.info({ files: r.files, skipped: r.skipped, inserted: r.inserted }, 'notified files applied');
      } catch (err) {
        for (const d of files) d.nak();
        if (!(err instanceof TabletimeError && err.kind === 'transient')) throw err;
        log?.warn({ err: err.message }, 'apply failed; the files will be delivered again');
        await sleep(1_000, options.signal);
      }
    }
    if (Date.now() - lastSweep >= sweepMs) await sweep();
  }
}
