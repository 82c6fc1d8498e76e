import { mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsync a directory so that a rename or a new entry in it survives a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Moves a finished, fsynced file to its final name: the target appears whole or not at all, and the
 * rename itself is made durable. `from` and `to` must be on one file system (both in the bucket).
 */
export async function publishFile(from: string, to: string): Promise<void> {
  const dir = dirname(to);
  await mkdir(dir, { recursive: true });
  await rename(from, to);
  await fsyncDir(dir);
}

/** Writes a whole small file durably: temp file, fsync, rename, fsync the folder. */
export async function writeFileDurable(
  path: string,
  data: string | Uint8Array,
  tmpPath: string,
): Promise<void> {
  await mkdir(dirname(tmpPath), { recursive: true });
  const handle = await open(tmpPath, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await publishFile(tmpPath, path);
}
