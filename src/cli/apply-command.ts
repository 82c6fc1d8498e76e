import { join, resolve } from 'node:path';
import { applyBucket } from '../apply/index.ts';
import { bucketDirOf } from '../capture/index.ts';
import { DuckdbStore } from '../store/index.ts';
import { createLogger } from './logger.ts';

export function storePathOf(dataDir: string): string {
  return join(dataDir, 'history.duckdb');
}

/** `tabletime apply --data-dir DIR`: applies every change file not applied yet, then exits. */
export async function applyCommand(opts: { dataDir: string }, out: NodeJS.WritableStream): Promise<number> {
  const dataDir = resolve(opts.dataDir);
  await using store = await DuckdbStore.open(storePathOf(dataDir));
  const result = await applyBucket({
    store,
    bucketDir: bucketDirOf(dataDir),
    deadLetterDir: join(dataDir, 'dead-letters'),
    logger: createLogger(),
  });
  out.write(
    `applied ${result.files} file(s): ${result.events} change(s), ${result.inserted} new version(s); ` +
      `${result.skipped} file(s) already applied; ${result.deadLetters} dead letter(s)` +
      `${result.deadLetters > 0 ? ` in ${join(dataDir, 'dead-letters')}` : ''}\n`,
  );
  return 0;
}
