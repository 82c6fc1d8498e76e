/**
 * Apply workers on a Pub/Sub subscription (`pubsub://PROJECT/SUBSCRIPTION`) that receives the
 * bucket's own notifications (OBJECT_FINALIZE, JSON_API_V1; deploy/terraform/stream). The client
 * keeps extending a message's deadline while the worker holds it; a worker that dies stops
 * extending, and Pub/Sub gives the message to another worker once the deadline passes.
 * Notifications about anything but a new change file under the bucket's prefix (schemas, DDL
 * records, another bucket) are acknowledged and ignored: apply syncs those itself.
 */
import { EventEmitter } from 'node:events';
import { Duration, type Message, PubSub } from '@google-cloud/pubsub';
import { ConfigError, TransientError } from '../core/index.ts';
import { isChangeFileName } from '../bucket/sync.ts';
import type { Delivery, NotificationSource } from './source.ts';
import { parsePubSubUrl } from './pubsub-url.ts';

export { parsePubSubUrl } from './pubsub-url.ts';

/** What the source needs of a subscription: the client's Subscription has it. */
export interface SubscriptionLike extends EventEmitter {
  close(): Promise<void>;
}

/** What it needs of a message: the client's Message has it. */
export type MessageLike = Pick<Message, 'attributes' | 'ackWithResponse' | 'nack' | 'id' | 'data'>;

/**
 * The change file a bucket notification is about, relative to `prefix`, or null when it is not
 * about a new change file under it (`bucket`, when given, must match too).
 */
export function changeFileOfNotification(
  attributes: Record<string, string>,
  prefix: string,
  bucket?: string,
): string | null {
  if (attributes.eventType !== 'OBJECT_FINALIZE') return null;
  if (bucket !== undefined && attributes.bucketId !== bucket) return null;
  const object = attributes.objectId;
  if (!object?.startsWith(prefix)) return null;
  const name = object.slice(prefix.length);
  return name && !name.endsWith('/') && isChangeFileName(name) ? name : null;
}

export class PubSubSource implements NotificationSource {
  readonly #subscription: SubscriptionLike;
  readonly #prefix: string;
  readonly #bucket: string | undefined;
  readonly #queue: MessageLike[] = [];
  readonly #arrived = new EventEmitter();
  #failure: Error | null = null;

  constructor(subscription: SubscriptionLike, options: { bucketPrefix: string; bucket?: string }) {
    this.#subscription = subscription;
    this.#prefix = options.bucketPrefix;
    this.#bucket = options.bucket;
    subscription.on('message', (m: MessageLike) => {
      this.#queue.push(m);
      this.#arrived.emit('ready');
    });
    subscription.on('error', (err: Error & { code?: number }) => {
      // gRPC codes: 5 NOT_FOUND, 7 PERMISSION_DENIED, 16 UNAUTHENTICATED: the setup is wrong.
      this.#failure =
        err.code === 5 || err.code === 7 || err.code === 16
          ? new ConfigError(
              'NOTIFY',
              `the Pub/Sub subscription cannot be read (${err.message}): check its name and give the service account roles/pubsub.subscriber`,
            )
          : new TransientError('NOTIFY_UNREACHABLE', `Pub/Sub failed: ${err.message}`, { cause: err });
      this.#arrived.emit('ready');
    });
  }

  static open(
    url: string,
    options: { ackWaitMs?: number; bucketPrefix: string; bucket?: string },
  ): PubSubSource {
    const target = parsePubSubUrl(url);
    const subscription = new PubSub({ projectId: target.project }).subscription(target.subscription, {
      // Messages the client holds are leased to this worker and out of the others' reach: hold
      // few, so that a backlog of large files is shared.
      flowControl: { maxMessages: 10, allowExcessMessages: false },
      // A file may take this long before its message goes to another worker (leases are extended
      // while this worker is alive).
      maxExtensionTime: Duration.from({ seconds: Math.ceil((options.ackWaitMs ?? 300_000) / 1000) }),
    });
    return new PubSubSource(subscription, options);
  }

  async next(max: number, waitMs: number, budgetBytes: number): Promise<Delivery[]> {
    if (this.#queue.length === 0 && !this.#failure) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#arrived.removeListener('ready', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.#arrived.once('ready', done);
      });
    }
    if (this.#failure) throw this.#failure;
    const out: Delivery[] = [];
    let bytes = 0;
    while (this.#queue.length > 0 && out.length < max && (out.length === 0 || bytes < budgetBytes)) {
      const m = this.#queue.shift()!;
      const size = objectSize(m);
      bytes += size;
      out.push({
        name: changeFileOfNotification(m.attributes, this.#prefix, this.#bucket),
        bytes: size,
        ack: async () => {
          // With exactly-once delivery on the subscription, this resolves when Pub/Sub has it.
          await m.ackWithResponse();
        },
        nak: () => m.nack(),
      });
    }
    return out;
  }

  async close(): Promise<void> {
    // Messages still held go back to Pub/Sub (nacked) for the other workers.
    for (const m of this.#queue.splice(0)) m.nack();
    await this.#subscription.close();
  }
}

/** The object's size from the notification's JSON_API_V1 payload (0 when it does not say). */
function objectSize(m: MessageLike): number {
  try {
    const size = Number((JSON.parse(m.data.toString('utf8')) as { size?: unknown }).size);
    return Number.isFinite(size) ? size : 0;
  } catch {
    return 0;
  }
}
