/**
 * The capture job: source binlog -> change files in the bucket, continuously, exactly once after
 * deduplication by version id. The order of work is what makes it safe to kill at any instant:
 * write whole transactions, make every written file durable and visible (finalizeAll), and only
 * then save the checkpoint at the end of the last transaction written. A crash before the
 * checkpoint re-reads from the previous one and writes those changes again (same version ids);
 * a crash after it loses nothing. One retry loop, with backoff, for everything transient.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ChangeFileWriter, type CompletedFile } from '../changefile/index.ts';
import { backoffDelayMs, ConfigError, faultPoint, sleep } from '../core/index.ts';
import { classifyMysqlError } from './mysql-errors.ts';
import { streamBinlog } from './binlog/index.ts';
import { type Checkpoint, CheckpointStore } from './checkpoint.ts';
import { connectSource, currentBinlogPosition, redactUrl, serverIdentity } from './source.ts';
import { tableFilter } from './table-filter.ts';
import { TableSchemas } from './table-schema.ts';
import { TransactionAssembler } from './transactions.ts';

export interface CaptureOptions {
  readonly source: string;
  /** `db.t1,db.t2,db.*` */
  readonly tables: string;
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
  /** Called with each batch of files once they are durable and the checkpoint covers them. */
  readonly onFiles?: (files: readonly CompletedFile[]) => void | Promise<void>;
}

export function bucketDirOf(dataDir: string): string {
  return join(dataDir, 'bucket');
}

function defaultServerId(dataDir: string): number {
  // Stable for one data dir, unlikely to clash with real servers' small ids.
  return 1_000_000_000 + (createHash('sha1').update(dataDir).digest().readUInt32LE(0) % 1_000_000_000);
}

export async function runCapture(options: CaptureOptions): Promise<void> {
  const log = options.logger.child({ component: 'capture' });
  const include = tableFilter(options.tables);
  const bucketDir = bucketDirOf(options.dataDir);
  const checkpoints = new CheckpointStore(join(options.dataDir, 'capture'));
  const flushIntervalMs = options.flushIntervalMs ?? 200;
  const schemas = new TableSchemas();
  const assembler = new TransactionAssembler({
    schemas,
    include,
    streamName: options.streamName ?? 'tabletime',
    keepBeforeImage: options.keepBeforeImage,
  });

  let checkpoint: Checkpoint | null = await checkpoints.load();
  let attempt = 0;
  while (!options.signal.aborted) {
    let writer: ChangeFileWriter | null = null;
    try {
      const conn = await connectSource(options.source);
      let server: string;
      try {
        server = await serverIdentity(conn);
        if (!checkpoint) {
          const start = await currentBinlogPosition(conn);
          checkpoint = { version: 1, ...start, gtid: null, server, snapshotted: [], updatedAt: '' };
          await checkpoints.save(checkpoint);
          log.info(
            { position: `${start.logFile}:${start.logPosition}` },
            'no checkpoint: capturing from the end of the binlog',
          );
        } else if (checkpoint.server !== server) {
          throw new ConfigError(
            'CHECKPOINT_SERVER',
            `the checkpoint in ${checkpoints.path} belongs to ${checkpoint.server}, but ${redactUrl(options.source)} is ${server}: use another --data-dir for another source`,
          );
        }
      } finally {
        await conn.end();
      }
      writer = new ChangeFileWriter({
        bucketDir,
        maxFileBytes: options.maxFileBytes,
        gzip: options.gzip,
        // Files are closed by our flushes; the age limit only bounds a file that keeps growing.
        maxFileAgeMs: Math.max(flushIntervalMs, 1_000),
      });
      assembler.reset();
      let written: Checkpoint = checkpoint;
      let lastFlush = Date.now();
      let changes = 0;
      log.info(
        { position: `${checkpoint.logFile}:${checkpoint.logPosition}`, source: redactUrl(options.source) },
        'streaming',
      );
      const flush = async () => {
        const files = await writer!.finalizeAll();
        if (files.length > 0) faultPoint('capture.after-files');
        if (written.logFile !== checkpoint!.logFile || written.logPosition !== checkpoint!.logPosition) {
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
          await options.onFiles?.(files);
        }
      };
      for await (const { event, logFile } of streamBinlog({
        url: options.source,
        serverId: options.serverId ?? defaultServerId(options.dataDir),
        logFile: checkpoint.logFile,
        logPosition: checkpoint.logPosition,
        heartbeatMs: flushIntervalMs,
        signal: options.signal,
      })) {
        attempt = 0;
        const tx = assembler.push(event, logFile);
        if (tx) {
          for (const c of tx.changes) await writer.write(c.event, c.schema);
          changes += tx.changes.length;
          written = {
            ...written,
            logFile: tx.end.logFile,
            logPosition: tx.end.logPosition,
            gtid: tx.gtid ?? written.gtid,
          };
          if (tx.ddl)
            log.info(
              { position: `${tx.end.logFile}:${tx.end.logPosition}`, sql: tx.ddl.sql.slice(0, 200) },
              'DDL',
            );
        }
        if (Date.now() - lastFlush >= flushIntervalMs) await flush();
      }
      // Stopped (signal): what was written is made durable, so a restart does not read it again.
      await flush();
      return;
    } catch (caught) {
      await writer?.abort();
      writer = null;
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
