import { AckPolicy, type Consumer, type JsMsg, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectStream, parseNatsUrl } from './nats-notifier.ts';
import type { FileNotification } from './notification.ts';
import type { Delivery, NotificationSource } from './source.ts';

/** A durable JetStream consumer shared by the workers (`?consumer=NAME`, default tabletime-apply). */
export class NatsSource implements NotificationSource {
  readonly #nc: NatsConnection;
  readonly #consumer: Consumer;

  private constructor(nc: NatsConnection, consumer: Consumer) {
    this.#nc = nc;
    this.#consumer = consumer;
  }

  static async open(url: string, ackWaitMs: number): Promise<NatsSource> {
    const target = parseNatsUrl(url);
    const durable = new URL(url).searchParams.get('consumer') ?? 'tabletime-apply';
    const { nc, jsm } = await connectStream(target, 'tabletime-apply');
    try {
      await jsm.consumers.info(target.stream, durable);
    } catch {
      await jsm.consumers.add(target.stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: ackWaitMs * 1_000_000, // nanoseconds
        filter_subject: target.subject,
      });
    }
    return new NatsSource(nc, await jetstream(nc).consumers.get(target.stream, durable));
  }

  async next(max: number, waitMs: number): Promise<Delivery[]> {
    const batch: JsMsg[] = [];
    const first = await this.#consumer.next({ expires: waitMs });
    if (first) {
      batch.push(first);
      const waiting = Math.min(first.info.pending, max - 1);
      if (waiting > 0) {
        const more = await this.#consumer.fetch({ max_messages: waiting, expires: waitMs });
        for await (const m of more) batch.push(m);
      }
    }
    return batch.map((m) => ({
      name: nameOf(m),
      ack: async () => {
        await m.ackAck();
      },
      nak: () => m.nak(5_000),
    }));
  }

  async close(): Promise<void> {
    await this.#nc.drain().catch(() => undefined);
  }
}

/** The file a notification names; null (acknowledged and ignored) for a message that is not one. */
function nameOf(m: JsMsg): string | null {
  try {
    const name = m.json<Partial<FileNotification>>().name;
    return typeof name === 'string' && name.length > 0 ? name : null;
  } catch {
    return null;
  }
}
