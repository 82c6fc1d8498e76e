/**
 * Where apply workers take their work from (docs/scale-out.md): a durable, shared subscription
 * that gives each notification to one worker at a time and gives it to another when it is not
 * acknowledged in time. NATS JetStream (`nats://…`) and Pub/Sub (`pubsub://…`) both do.
 */
import { ConfigError } from '../core/index.ts';
import { parseNatsUrl } from './nats-notifier.ts';
import { parsePubSubUrl } from './pubsub-url.ts';

export interface Delivery {
  /** The change file's name in the bucket, or null when the message is not about a change file. */
  readonly name: string | null;
  /** The file's size when the notification says it (0 otherwise). */
  readonly bytes: number;
  /** Resolves once the broker has the acknowledgement: the file is then nobody's work. */
  ack(): Promise<void>;
  /** Hands the message back, to be delivered again (to any worker) after a short delay. */
  nak(): void;
}

export interface NotificationSource {
  /**
   * What is waiting, up to `max` deliveries or about `budgetBytes` of files (at least one): the
   * rest stays with the broker for the other workers. Waits at most about `waitMs` for the first;
   * [] when none came.
   */
  next(max: number, waitMs: number, budgetBytes: number): Promise<Delivery[]>;
  close(): Promise<void>;
}

/** Checks a `--notifications` URL without connecting (a setup error says what is expected). */
export function checkNotificationsUrl(url: string): void {
  if (url.startsWith('nats://')) parseNatsUrl(url);
  else if (url.startsWith('pubsub://')) parsePubSubUrl(url);
  else
    throw new ConfigError(
      'NOTIFY',
      `--notifications takes nats://host:port/subject or pubsub://PROJECT/SUBSCRIPTION, not '${url.split(':')[0]}:'`,
    );
}

export async function openNotificationSource(
  url: string,
  options: { ackWaitMs?: number; bucketPrefix?: string; bucket?: string },
): Promise<NotificationSource> {
  if (url.startsWith('nats://')) {
    const { NatsSource } = await import('./nats-source.ts');
    return NatsSource.open(url, options.ackWaitMs ?? 300_000);
  }
  if (url.startsWith('pubsub://')) {
    const { PubSubSource } = await import('./pubsub-source.ts');
    return PubSubSource.open(url, {
      ackWaitMs: options.ackWaitMs,
      bucketPrefix: options.bucketPrefix ?? '',
      bucket: options.bucket,
    });
  }
  checkNotificationsUrl(url);
  throw new Error('unreachable');
}
