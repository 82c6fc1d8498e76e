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
import { AckPolicy, type JsMsg, jetstream } from '@nats-io/jetstream';
import { SchemaRegistry } from '../changefile/index.ts';
import { sleep, TabletimeError } from '../core/index.ts';
import { connectStream, parseNatsUrl } from '../notify/index.ts';
import type { FileNotification } from '../notify/index.ts';
import { type ApplyOptions, applyBucket, applyFiles, applyReadyTruncates } from './apply.ts';

export interface WorkerOptions extends ApplyOptions {
  /** nats://host:port/subject[?stream=NAME&consumer=NAME] */
  readonly notifications: string;
  readonly signal: AbortSignal;
  /** How long a file may take before JetStream gives it to another worker (default 5 min). */
  readonly ackWaitMs?: number;
  /** How often the worker applies what notifications missed (default 30 s). */
  readonly sweepMs?: number;
}

export async function runApplyWorker(options: WorkerOptions): Promise<void> {
  const target = parseNatsUrl(options.notifications);
  const url = new URL(options.notifications);
  const durable = url.searchParams.get('consumer') ?? 'tabletime-apply';
  const { nc, jsm } = await connectStream(target, 'tabletime-apply');
  const log = options.logger?.child({ component: 'apply-worker' });
  try {
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
      }
    }
  } finally {
    await nc.drain().catch(() => undefined);
  }
}
