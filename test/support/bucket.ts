import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { META_DIR, SchemaRegistry } from '../../src/changefile/index.ts';
import { type ChangeEvent, positionKey, versionId } from '../../src/core/index.ts';
import { readAll } from './read-all.ts';

/** Every change file in a bucket (not tabletime's own folder). */
export async function listChangeFiles(bucketDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(bucketDir, { withFileTypes: true, recursive: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((p) => !relative(bucketDir, p).split(sep)[0]!.startsWith(META_DIR))
    .sort();
}

/**
 * Every event in a bucket, deduplicated by version id (as apply does) and in source order.
 * `raw` is how many events the files hold before deduplication.
 */
export async function bucketEvents(
  bucketDir: string,
): Promise<{ events: ChangeEvent[]; raw: number; deadLetters: number }> {
  const registry = new SchemaRegistry(bucketDir);
  const byId = new Map<string, ChangeEvent>();
  let raw = 0;
  let deadLetters = 0;
  for (const file of await listChangeFiles(bucketDir)) {
    const read = await readAll(file, { registry });
    deadLetters += read.deadLetters.length;
    for (const e of read.events) {
      raw++;
      byId.set(versionId(e), e);
    }
  }
  const events = [...byId.values()].sort((a, b) => {
    const ka = positionKey(a.position, a.changeType);
    const kb = positionKey(b.position, b.changeType);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  return { events, raw, deadLetters };
}

/**
 * Waits (polling the checkpoint file, no fixed sleeps) until capture has passed `position`. With
 * `whileMoving`, the timeout counts from the checkpoint's last move: a capture that is slow but
 * moving is waited for, one that stopped fails (the fault suite's catch-up after its faults).
 */
export async function waitForCheckpoint(
  dataDir: string,
  target: { logFile: string; logPosition: number },
  timeoutMs = 30_000,
  options: { whileMoving?: boolean } = {},
): Promise<void> {
  const path = join(dataDir, 'capture', 'checkpoint.json');
  let deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const cp = JSON.parse(await readFile(path, 'utf8')) as { logFile: string; logPosition: number };
      if (
        cp.logFile > target.logFile ||
        (cp.logFile === target.logFile && cp.logPosition >= target.logPosition)
      )
        return;
      const at = `${cp.logFile}:${cp.logPosition}`;
      if (options.whileMoving && at !== last) deadline = Date.now() + timeoutMs;
      last = at;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `capture did not reach ${target.logFile}:${target.logPosition} in ${timeoutMs} ms` +
          (options.whileMoving ? ` without moving (at ${last || 'no checkpoint'})` : ''),
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}
