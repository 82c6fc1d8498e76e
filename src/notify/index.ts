export * from './notification.ts';
export { connectStream, NatsNotifier, parseNatsUrl, type NatsTarget } from './nats-notifier.ts';
export * from './source.ts';

import { ConfigError } from '../core/index.ts';
import { NatsNotifier, parseNatsUrl } from './nats-notifier.ts';
import type { Notifier } from './notification.ts';

/**
 * The notifier for `capture --notify URL`. There is no Pub/Sub notifier: with `--bucket gs://…`
 * Cloud Storage itself publishes each new object to Pub/Sub (the bucket's notification config).
 */
export async function openNotifier(url: string): Promise<Notifier> {
  if (url.startsWith('nats://')) return NatsNotifier.open(parseNatsUrl(url));
  throw new ConfigError(
    'NOTIFY',
    url.startsWith('pubsub://')
      ? `--notify takes nats://host:port/subject; for Pub/Sub, write to --bucket gs://… and let the bucket's notification config publish (deploy/terraform/stream)`
      : `--notify takes nats://host:port/subject, not '${url.split(':')[0]}:'`,
  );
}
