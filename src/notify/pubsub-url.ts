import { ConfigError } from '../core/index.ts';

export interface PubSubTarget {
  readonly project: string;
  readonly subscription: string;
}

export function parsePubSubUrl(url: string): PubSubTarget {
  const m = /^pubsub:\/\/([a-z][a-z0-9.:-]{4,61}[a-z0-9])\/([A-Za-z][\w.~+%-]{2,254})$/.exec(url);
  if (!m) {
    throw new ConfigError(
      'NOTIFY',
      `'${url}' is not pubsub://PROJECT/SUBSCRIPTION (e.g. pubsub://my-project/tabletime-apply)`,
    );
  }
  return { project: m[1]!, subscription: m[2]! };
}
