/**
 * `tabletime verify --source URL --data-dir DIR [--tables …]`: compares the history with the live
 * source while both run (src/verify/verify.ts). Exit 0 when every record matches, 1 when one does not.
 */
import { join, resolve } from 'node:path';
import { CheckpointStore, connectSource, redactUrl, tableFilter } from '../capture/index.ts';
import { serverIdentity } from '../capture/source.ts';
import { ConfigError } from '../core/index.ts';
import { positiveInt } from './numbers.ts';
import { openStore } from '../store/index.ts';
import { bucketWaitApplied, runningHistorySide, storeHistorySide } from '../verify/history-side.ts';
import { type HistorySide, type TableResult, verify } from '../verify/verify.ts';
import { createLogger } from './logger.ts';
import { resolveSourceUrl } from './source-url.ts';

export interface VerifyCommandOptions {
  source?: string;
  sourcePasswordFile?: string;
  dataDir: string;
  store?: string;
  tables?: string;
  chunkRows?: string;
  timeout?: string;
}

function report(results: readonly TableResult[], out: NodeJS.WritableStream): number {
  let rows = 0;
  let bad = 0;
  for (const r of results) {
    rows += r.rows;
    bad += r.mismatches.length;
    if (r.skipped && r.mismatches.length === 0) {
      out.write(`${r.table}: not compared: ${r.skipped}\n`);
      continue;
    }
    if (r.skipped) {
      out.write(`${r.table}: MISMATCH: ${r.skipped}\n`);
      continue;
    }
    out.write(
      `${r.table}: ${r.rows} record(s) in ${r.chunks} chunk(s): ${r.mismatches.length === 0 ? 'match' : `${r.mismatches.length} MISMATCH(ES)`}${
        r.cleared ? ` (${r.cleared} record(s) differed in one read and matched when read again)` : ''
      }\n`,
    );
    for (const m of r.mismatches) {
      out.write(`  key ${m.key} at ${m.at}\n`);
      out.write(`    source:  ${m.source ?? '(no such record)'}\n`);
      out.write(`    history: ${m.history ?? '(no such record)'}\n`);
    }
  }
  out.write(
    `verify: ${results.length} table(s), ${rows} record(s) compared, ${bad === 0 ? 'everything matches' : `${bad} mismatch(es)`}\n`,
  );
  return bad === 0 ? 0 : 1;
}

export async function verifyCommand(opts: VerifyCommandOptions, out: NodeJS.WritableStream): Promise<number> {
  const logger = createLogger();
  const dataDir = resolve(opts.dataDir);
  const url = await resolveSourceUrl(opts);
  const chunkRows = positiveInt(opts.chunkRows, '--chunk-rows') ?? 2_000;
  const timeoutMs = (positiveInt(opts.timeout, '--timeout') ?? 60) * 1000;
  const include = opts.tables ? tableFilter(opts.tables) : () => true;
  const conn = await connectSource(url);
  try {
    const checkpoint = await new CheckpointStore(join(dataDir, 'capture')).load();
    const server = await serverIdentity(conn);
    if (checkpoint && checkpoint.server !== server)
      throw new ConfigError(
        'CHECKPOINT_SERVER',
        `${dataDir} holds the history of ${checkpoint.server}, but ${redactUrl(url)} is ${server}: give the --source it was captured from`,
      );
    const compare = async (history: HistorySide) => {
      const all = await history.tables();
      const tables = all.filter((t) => include(t.database, t.table));
      if (opts.tables && tables.length === 0)
        throw new ConfigError(
          'UNKNOWN_TABLE',
          `--tables ${opts.tables} matches no table with a history: \`tabletime query tables\` lists them`,
        );
      logger.info({ source: redactUrl(url), tables: tables.length }, 'verify started');
      return report(await verify({ conn, history, tables, chunkRows, timeoutMs, logger }), out);
    };
    const running = opts.store ? null : await runningHistorySide(dataDir);
    if (running) return await compare(running);
    await using store = await openStore(dataDir, opts.store, {
      existing: true,
      notice: (m) => logger.info(m),
    });
    return await compare(storeHistorySide(store, bucketWaitApplied(store, dataDir)));
  } finally {
    await conn.end();
  }
}
