/**
 * Where capture resumes: saved only after every change before it is in durable files
 * (ARCHITECTURE.md; issue: checkpoints). Written durably (temp file, fsync, rename, fsync folder),
 * so after `kill -9` the file holds either the old or the new checkpoint, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurable } from '../changefile/index.ts';
import { ConfigError } from '../core/index.ts';

const CheckpointSchema = z.object({
  version: z.literal(1),
  logFile: z.string().min(1),
  logPosition: z.number().int().nonnegative(),
  gtid: z.string().nullable(),
  /** Commit time (µs) of the last transaction before the position, when known: for lag in seconds. */
  commitTimestampUs: z.number().nullable().optional(),
  /** The source server the position belongs to (server_uuid or server_id), to catch a wrong source. */
  server: z.string(),
  /**
   * Every captured table ("db.table") and the binlog position its history starts at (its snapshot's
   * position): the stream drops a table's events before it, so snapshot and stream never overlap.
   */
  tables: z.record(
    z.string(),
    z.object({
      logFile: z.string(),
      logPosition: z.number().int().nonnegative(),
      snapshotId: z.string().nullable(),
    }),
  ),
  updatedAt: z.string(),
});

export type Checkpoint = z.infer<typeof CheckpointSchema>;

export class CheckpointStore {
  readonly #path: string;
  readonly #dir: string;

  constructor(stateDir: string) {
    this.#dir = stateDir;
    this.#path = join(stateDir, 'checkpoint.json');
  }

  get path(): string {
    return this.#path;
  }

  async load(): Promise<Checkpoint | null> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const parsed = CheckpointSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new ConfigError(
        'CHECKPOINT',
        `${this.#path} is not a tabletime checkpoint (${parsed.error.issues[0]?.message ?? 'invalid'}); move it away to start over`,
      );
    }
    return parsed.data;
  }

  async save(checkpoint: Omit<Checkpoint, 'version' | 'updatedAt'>): Promise<void> {
    const full: Checkpoint = { version: 1, ...checkpoint, updatedAt: new Date().toISOString() };
    await writeFileDurable(
      this.#path,
      `${JSON.stringify(full, null, 1)}\n`,
      join(this.#dir, `.checkpoint.${randomBytes(4).toString('hex')}.tmp`),
    );
  }
}
