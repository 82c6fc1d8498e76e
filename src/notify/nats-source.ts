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

  async next(max: number, waitMs: number, budgetBytes: number): Promise<Delivery[]> {
    const batch: Delivery[] = [];
    let bytes = 0;
    let m = await this.#consumer.next({ expires: waitMs });
    // One message at a time while more are waiting: a worker takes only its share of a backlog
    // of large files, and the others get the rest.
    while (m) {
      const d = this.#delivery(m);
      batch.push(d);
      bytes += d.bytes;
      if (batch.length >= max || bytes >= budgetBytes || m.info.pending === 0) break;
      m = await this.#consumer.next({ expires: 1_000 });
    }
    return batch;
  }

  #delivery(m: JsMsg): Delivery {
    const n = parse(m);
    return {
      name: n?.name ?? null,
      bytes: n?.bytes ?? 0,
      ack: async () => {
        await m.ackAck();
      },
      nak: () => m.nak(5_000),
    };
  }

  async close(): Promise<void> {
    await this.#nc.drain().catch(() => undefined);
  }
}

/** The file a notification names; null (acknowledged and ignored) for a message that is not one. */
function parse(m: JsMsg): { name: string; bytes: number } | null {
  try {
    const n = m.json<Partial<FileNotification>>();
    if (typeof n.name !== 'string' || n.name.length === 0) return null;
    return { name: n.name, bytes: typeof n.bytes === 'number' ? n.bytes : 0 };
  } catch {
    return null;
  }
}
