/**
 * The history half of verify, in two forms: over a store opened here (with separate `capture` and
 * `apply` processes, or none), and through a running `tabletime run`, which holds the store.
 */
import { join } from 'node:path';
import { fileName, listBucket } from '../apply/index.ts';
import { bucketDirOf, CheckpointStore } from '../capture/index.ts';
import { binlogAtOrAfter, ConfigError, sleep, type TableSchema } from '../core/index.ts';
import type { HistoryStore } from '../store/index.ts';
import { answeredError, askRunning } from '../cli/run-socket.ts';
import { type ChunkRequest, historyChunk, type HistorySide } from './verify.ts';
import type { SnapshotPosition } from '../capture/snapshot.ts';

type WaitApplied = (pos: SnapshotPosition, timeoutMs: number) => Promise<boolean>;

export function storeHistorySide(store: HistoryStore, waitApplied: WaitApplied): HistorySide {
  return {
    tables: () => store.tables(),
    schemaOf: (database, table) => store.schemaOf(database, table),
    waitApplied,
    chunk: (request) => historyChunk(store, request),
    keysAt: (database, table, bound) => store.keysAsOf(database, table, bound),
  };
}

/**
 * With capture and apply as separate processes: capture's checkpoint has passed `pos` (so every
 * change before it is in a published file), and every file in the bucket then is applied.
 */
export function bucketWaitApplied(store: HistoryStore, dataDir: string): WaitApplied {
  const checkpoints = new CheckpointStore(join(dataDir, 'capture'));
  const applied = new Set<string>();
  return async (pos, timeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    let files: string[] | null = null;
    while (Date.now() < deadline) {
      if (!files) {
        const cp = await checkpoints.load();
        if (!cp)
          throw new ConfigError(
            'NO_CHECKPOINT',
            `verify needs tabletime's capture checkpoint in ${checkpoints.path}: run capture into this --data-dir`,
          );
        if (binlogAtOrAfter(cp, pos)) {
          const bucketDir = bucketDirOf(dataDir);
          files = (await listBucket(bucketDir)).map((p) => fileName(bucketDir, p));
        }
      }
      if (files) {
        const missing = files.filter((f) => !applied.has(f));
        for (const f of await store.appliedAmong(missing)) applied.add(f);
        if (missing.every((f) => applied.has(f))) return true;
      }
      await sleep(100);
    }
    return false;
  };
}

/** Through a running `tabletime run` on the data dir; null when none answers. */
export async function runningHistorySide(dataDir: string): Promise<HistorySide | null> {
  const ask = async (op: string, args: unknown, timeoutMs = 600_000): Promise<unknown> => {
    const answer = await askRunning(dataDir, 'history', { op, args }, timeoutMs);
    if (!answer)
      throw new ConfigError('NOT_RUNNING', `the \`tabletime run\` on ${dataDir} stopped answering`);
    if (answer.error) throw answeredError(answer.error);
    return answer.data;
  };
  const probe = await askRunning(dataDir, 'history', { op: 'tables', args: {} }, 30_000);
  if (!probe) return null;
  return {
    tables: async () => (await ask('tables', {})) as { database: string; table: string }[],
    schemaOf: async (database, table) => (await ask('schemaOf', { database, table })) as TableSchema | null,
    waitApplied: async (pos, timeoutMs) =>
      (await ask('waitApplied', { pos, timeoutMs }, timeoutMs + 30_000)) as boolean,
    chunk: async (request) =>
      (await ask('chunk', request)) as { digest: string; lines?: Record<string, string> },
    keysAt: async (database, table, bound) => (await ask('keysAt', { database, table, bound })) as string[],
  };
}

/** The `/history` requests `tabletime run` answers for verify. */
export async function answerHistory(
  side: HistorySide,
  op: string,
  args: Record<string, unknown>,
): Promise<unknown> {
  switch (op) {
    case 'tables':
      return side.tables();
    case 'schemaOf':
      return side.schemaOf(String(args.database), String(args.table));
    case 'waitApplied':
      return side.waitApplied(args.pos as SnapshotPosition, Number(args.timeoutMs));
    case 'chunk':
      return side.chunk(args as unknown as ChunkRequest);
    case 'keysAt':
      return side.keysAt(String(args.database), String(args.table), args.bound as ChunkRequest['bound']);
    default:
      throw new ConfigError('USAGE', `no such history request '${op}'`);
  }
}
