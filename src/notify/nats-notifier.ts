/**
 * Notifications on a NATS JetStream subject (self-hosted scale-out; docs/capture.md). The stream
 * is created when missing; each message's id is the object name, so JetStream drops a second
 * notification for the same file within its duplicate window.
 */
import { jetstreamManager, jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ConfigError, TransientError } from '../core/index.ts';
import type { FileNotification, Notifier } from './notification.ts';

export interface NatsTarget {
  readonly servers: string;
  readonly subject: string;
  readonly stream: string;
}

/** `nats://host:port/subject[?stream=NAME]` -> servers, subject, stream (default TABLETIME). */
export function parseNatsUrl(url: string): NatsTarget {
  const u = new URL(url);
  const subject = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (u.protocol !== 'nats:' || !subject) {
    throw new ConfigError(
      'NOTIFY',
      `'${url}' is not nats://host:port/subject (e.g. nats://127.0.0.1:4222/tabletime.files)`,
    );
  }
  return {
    servers: `${u.hostname}:${u.port || '4222'}`,
    subject,
    stream: u.searchParams.get('stream') ?? 'TABLETIME',
  };
}

/**
 * Connects to NATS and makes sure the target's stream exists (capture publishes to it, apply
 * workers consume from it; whichever starts first creates it).
 */
export async function connectStream(
  target: NatsTarget,
  name: string,
): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: target.servers, name });
  } catch (err) {
    throw new TransientError(
      'NOTIFY_UNREACHABLE',
      `cannot reach NATS at ${target.servers}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(target.stream);
  } catch {
    await jsm.streams.add({ name: target.stream, subjects: [target.subject] });
  }
  return { nc, jsm };
}

export class NatsNotifier implements Notifier {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #subject: string;

  private constructor(nc: NatsConnection, js: JetStreamClient, subject: string) {
    this.#nc = nc;
    this.#js = js;
    this.#subject = subject;
  }

  static async open(target: NatsTarget): Promise<NatsNotifier> {
    const { nc } = await connectStream(target, 'tabletime-capture');
    return new NatsNotifier(nc, jetstream(nc), target.subject);
  }

  async publish(notifications: readonly FileNotification[]): Promise<void> {
    for (const n of notifications) {
      await this.#js.publish(this.#subject, JSON.stringify(n), { msgID: `${n.bucket}/${n.name}` });
    }
  }

  async close(): Promise<void> {
    await this.#nc.drain();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
