export * from './notification.ts';
export { connectStream, NatsNotifier, parseNatsUrl, type NatsTarget } from './nats-notifier.ts';
import { ConfigError } from '../core/index.ts';
import { NatsNotifier, parseNatsUrl } from './nats-notifier.ts';
import type { Notifier } from './notification.ts';

/** The notifier for `--notify URL`. GCS/Pub/Sub is not built yet (docs/capture.md). */
export async function openNotifier(url: string): Promise<Notifier> {
  if (url.startsWith('nats://')) return NatsNotifier.open(parseNatsUrl(url));
  throw new ConfigError(
    'NOTIFY',
    `--notify takes nats://host:port/subject; '${url.split(':')[0]}:' is not supported yet`,
  );
}
