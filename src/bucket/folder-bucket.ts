import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { publishFile } from '../changefile/fs-durable.ts';
import { ConfigError } from '../core/index.ts';
import type { ObjectInfo, RemoteBucket } from './bucket.ts';
import { filesUnder, withTimes } from './sync.ts';

/**
 * A folder the machines share (NFS, a mounted volume): objects are files, published by a rename
 * so that a reader never sees half of one.
 */
export class FolderBucket implements RemoteBucket {
  readonly url: string;
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    this.url = dir;
  }

  async list(prefix: string): Promise<string[]> {
    const names = await filesUnder(this.#dir);
    if (names === null)
      throw new ConfigError(
        'BUCKET',
        `the bucket folder ${this.#dir} does not exist: create it, or fix --bucket`,
      );
    return names.filter((name) => name.startsWith(prefix));
  }

  async listWithTimes(prefix: string): Promise<ObjectInfo[]> {
    return withTimes(this.#dir, await this.list(prefix));
  }

  async download(name: string, localPath: string): Promise<void> {
    const tmp = join(dirname(localPath), `.${randomBytes(6).toString('hex')}.download`);
    await mkdir(dirname(localPath), { recursive: true });
    await copyDurable(join(this.#dir, ...name.split('/')), tmp);
    await publishFile(tmp, localPath);
  }

  async upload(localPath: string, name: string): Promise<void> {
    const target = join(this.#dir, ...name.split('/'));
    const tmp = join(this.#dir, `.${randomBytes(6).toString('hex')}.upload`);
    await copyDurable(localPath, tmp);
    await publishFile(tmp, target);
  }
}

/** A copy whose bytes are on disk before it is renamed into place. */
async function copyDurable(from: string, to: string): Promise<void> {
  await copyFile(from, to);
  const handle = await open(to, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
