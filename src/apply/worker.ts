/**
 * `tabletime apply --notifications nats://host:port/subject`: one of N apply workers sharing one
 * durable JetStream consumer (docs/scale-out.md). Each file notification goes to one worker at a
 * time; the worker acknowledges it only after the file's versions are committed, so a worker that
 * dies mid-file has the file redelivered (after the ack wait) to another, and the store's
 * idempotency (the applied-files marker, the version id as key) makes redelivery harmless.
 * Notifications are a speed-up, not the source of truth: every `sweepMs` a worker also applies
 * whatever the bucket holds that the store does not (lost notifications), and it turns TRUNCATE
 * records into tombstones once every file published before them is applied.
 */
import { join } from 'node:path';
import { AckPolicy, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { SchemaRegistry } from '../changefile/index.ts';
import { sleep, TabletimeError, TransientError } from '../core/index.ts';
import { parseNatsUrl } from '../notify/index.ts';
import type { FileNotification } from '../notify/index.ts';
import {
  type ApplyOptions,
  applyBucket,
  applyFiles,
  applyTruncates,
  fileName,
  listBucket,
  listTruncateRecords,
} from './apply.ts';

export interface WorkerOptions extends ApplyOptions {
  /** nats://host:port/subject[?stream=NAME&consumer=NAME] */
  readonly notifications: string;
  readonly signal: AbortSignal;
  /** How long a file may take before JetStream gives it to another worker (default 5 min). */
  readonly ackWaitMs?: number;
  /** How often the worker applies what notifications missed (default 30 s). */
  readonly sweepMs?: number;
}

/** The sortable position key a change file's name starts with (`tt_<key>_…`), or null. */
function positionOfFileName(name: string): string | null {
  const m = /(?:^|\/)tt_([01]-[0-9-]+)_[0-9a-f]+\.jsonl(?:\.gz)?$/.exec(name);
  return m ? m[1]!.replaceAll('-', ':') : null;
}

/**
 * TRUNCATE records whose earlier files are all applied: capture publishes every change before a
 * TRUNCATE ahead of its record, in files whose names start with their first position.
 */
export async function applyReadyTruncates(options: ApplyOptions): Promise<number> {
  const records = await listTruncateRecords(options.bucketDir);
  if (records.length === 0) return 0;
  const files = (await listBucket(options.bucketDir)).map((p) => fileName(options.bucketDir, p));
  const applied = await options.store.appliedAmong(files);
  let added = 0;
  for (const record of records) {
    const position = /(\d[\d-]*)-truncate\.json$/.exec(record)?.[1]?.replaceAll('-', ':');
    if (!position) continue;
    const before = files.filter((f) => {
      const p = positionOfFileName(f);
      return p !== null && p < position;
    });
    if (before.every((f) => applied.has(f))) added += await applyTruncates(options, [record]);
  }
  return added;
}

export async function runApplyWorker(options: WorkerOptions): Promise<void> {
  const target = parseNatsUrl(options.notifications);
  const url = new URL(options.notifications);
  const durable = url.searchParams.get('consumer') ?? 'tabletime-apply';
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: target.servers, name: 'tabletime-apply' });
  } catch (err) {
    throw new TransientError(
      'NOTIFY_UNREACHABLE',
      `cannot reach NATS at ${target.servers}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const log = options.logger?.child({ component: 'apply-worker' });
  try {
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.info(target.stream);
    } catch {
      await jsm.streams.add({ name: target.stream, subjects: [target.subject] });
    }
    try {
      await jsm.consumers.info(target.stream, durable);
    } catch {
      await jsm.consumers.add(target.stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: (options.ackWaitMs ?? 300_000) * 1_000_000, // nanoseconds
        filter_subject: target.subject,
      });
    }
    const consumer = await jetstream(nc).consumers.get(target.stream, durable);
    const registry = new SchemaRegistry(options.bucketDir);
    // First what the bucket holds already (notifications may have been lost while no worker ran).
    await applyBucket(options);
    let lastSweep = Date.now();
    while (!options.signal.aborted) {
      const batch: JsMsg[] = [];
      const first = await consumer.next({ expires: 1_000 });
      if (first) {
        batch.push(first);
        // Whatever else is waiting goes into the same store transaction.
        const waiting = Math.min(first.info.pending, 49);
        if (waiting > 0) {
          const more = await consumer.fetch({ max_messages: waiting, expires: 1_000 });
          for await (const m of more) batch.push(m);
        }
      }
      if (batch.length > 0) {
        const paths = batch.map((m) => {
          const n = m.json<FileNotification>();
          return join(options.bucketDir, ...n.name.split('/'));
        });
        try {
          const r = await applyFiles(paths, options, registry);
          await applyReadyTruncates(options);
          // Only now, with the versions committed, may another worker stop caring about them.
          for (const m of batch) await m.ackAck();
          log?.info({ files: r.files, skipped: r.skipped, inserted: r.inserted }, 'notified files applied');
        } catch (err) {
          for (const m of batch) m.nak(5_000);
          if (!(err instanceof TabletimeError && err.kind === 'transient')) throw err;
          log?.warn({ err: err.message }, 'apply failed; the files will be delivered again');
          await sleep(1_000, options.signal);
        }
      }
      if (Date.now() - lastSweep >= (options.sweepMs ?? 30_000)) {
        lastSweep = Date.now();
        await applyBucket(options);
        await applyReadyTruncates(options);
      }
    }
  } finally {
    await nc.drain().catch(() => undefined);
  }
}
