/**
 * Moving objects between the local copy of the bucket (`DATA_DIR/bucket`) and the shared one.
 *
 * Capture writes into its local copy as always; before its checkpoint moves past a file, the
 * file is uploaded and then removed locally (`BucketUploader.syncUp`). A crash between the two
 * uploads it again on the next start (the same object, the same versions: harmless). Schemas go
 * first, so that whoever sees a change file can read its types; TRUNCATE records go last, after
 * the files before them.
 *
 * Apply downloads what it is about to apply (`fetchObjects`) and the schemas and DDL records
 * (`syncMeta`), applies it from the local copy, and removes the change files again.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { META_DIR } from '../changefile/index.ts';
import type { ObjectInfo, RemoteBucket } from './bucket.ts';

/** Folders of `_tabletime/` that are shared: the schema registry and the DDL records. */
const SHARED_META = [`${META_DIR}/schemas/`, `${META_DIR}/ddl/`];

/** True for a change file's name (not under `_tabletime/`). */
export function isChangeFileName(name: string): boolean {
  return name.split('/')[0] !== META_DIR;
}

function isSharedMeta(name: string): boolean {
  return SHARED_META.some((p) => name.startsWith(p));
}

/**
 * Every finished object in a local bucket folder, '/'-separated and sorted: change files and
 * the shared `_tabletime/` files. Temporary files (dot files, `_tabletime/tmp`, the snapshot's
 * staging) are left out.
 */
export async function listLocalObjects(dir: string): Promise<string[]> {
  return ((await filesUnder(dir)) ?? []).filter((name) => isChangeFileName(name) || isSharedMeta(name));
}

/**
 * Every file under `dir` but dot files (temporary ones), as sorted '/'-separated names; null when
 * `dir` does not exist.
 *
 * Walked one folder at a time, not with readdir's `recursive`: that read fails whole with ENOENT
 * when any folder under `dir` is removed while it runs, and capture removes its staging folders
 * inside the bucket after every large transaction. The failure read as "no such folder", so the
 * bucket looked empty, and apply took a TRUNCATE as ready with none of the files before it
 * applied. A folder removed during the walk is left out; its files were moved or dropped.
 */
export async function filesUnder(dir: string): Promise<string[] | null> {
  const out: string[] = [];
  const walk = async (folder: string, prefix: string): Promise<boolean> => {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || (code === 'ENOTDIR' && prefix !== '')) return false;
      throw err;
    }
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(folder, e.name), `${prefix}${e.name}/`);
      else if (e.isFile() && !e.name.startsWith('.')) out.push(`${prefix}${e.name}`);
    }
    return true;
  };
  if (!(await walk(dir, ''))) return null;
  return out.sort();
}

/** Names of files under `dir` with their modification times (a file gone meanwhile is left out). */
export async function withTimes(dir: string, names: readonly string[]): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for (const name of names) {
    try {
      out.push({ name, createdMs: (await stat(join(dir, ...name.split('/')))).mtimeMs });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return out;
}

export class BucketUploader {
  readonly #localDir: string;
  readonly #remote: RemoteBucket;
  readonly #log: Logger | undefined;
  /** Shared `_tabletime/` files known to be in the remote bucket (they stay local too). */
  readonly #uploaded = new Set<string>();
  #seeded = false;

  constructor(localDir: string, remote: RemoteBucket, log?: Logger) {
    this.#localDir = localDir;
    this.#remote = remote;
    this.#log = log;
  }

  /** Uploads every finished local object the remote bucket lacks; returns the change files moved. */
  async syncUp(): Promise<number> {
    if (!this.#seeded) {
      for (const name of await this.#remote.list(`${META_DIR}/`)) this.#uploaded.add(name);
      this.#seeded = true;
    }
    const names = await listLocalObjects(this.#localDir);
    const files = names.filter(isChangeFileName);
    const meta = names.filter((n) => !isChangeFileName(n) && !this.#uploaded.has(n));
    const schemas = meta.filter((n) => n.startsWith(SHARED_META[0]!));
    const ddl = meta.filter((n) => !n.startsWith(SHARED_META[0]!));
    for (const name of schemas) await this.#put(name);
    for (const name of files) {
      await this.#remote.upload(this.#local(name), name);
      await rm(this.#local(name), { force: true });
    }
    for (const name of ddl) await this.#put(name);
    if (files.length > 0 || meta.length > 0) {
      this.#log?.debug({ files: files.length, meta: meta.length, bucket: this.#remote.url }, 'uploaded');
    }
    return files.length;
  }

  async #put(name: string): Promise<void> {
    await this.#remote.upload(this.#local(name), name);
    this.#uploaded.add(name);
  }

  #local(name: string): string {
    return join(this.#localDir, ...name.split('/'));
  }
}

/** Downloads the schemas and DDL records the local copy lacks. */
export async function syncMeta(remote: RemoteBucket, localDir: string): Promise<number> {
  const have = new Set((await listLocalObjects(localDir)).filter((n) => !isChangeFileName(n)));
  const missing = (await remote.list(`${META_DIR}/`)).filter((n) => isSharedMeta(n) && !have.has(n));
  for (const name of missing) await remote.download(name, join(localDir, ...name.split('/')));
  return missing.length;
}

/** Downloads change files into the local copy; returns their local paths, in the same order. */
export async function fetchObjects(
  remote: RemoteBucket,
  localDir: string,
  names: readonly string[],
): Promise<string[]> {
  const paths: string[] = [];
  for (const name of names) {
    const path = join(localDir, ...name.split('/'));
    await remote.download(name, path);
    paths.push(path);
  }
  return paths;
}

/** Removes downloaded change files once they are applied. */
export async function dropObjects(paths: readonly string[]): Promise<void> {
  for (const p of paths) await rm(p, { force: true });
}
