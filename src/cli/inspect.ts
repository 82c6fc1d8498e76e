import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { readChangeFile, META_DIR, SchemaRegistry } from '../changefile/index.ts';
import { versionId } from '../core/index.ts';
import type { Value } from '../core/index.ts';

function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return { hex: Buffer.from(v).toString('hex') };
  return v;
}

/** Finds the bucket root above a change file (the folder that holds `_tabletime/`), if any. */
function bucketOf(file: string): string | undefined {
  let dir = dirname(resolve(file));
  for (let i = 0; i < 8; i++) {
    if (existsSync(resolve(dir, META_DIR))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/**
 * `tabletime inspect FILE…`: prints every event of change files (ours or Datastream's, JSON or
 * Avro) as one JSON object a line, with its version id; dead letters go to stderr. Exit 1 when any
 * line was a dead letter.
 */
export async function inspect(
  files: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  let dead = 0;
  for (const file of files) {
    const bucket = bucketOf(file);
    const registry = bucket ? new SchemaRegistry(bucket) : undefined;
    for await (const item of readChangeFile(file, { registry })) {
      if (item.kind === 'event') {
        const e = item.event;
        const record: Record<string, unknown> = {
          version_id: versionId(e),
          file,
          line: item.line,
          ...e,
        };
        out.write(`${JSON.stringify(record, jsonValue as (k: string, v: Value) => unknown)}\n`);
      } else {
        dead++;
        const d = item.deadLetter;
        err.write(`dead letter: ${d.file}:${d.line}: ${d.code}: ${d.reason}\n`);
      }
    }
  }
  return dead === 0 ? 0 : 1;
}
