/**
 * Where change files live when capture and apply are not on one machine (docs/scale-out.md): a
 * Cloud Storage bucket (`gs://bucket/prefix`, the official client) or a folder the machines share
 * (`/mnt/shared/tabletime`, or `file:///…`). Capture and apply keep working on a local copy
 * (`DATA_DIR/bucket`); this interface moves whole objects between that copy and the shared place.
 * Names are '/'-separated paths under the bucket's root (its prefix left out).
 */
import { ConfigError } from '../core/index.ts';

export interface RemoteBucket {
  /** For logs and errors: `gs://bucket/prefix` or the folder's path. */
  readonly url: string;
  /** Every object name under `prefix` ('' for all), sorted. */
  list(prefix: string): Promise<string[]>;
  /** The same, with when each object was created (ms since the epoch). */
  listWithTimes(prefix: string): Promise<ObjectInfo[]>;
  /** Copies one object to a local file (whole, or not at all). */
  download(name: string, localPath: string): Promise<void>;
  /** Stores a local file as one object; the object appears whole (a Cloud Storage upload, or a rename). */
  upload(localPath: string, name: string): Promise<void>;
}

export interface ObjectInfo {
  readonly name: string;
  readonly createdMs: number;
}

export type BucketTarget =
  | { readonly kind: 'gcs'; readonly bucket: string; readonly prefix: string }
  | { readonly kind: 'folder'; readonly dir: string };

/** `gs://bucket[/prefix]`, `file:///path` or an absolute path. */
export function parseBucketUrl(url: string): BucketTarget {
  if (url.startsWith('gs://')) {
    const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(\/.*)?$/.exec(url);
    if (!m) {
      throw new ConfigError(
        'BUCKET',
        `'${url}' is not a Cloud Storage bucket: use gs://BUCKET[/prefix] (lowercase letters, digits, '-', '_', '.')`,
      );
    }
    const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
    return { kind: 'gcs', bucket: m[1]!, prefix: prefix ? `${prefix}/` : '' };
  }
  if (url.startsWith('file://')) return { kind: 'folder', dir: decodeURIComponent(new URL(url).pathname) };
  if (url.startsWith('/')) return { kind: 'folder', dir: url };
  throw new ConfigError(
    'BUCKET',
    `--bucket takes gs://BUCKET[/prefix], file:///path or an absolute path, not '${url}'`,
  );
}

export async function openRemoteBucket(url: string): Promise<RemoteBucket> {
  const target = parseBucketUrl(url);
  if (target.kind === 'folder') {
    const { FolderBucket } = await import('./folder-bucket.ts');
    return new FolderBucket(target.dir);
  }
  // Loaded only when used: the client and its auth library are large.
  const { GcsBucket } = await import('./gcs-bucket.ts');
  return new GcsBucket(target.bucket, target.prefix);
}
