/**
 * The capture job: source binlog -> change files in the bucket, continuously, exactly once after
 * deduplication by version id. The order of work is what makes it safe to kill at any instant:
 * write whole transactions, make every written file durable and visible (finalizeAll), and only
 * then save the checkpoint at the end of the last transaction written. A crash before the
 * checkpoint re-reads from the previous one and writes those changes again (same version ids);
 * a crash after it loses nothing. One retry loop, with backoff, for everything transient.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ChangeFileWriter, type CompletedFile, META_DIR, writeFileDurable } from '../changefile/index.ts';
import {
  backoffDelayMs,
  binlogSequence,
  ConfigError,
  faultPoint,
  lockDataDir,
  sleep,
} from '../core/index.ts';
import { classifyMysqlError } from './mysql-errors.ts';
import { streamBinlog } from './binlog/index.ts';
import { type Checkpoint, CheckpointStore } from './checkpoint.ts';
import { ColumnPolicy, type ColumnPolicySpec } from './column-policy.ts';
import { connectSource, currentBinlogPosition, redactUrl, serverIdentity } from './source.ts';
import { type DdlEffect, ddlEffects, writeDdlRecord } from './ddl.ts';
import { asPublished, publishStaged, selectedTables, takeSnapshot } from './snapshot.ts';
import { exactTableNames, tableFilter } from './table-filter.ts';
import { TableSchemas } from './table-schema.ts';
import { type CapturedChange, TransactionAssembler } from './transactions.ts';

export interface CaptureOptions {
  readonly source: string;
  /** `db.t1,db.t2,db.*` */
  readonly tables: string;
  /** Tables to leave out of `tables`' patterns: db.tmp_*,… */
  readonly excludeTables?: string;
  readonly dataDir: string;
  /** Replica server id; default derived from dataDir (stable across restarts). */
  readonly serverId?: number;
  /** How often written changes are made durable and the checkpoint saved (default 200 ms). */
  readonly flushIntervalMs?: number;
  readonly maxFileBytes?: number;
  readonly gzip?: boolean;
  readonly keepBeforeImage?: boolean;
  readonly streamName?: string;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Take a consistent snapshot of the tables first (default true); false starts at the binlog's end. */
  readonly snapshot?: boolean;
  /** Rows per snapshot query (default 10,000). */
  readonly snapshotChunkRows?: number;
  /** Called after a DDL record is written (durably), before the checkpoint moves past it. */
  /** After a DDL record is durable (`record`: its path), and after every file before it was announced. */
  readonly onDdl?: (effect: DdlEffect, record: string) => void | Promise<void>;
  /** Called with each batch of files once they are durable, before the checkpoint moves past them. */
  readonly onFiles?: (files: readonly CompletedFile[]) => void | Promise<void>;
  /**
   * Called whenever files or records were published in the bucket folder, before they are
   * announced and before the checkpoint moves past them (`--bucket` uploads them here). Unlike
   * a notification, a failure here stops the checkpoint: capture retries from it.
   */
  readonly onDurable?: () => Promise<void>;
  /** Columns to leave out or hash, by table (the config file's `tables.columns`). */
  readonly columns?: ColumnPolicySpec;
  /**
   * A transaction with more row changes than this (default 20,000, or
   * TABLETIME_LARGE_TRANSACTION_ROWS) is written to staging files as it is read and published at
   * its commit, so that capture's memory does not grow with it.
   */
  readonly largeTransactionRows?: number;
  /**
   * The same by the size of the transaction's rows events in the binlog (default 32 MiB, or
   * TABLETIME_LARGE_TRANSACTION_BYTES): rows of 100 KiB would make 20,000 rows 2 GB.
   */
  readonly largeTransactionBytes?: number;
  /** Snapshot progress: rows of `database.table` just read. */
  readonly onSnapshotRows?: (table: string, rows: number) => void;
}

/**
 * Hands durable files to the notification callback. A failed notification is logged, not fatal:
 * notifications speed apply up, and apply also scans the bucket.
 */
async function announce(
  options: CaptureOptions,
  log: Logger,
  files: readonly CompletedFile[],
): Promise<void> {
  if (files.length === 0 || !options.onFiles) return;
  try {
    await options.onFiles(files);
  } catch (err) {
    log.warn(
      { err: (err as Error).message, files: files.length },
      'notification failed; apply will find the files by scanning the bucket',
    );
  }
}

/** TABLETIME_LARGE_TRANSACTION_ROWS (or _BYTES), or the default. */
function largeTransactionFromEnv(what: 'ROWS' | 'BYTES', byDefault: number): number {
  const name = `TABLETIME_LARGE_TRANSACTION_${what}`;
  const text = process.env[name];
  if (text === undefined) return byDefault;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new ConfigError(
      'CONFIG',
      `${name}='${text}' is not a positive whole number (${what.toLowerCase()})`,
    );
  return n;
}

/** True when a binlog position comes before `from` (a table's start). */
function before(
  pos: { logFile: string; logPosition: number },
  from: { logFile: string; logPosition: number },
): boolean {
  const a = binlogSequence(pos.logFile);
  const b = binlogSequence(from.logFile);
  return a < b || (a === b && pos.logPosition < from.logPosition);
}

/**
 * Everything before streaming: check the source is the checkpoint's, finish publishing a snapshot
 * that a crash interrupted, and snapshot every selected table the checkpoint does not know yet.
 */
async function prepare(
  options: CaptureOptions,
  existing: Checkpoint | null,
  include: (database: string, table: string) => boolean,
  log: Logger,
  everConnected: boolean,
  policy: ColumnPolicy,
): Promise<Checkpoint> {
  const bucketDir = bucketDirOf(options.dataDir);
  const stateDir = join(options.dataDir, 'capture');
  const checkpoints = new CheckpointStore(stateDir);
  const stagingDir = join(bucketDir, META_DIR, 'staging');
  const pendingPath = join(stateDir, 'snapshot-publishing.json');
  const conn = await connectSource(options.source, { retryUnreachable: everConnected });
  try {
    const server = await serverIdentity(conn);
    let checkpoint = existing;
    if (checkpoint && checkpoint.server !== server) {
      throw new ConfigError(
        'CHECKPOINT_SERVER',
        `the checkpoint in ${checkpoints.path} belongs to ${checkpoint.server}, but ${redactUrl(options.source)} is ${server}: use another --data-dir for another source`,
      );
    }
    const finish = async ({ next, files }: PendingPublish) => {
      const moved = await publishStaged(stagingDir, bucketDir);
      await options.onDurable?.();
      // Announce the snapshot's files like any others, before the checkpoint moves past them.
      await announce(options, log, files);
      await checkpoints.save(next);
      await rm(pendingPath, { force: true });
      log.info({ files: moved, position: `${next.logFile}:${next.logPosition}` }, 'snapshot published');
      return next;
    };
    // A snapshot was fully read but not fully published when the process died: finish it.
    const pending = await readJson<PendingPublish>(pendingPath);
    if (pending) checkpoint = await finish(pending);

    const wanted = await selectedTables(conn, include);
    const versioned = wanted.filter((t) => t.systemVersioned).map((t) => `${t.database}.${t.table}`);
    if (versioned.length > 0) {
      // Each UPDATE of such a table is logged with an INSERT of its history row: a false version.
      throw new ConfigError(
        'SYSTEM_VERSIONED',
        `${versioned.join(', ')} ${versioned.length === 1 ? 'is' : 'are'} system-versioned, which capture cannot tell from real inserts: leave ${versioned.length === 1 ? 'it' : 'them'} out of --tables`,
      );
    }
    if (!checkpoint) {
      // A name that matches nothing on the first start is a typo far more often than a table to come.
      const found = new Set(wanted.map((t) => `${t.database}.${t.table}`));
      const absent = exactTableNames(options.tables).filter((n) => !found.has(n));
      if (absent.length > 0)
        throw new ConfigError(
          'UNKNOWN_TABLE',
          `the source has no table ${absent.join(', ')} (or the user cannot see it): check --tables; db.* also captures tables created later`,
        );
    }
    const missing = wanted.filter((t) => !checkpoint?.tables[`${t.database}.${t.table}`]);
    if (checkpoint && missing.length === 0) return checkpoint;
    if (options.snapshot === false) {
      const start = await currentBinlogPosition(conn);
      const base = checkpoint ?? {
        version: 1 as const,
        ...start,
        gtid: null,
        server,
        tables: {},
        updatedAt: '',
      };
      const tables = { ...base.tables };
      for (const t of missing) tables[`${t.database}.${t.table}`] = { ...start, snapshotId: null };
      const next = { ...base, tables };
      await checkpoints.save(next);
      log.info(
        { position: `${start.logFile}:${start.logPosition}`, tables: missing.length },
        'no snapshot: capturing from the end of the binlog',
      );
      return next;
    }
    log.info({ tables: missing.map((t) => `${t.database}.${t.table}`) }, 'snapshot starting');
    const snap = await takeSnapshot({
      conn,
      tables: missing,
      bucketDir,
      stagingDir,
      streamName: options.streamName ?? 'tabletime',
      chunkRows: options.snapshotChunkRows,
      onRows: options.onSnapshotRows,
      policy,
      logger: log,
      signal: options.signal,
    });
    const base = checkpoint ?? {
      version: 1 as const,
      ...snap.position,
      gtid: null,
      server,
      tables: {},
      updatedAt: '',
    };
    const tables = { ...base.tables };
    for (const t of missing)
      tables[`${t.database}.${t.table}`] = { ...snap.position, snapshotId: snap.snapshotId };
    const next: Checkpoint = { ...base, tables };
    // Durable intent first: if we die while publishing, the next start finishes the job.
    const intent: PendingPublish = { next, files: snap.files };
    await writeFileDurable(pendingPath, JSON.stringify(intent), `${pendingPath}.tmp`);
    faultPoint('snapshot.before-publish');
    log.info(
      { rows: snap.rows, position: `${snap.position.logFile}:${snap.position.logPosition}` },
      'snapshot read',
    );
    return await finish(intent);
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** The durable intent to publish a snapshot: the checkpoint it leads to, and its files. */
interface PendingPublish {
  readonly next: Checkpoint;
  readonly files: readonly CompletedFile[];
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function bucketDirOf(dataDir: string): string {
  return join(dataDir, 'bucket');
}

function defaultServerId(dataDir: string): number {
  // Stable for one data dir, unlikely to clash with real servers' small ids.
  return 1_000_000_000 + (createHash('sha1').update(dataDir).digest().readUInt32LE(0) % 1_000_000_000);
}

export async function runCapture(options: CaptureOptions): Promise<void> {
  await mkdir(options.dataDir, { recursive: true });
  const lock = await lockDataDir(
    options.dataDir,
    'capture',
    'stop it first, or give this one its own --data-dir',
  );
  try {
    await capture(options);
  } finally {
    await lock.release();
  }
}

async function capture(options: CaptureOptions): Promise<void> {
  const log = options.logger.child({ component: 'capture' });
  const include = tableFilter(options.tables, options.excludeTables);
  const bucketDir = bucketDirOf(options.dataDir);
  const checkpoints = new CheckpointStore(join(options.dataDir, 'capture'));
  // Checked now: a missing hash key is a setup error before anything is read.
  const policy = new ColumnPolicy(options.columns ?? {});
  const flushIntervalMs = options.flushIntervalMs ?? 200;
  const schemas = new TableSchemas();
  const assembler = new TransactionAssembler({
    schemas,
    include,
    streamName: options.streamName ?? 'tabletime',
    keepBeforeImage: options.keepBeforeImage,
    largeTransactionRows: options.largeTransactionRows ?? largeTransactionFromEnv('ROWS', 20_000),
    largeTransactionBytes:
      options.largeTransactionBytes ?? largeTransactionFromEnv('BYTES', 32 * 1024 * 1024),
  });
  // A large transaction's files, until its commit (src/capture/transactions.ts, takeLarge).
  const largeDir = join(bucketDir, META_DIR, 'staging-transaction');

  let checkpoint: Checkpoint | null = await checkpoints.load();
  let attempt = 0;
  // Until the source has answered once, an unreachable one is a setup error, not an outage.
  let everConnected = false;
  while (!options.signal.aborted) {
    let writer: ChangeFileWriter | null = null;
    let large: ChangeFileWriter | null = null;
    try {
      checkpoint = await prepare(options, checkpoint, include, log, everConnected, policy);
      everConnected = true;
      // Files a crash left published here but not uploaded yet (--bucket).
      await options.onDurable?.();
      writer = new ChangeFileWriter({
        bucketDir,
        maxFileBytes: options.maxFileBytes,
        gzip: options.gzip,
        // Files are closed by our flushes; the age limit only bounds a file that keeps growing.
        maxFileAgeMs: Math.max(flushIntervalMs, 1_000),
      });
      assembler.reset();
      // What a large transaction left staged when capture stopped in the middle of it: that
      // transaction is read again from the checkpoint, which is before it.
      await rm(largeDir, { recursive: true, force: true });
      let written: Checkpoint = checkpoint;
      let lastFlush = Date.now();
      let changes = 0;
      // Files the writer completed by itself (a file full or too old, in the middle of a
      // transaction too; a table's schema changed): in their place once the next flush's
      // finalizeAll returns, and announced then with the rest. Dropping them once left the first files of a transaction larger than
      // a file unannounced: `run` did not apply them while it ran, and `wait` said all was applied.
      let completed: CompletedFile[] = [];
      // The files a large transaction's writer completed: staged, published at its commit.
      let staged: CompletedFile[] = [];
      // Whether a change is new to its table's history (not in its snapshot); a table created
      // while capturing starts its history with its first change.
      const admit = (c: CapturedChange): boolean => {
        const name = `${c.event.database}.${c.event.table}`;
        const from = written.tables[name];
        if (from) return !before(c.event.position, from);
        written = {
          ...written,
          tables: {
            ...written.tables,
            [name]: { logFile: c.event.position.logFile, logPosition: 0, snapshotId: null },
          },
        };
        return true;
      };
      const writeOne = async (to: ChangeFileWriter, c: CapturedChange) => {
        const w = policy.apply(c.event, c.schema);
        const full = await to.write(w.event, w.schema);
        if (full.length > 0) (to === large ? staged : completed).push(...full);
        changes++;
      };
      log.info(
        { position: `${checkpoint.logFile}:${checkpoint.logPosition}`, source: redactUrl(options.source) },
        'streaming',
      );
      const flush = async () => {
        const files = [...completed, ...(await writer!.finalizeAll())];
        completed = [];
        if (files.length > 0) await options.onDurable?.();
        // Before the checkpoint moves: a crash here re-writes (and re-announces) these changes,
        // it never leaves a durable file unannounced.
        await announce(options, log, files);
        if (files.length > 0) faultPoint('capture.after-files');
        if (written !== checkpoint) {
          await checkpoints.save(written);
          checkpoint = written;
        }
        lastFlush = Date.now();
        if (files.length > 0) {
          log.info(
            { files: files.length, changes, position: `${written.logFile}:${written.logPosition}` },
            'files written',
          );
          changes = 0;
        }
      };
      for await (const { event, logFile } of streamBinlog({
        url: options.source,
        serverId: options.serverId ?? defaultServerId(options.dataDir),
        logFile: checkpoint.logFile,
        logPosition: checkpoint.logPosition,
        heartbeatMs: flushIntervalMs,
        signal: options.signal,
        // The transaction assembler decodes the rest of a before image when it needs it.
        keyOnlyBeforeImages: true,
      })) {
        attempt = 0;
        const tx = assembler.push(event, logFile);
        if (!tx) {
          const part = assembler.takeLarge();
          if (part) {
            if (!large) {
              await flush(); // everything before the transaction is published before any of it
              large = new ChangeFileWriter({
                bucketDir,
                stagingDir: largeDir,
                maxFileBytes: options.maxFileBytes,
                gzip: options.gzip,
                maxFileAgeMs: Infinity,
              });
              log.info(
                { position: `${logFile}:${event.header.position}` },
                'a large transaction: staged as it is read, published when it commits',
              );
            }
            for (const c of part) if (admit(c)) await writeOne(large, c);
          }
        } else {
          if (tx.streamed) {
            if (!large) throw new Error('a staged transaction ended without its staging writer');
            if (tx.rolledBack) {
              // Nothing of it may reach the bucket, not even with the next large transaction.
              await large.abort();
              await rm(largeDir, { recursive: true, force: true });
            } else {
              for (const c of tx.changes) if (admit(c)) await writeOne(large, c);
              staged.push(...(await large.finalizeAll()));
              await publishStaged(largeDir, bucketDir);
              completed.push(...asPublished(staged, bucketDir));
            }
            staged = [];
            large = null;
          } else {
            for (const c of tx.changes) if (admit(c)) await writeOne(writer, c);
          }
          const effects = tx.ddl ? ddlEffects(tx.ddl.sql, tx.ddl.database) : [];
          if (effects.length > 0) {
            // Every change before a DDL statement is published (and handed over) before its
            // record, so whoever sees the record can have every earlier change first: a TRUNCATE's
            // tombstones are right only over the complete history before it. The checkpoint stays
            // before the DDL until its record is durable.
            await flush();
          }
          written = {
            ...written,
            logFile: tx.end.logFile,
            logPosition: tx.end.logPosition,
            gtid: tx.gtid ?? written.gtid,
            commitTimestampUs: tx.commitTimestampUs,
          };
          if (tx.ddl) {
            for (const effect of effects) {
              const touches = [effect.table, ...(effect.renamedTo ? [effect.renamedTo] : [])].filter((t) =>
                include(t.database, t.table),
              );
              if (touches.length === 0) continue;
              const record = await writeDdlRecord(bucketDir, effect, {
                ...tx.ddl,
                gtid: tx.gtid,
                commitTimestampUs: tx.commitTimestampUs,
              });
              await options.onDurable?.();
              await options.onDdl?.(effect, record);
              // A table that appears under a selected name starts its history here.
              const appeared = effect.kind === 'CREATE' ? effect.table : effect.renamedTo;
              if (appeared && include(appeared.database, appeared.table)) {
                const name = `${appeared.database}.${appeared.table}`;
                if (!written.tables[name]) {
                  written = {
                    ...written,
                    tables: {
                      ...written.tables,
                      [name]: { logFile: tx.ddl.logFile, logPosition: tx.ddl.logPosition, snapshotId: null },
                    },
                  };
                }
              }
              log.info(
                {
                  position: `${tx.ddl.logFile}:${tx.ddl.logPosition}`,
                  kind: effect.kind,
                  table: `${effect.table.database}.${effect.table.table}`,
                },
                'DDL',
              );
            }
          }
        }
        if (Date.now() - lastFlush >= flushIntervalMs) await flush();
      }
      // Stopped (signal): what was written is made durable, so a restart does not read it again.
      // A large transaction not committed yet stays out (the checkpoint is before it).
      await flush();
      await large?.abort();
      return;
    } catch (caught) {
      await writer?.abort();
      writer = null;
      await large?.abort();
      large = null;
      if (options.signal.aborted) return;
      const err = classifyMysqlError(caught, 'capture');
      if (err.kind === 'transient') {
        const delay = backoffDelayMs(attempt++);
        log.warn(
          { err: err.message, code: err.code, retryInMs: Math.round(delay) },
          'capture interrupted; resuming from the checkpoint',
        );
        await sleep(delay, options.signal);
        continue;
      }
      throw err;
    }
  }
}
