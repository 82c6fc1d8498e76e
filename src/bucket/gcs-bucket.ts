/**
 * A Cloud Storage bucket through the official client (`@google-cloud/storage`). Credentials are
 * the client's usual ones (the service account of Cloud Run or the VM, or
 * GOOGLE_APPLICATION_CREDENTIALS); `STORAGE_EMULATOR_HOST` points it at an emulator. An upload
 * creates the object whole or not at all, which is what apply relies on.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Bucket, Storage } from '@google-cloud/storage';
import { publishFile } from '../changefile/fs-durable.ts';
import { ConfigError, TransientError } from '../core/index.ts';
import type { ObjectInfo, RemoteBucket } from './bucket.ts';

/** Above this size an upload is resumable (one request otherwise). */
const RESUMABLE_FROM = 32 * 1024 * 1024;

export class GcsBucket implements RemoteBucket {
  readonly url: string;
  readonly #bucket: Bucket;
  readonly #prefix: string;

  constructor(bucket: string, prefix: string, storage = new Storage()) {
    this.#bucket = storage.bucket(bucket);
    this.#prefix = prefix;
    this.url = `gs://${bucket}/${prefix}`;
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.listWithTimes(prefix)).map((o) => o.name);
  }

  async listWithTimes(prefix: string): Promise<ObjectInfo[]> {
    try {
      const [files] = await this.#bucket.getFiles({ prefix: this.#prefix + prefix, autoPaginate: true });
      return files
        .map((f) => ({
          name: f.name.slice(this.#prefix.length),
          createdMs: Date.parse(f.metadata.timeCreated ?? '') || 0,
        }))
        .filter((o) => o.name && !o.name.endsWith('/'))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (err) {
      throw this.#error(err, 'list');
    }
  }

  async download(name: string, localPath: string): Promise<void> {
    await mkdir(dirname(localPath), { recursive: true });
    const tmp = join(dirname(localPath), `.${randomBytes(6).toString('hex')}.download`);
    try {
      // The client checks the bytes against the object's checksum.
      await this.#bucket.file(this.#prefix + name).download({ destination: tmp });
    } catch (err) {
      await rm(tmp, { force: true });
      throw this.#error(err, `read ${name} from`);
    }
    await publishFile(tmp, localPath);
  }

  async upload(localPath: string, name: string): Promise<void> {
    const { size } = await stat(localPath);
    try {
      await this.#bucket.upload(localPath, {
        destination: this.#prefix + name,
        resumable: size > RESUMABLE_FROM,
        validation: 'crc32c',
      });
    } catch (err) {
      throw this.#error(err, `write ${name} to`);
    }
  }

  #error(err: unknown, what: string): Error {
    const code = (err as { code?: unknown }).code;
    const message = (err as Error).message;
    if (code === 401 || code === 403) {
      return new ConfigError(
        'BUCKET_ACCESS',
        `cannot ${what} ${this.url} (HTTP ${code}): give the service account roles/storage.objectAdmin on the bucket (capture) or roles/storage.objectViewer (apply)`,
        { cause: err },
      );
    }
    if (code === 404 && what === 'list') {
      return new ConfigError('BUCKET', `the bucket ${this.url} does not exist: create it, or fix --bucket`, {
        cause: err,
      });
    }
    return new TransientError('BUCKET_UNREACHABLE', `cannot ${what} ${this.url}: ${message}`, { cause: err });
  }
}
