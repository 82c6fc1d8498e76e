/**
 * `tabletime run`: capture and apply in one process, on the embedded defaults (folder bucket,
 * in-process notifications, DuckDB in DIR/history.duckdb). It holds the DuckDB file, so it also
 * answers `query`, `status` and `wait` over DIR/run.sock. Apply runs beside capture: capture hands
 * over each batch of durable files and goes on; on start, apply catches up with every file the
 * store does not have yet (written while it was down), so a lost notification costs nothing.
 */
import { createServer, type Server } from 'node:http';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { applyBucket, applyFiles, applyTruncates, deadLetterFiles } from '../apply/index.ts';

/** A queue entry that is not a change file: this TRUNCATE record (after every file before it). */
const TRUNCATE = '\u0000truncate:';
import { bucketDirOf, CheckpointStore, connectSource, runCapture } from '../capture/index.ts';
import { SchemaRegistry } from '../changefile/index.ts';
import type { ColumnPolicySpec } from '../capture/column-policy.ts';
import {
  backoffDelayMs,
  binlogAtOrAfter,
  isoFromMicros,
  lockDataDir,
  sleep,
  TabletimeError,
} from '../core/index.ts';
import { openReaderFor, openStore } from '../store/index.ts';
import { createLogger } from './logger.ts';
import { megabytesToBytes, positiveInt } from './numbers.ts';
import { answerQuery, type QueryOptions } from './query-command.ts';
import { AnswerFrames, type RunAnswer, socketPathOf } from './run-socket.ts';
import { answerHistory, storeHistorySide } from '../verify/history-side.ts';
import { resolveSourceUrl } from './source-url.ts';
import { createApi } from '../http/api.ts';
import { startHttp } from '../http/server.ts';
import { PipelineMetrics } from '../http/metrics.ts';

export interface RunCommandOptions {
  source?: string;
  sourcePasswordFile?: string;
  tables: string;
  dataDir: string;
  flushIntervalMs?: string;
  fileRotationMb?: string;
  store?: string;
  /** Serve the HTTP API and the page here: host:port. */
  http?: string;
  tokenFile?: string;
  excludeTables?: string;
  /** Columns to leave out or hash (config file only). */
  columns?: ColumnPolicySpec;
}

export interface StatusReport {
  readonly running: boolean;
  readonly captured: { logFile: string; logPosition: number; gtid: string | null } | null;
  readonly source: { logFile: string; logPosition: number } | null;
  readonly behindBytes: number | null;
  /** Seconds between the last captured commit and now while the source is ahead; 0 when caught up. */
  readonly lagSeconds: number | null;
  readonly filesPending: number;
  /** Changes in those files: captured, not yet queryable. */
  readonly eventsPending: number;
  readonly deadLetters: number;
  /** Why the store cannot be read now (it is down: apply waits for it); null when it answers. */
  readonly storeError: string | null;
  /** Versions per table; empty while the store cannot be read. */
  readonly tables: { database: string; table: string; versions: number }[];
}

async function countDeadLetters(dataDir: string): Promise<number> {
  try {
    let n = 0;
    for (const f of await deadLetterFiles(join(dataDir, 'dead-letters'))) {
      n += (await readFile(join(dataDir, 'dead-letters', f), 'utf8')).split('\n').filter(Boolean).length;
    }
    return n;
  } catch {
    return 0;
  }
}

/** An error as a running pipeline answers it (the client throws it again as ours). */
function answerError(err: unknown): NonNullable<RunAnswer['error']> {
  const e = err as Partial<TabletimeError>;
  return { code: e.code ?? 'INTERNAL', kind: e.kind ?? 'bug', message: e.message ?? String(err) };
}

const ahead = binlogAtOrAfter;

/** Seconds since a commit time in µs, to a tenth; null when unknown. */
function lagSince(commitTimestampUs: number | null | undefined): number | null {
  if (!commitTimestampUs) return null;
  return Math.max(0, Math.round((Date.now() * 1000 - commitTimestampUs) / 100_000) / 10);
}

export async function runCommand(opts: RunCommandOptions): Promise<number> {
  const logger = createLogger();
  const dataDir = resolve(opts.dataDir);
  // Checked before anything is opened or created.
  const flushIntervalMs = positiveInt(opts.flushIntervalMs, '--flush-interval-ms');
  const maxFileBytes = megabytesToBytes(opts.fileRotationMb, '--file-rotation-mb');
  const source = await resolveSourceUrl(opts);
  const bucketDir = bucketDirOf(dataDir);
  const deadLetterDir = join(dataDir, 'dead-letters');
  const controller = new AbortController();
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping: finishing the files being written and applied');
    controller.abort();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  await mkdir(dataDir, { recursive: true }); // a new data dir: DuckDB creates files, not folders
  // Before anything else: a second run here must not take the first one's socket or store.
  await using _lock = await lockDataDir(
    dataDir,
    'capture',
    'stop it first, or give this one its own --data-dir',
  );
  await using store = await openStore(dataDir, opts.store, { notice: (m) => logger.info(m) });
  await using reader = await openReaderFor(store, dataDir, opts.store);
  const checkpoints = new CheckpointStore(join(dataDir, 'capture'));
  const registry = new SchemaRegistry(bucketDir);
  const metrics = new PipelineMetrics(async () => {
    const { report: s } = await pipelineState();
    return {
      lagSeconds: s.lagSeconds,
      pendingEvents: s.eventsPending,
      pendingFiles: s.filesPending,
      deadLetters: s.deadLetters,
    };
  });
  const applyOptions = {
    store,
    bucketDir,
    deadLetterDir,
    logger: logger.child({ component: 'apply' }),
    onBatch: (perTable: ReadonlyMap<string, number>, seconds: number) => metrics.applied(perTable, seconds),
  };

  // Apply: one worker, fed by capture; files are applied in the order they were published.
  const queue: string[] = [];
  const waiter: { wake: (() => void) | null } = { wake: null };
  // Units of apply work handed over and done so far (the queue is applied in order). The first
  // unit is the catch-up with files written while no apply ran: nothing is queryable-complete
  // before it is done. Handed over and not done yet: handedOver - applied.
  let handedOver = 1;
  let applied = 0;
  // Changes in files handed over and not yet applied, by path.
  const eventsOf = new Map<string, number>();
  let eventsPending = 0;
  const done = (path: string | null) => {
    applied++;
    if (path !== null) {
      eventsPending -= eventsOf.get(path) ?? 0;
      eventsOf.delete(path);
    }
  };
  /**
   * Runs one unit of apply work, retrying what is transient (a store that is down) until it works
   * or run is stopped, as capture does with its source: meanwhile capture goes on writing change
   * files, and nothing is lost. Returns undefined when stopped during a wait.
   */
  const retrying = async <T>(work: () => Promise<T>): Promise<T | undefined> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        if (!(err instanceof TabletimeError && err.kind === 'transient')) throw err;
        const delay = backoffDelayMs(attempt);
        logger.warn({ err: err.message, code: err.code, retryInMs: Math.round(delay) }, 'apply: retrying');
        await sleep(delay, controller.signal);
        if (controller.signal.aborted) return undefined;
      }
    }
  };
  const failure: { error: Error | null } = { error: null };
  const worker = (async () => {
    const caughtUp = await retrying(() => applyBucket(applyOptions));
    if (caughtUp === undefined) return;
    done(null);
    logger.info({ files: caughtUp.files, versions: caughtUp.inserted }, 'apply caught up with the bucket');
    for (;;) {
      const path = queue.shift();
      if (path === undefined) {
        if (controller.signal.aborted) return;
        await new Promise<void>((r) => (waiter.wake = r));
        continue;
      }
      if (path.startsWith(TRUNCATE)) {
        const ok = await retrying(async () => {
          await applyTruncates(applyOptions, [path.slice(TRUNCATE.length)]);
          return true;
        });
        if (ok === undefined) return;
        done(path);
        continue;
      }
      // The files queued behind it go in the same store transaction (up to the next TRUNCATE).
      const paths = [path];
      while (queue.length > 0 && !queue[0]!.startsWith(TRUNCATE) && paths.length < 200)
        paths.push(queue.shift()!);
      const ok = await retrying(async () => {
        await applyFiles(paths, applyOptions, registry);
        return true;
      });
      if (ok === undefined) return;
      for (const p of paths) done(p);
    }
  })().catch((err: unknown) => {
    // Apply cannot go on: stop capture too, and exit with the error (a supervisor restarts us).
    failure.error = err instanceof Error ? err : new Error(`apply failed: ${JSON.stringify(err)}`);
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'apply failed; stopping');
    controller.abort();
  });
  const enqueue = (paths: string[]) => {
    handedOver += paths.length;
    queue.push(...paths);
    const w = waiter.wake;
    waiter.wake = null;
    w?.();
  };

  // One connection asks the source for its position (status, every /metrics scrape, wait); it is
  // opened again after a failure, and closed when run stops.
  const position: { conn: ReturnType<typeof connectSource> | null } = { conn: null };
  const sourcePosition = async () => {
    position.conn ??= connectSource(source);
    const conn = position.conn;
    try {
      const [rows] = (await (await conn).query('SHOW MASTER STATUS')) as unknown as [
        { File: string; Position: string }[],
      ];
      return rows[0] ? { logFile: rows[0].File, logPosition: Number(rows[0].Position) } : null;
    } catch (err) {
      if (position.conn === conn) position.conn = null;
      void conn.then((c) => c.end()).catch(() => undefined);
      throw err;
    }
  };

  /** Where the pipeline is, without the per-table counts (what /metrics and /api need). */
  const pipelineState = async () => {
    const cp = await checkpoints.load();
    const src = await sourcePosition().catch(() => null);
    const pending = handedOver - applied;
    const report: Omit<StatusReport, 'tables' | 'storeError'> = {
      running: true,
      captured: cp ? { logFile: cp.logFile, logPosition: cp.logPosition, gtid: cp.gtid } : null,
      source: src,
      behindBytes:
        cp && src && cp.logFile === src.logFile ? Math.max(0, src.logPosition - cp.logPosition) : null,
      lagSeconds: !cp || !src ? null : ahead(cp, src) && pending === 0 ? 0 : lagSince(cp.commitTimestampUs),
      filesPending: pending,
      eventsPending,
      deadLetters: await countDeadLetters(dataDir),
    };
    return { checkpoint: cp, report };
  };
  // While the store is down, the rest of the pipeline still has a state to report.
  const status = async (): Promise<StatusReport> => {
    const { report } = await pipelineState();
    try {
      return { ...report, storeError: null, tables: await reader.tables() };
    } catch (err) {
      if (!(err instanceof TabletimeError && err.kind === 'transient')) throw err;
      return { ...report, storeError: `${err.code}: ${err.message}`, tables: [] };
    }
  };

  // Everything committed at the source before `pos` is in the history once capture's checkpoint
  // has passed it (so its files were handed over) and apply has applied what was handed over then.
  const waitApplied = async (pos: { logFile: string; logPosition: number }, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let target: number | null = null;
    while (Date.now() < deadline) {
      if (target === null) {
        const cp = await checkpoints.load();
        if (cp && ahead(cp, pos)) target = handedOver;
      }
      if (target !== null && applied >= target) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  };
  // `wait`: every change committed at the source before the call is queryable.
  const waitUntilQueryable = async (timeoutMs: number): Promise<boolean> => {
    const target = await sourcePosition();
    return target !== null && (await waitApplied(target, timeoutMs));
  };
  const historySide = storeHistorySide(reader, waitApplied);

  const socketPath = socketPathOf(dataDir);
  await rm(socketPath, { force: true }); // left by a process that was killed
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      void (async () => {
        const reply = (answer: unknown) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(answer));
        };
        try {
          const input = (body ? JSON.parse(body) : {}) as {
            what?: string;
            table?: string;
            opts?: QueryOptions;
            timeoutMs?: number;
          };
          if (req.url === '/query') {
            // Sent as it is made (AnswerFrames): a large answer is never held whole here.
            const out = new AnswerFrames(res);
            let answer: Omit<RunAnswer, 'output'>;
            try {
              answer = {
                exitCode: await answerQuery(
                  reader,
                  input.what ?? '',
                  input.table,
                  input.opts ?? { dataDir },
                  out,
                ),
              };
            } catch (err) {
              answer = { exitCode: 1, error: answerError(err) };
            }
            await out.answer(answer);
          } else if (req.url === '/history') {
            const h = input as { op?: string; args?: Record<string, unknown> };
            reply({
              output: '',
              exitCode: 0,
              data: await answerHistory(historySide, h.op ?? '', h.args ?? {}),
            });
          } else if (req.url === '/status') {
            reply({ output: '', exitCode: 0, data: await status() });
          } else if (req.url === '/wait') {
            const ok = await waitUntilQueryable(input.timeoutMs ?? 60_000);
            reply({ output: '', exitCode: ok ? 0 : 1, data: { queryable: ok } });
          } else {
            res.statusCode = 404;
            reply({
              output: '',
              exitCode: 2,
              error: { code: 'USAGE', message: `no such request ${req.url}` },
            });
          }
        } catch (err) {
          reply({ output: '', exitCode: 1, error: answerError(err) });
        }
      })();
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  await chmod(socketPath, 0o600);
  const http = opts.http
    ? await startHttp(
        createApi({
          store: reader,
          metrics: () => metrics.text(),
          pipeline: async () => {
            const { report: s, checkpoint: cp } = await pipelineState();
            return {
              capturedUpTo: cp?.commitTimestampUs ? isoFromMicros(cp.commitTimestampUs) : null,
              lagSeconds: s.lagSeconds,
              pendingEvents: s.eventsPending,
              pendingFiles: s.filesPending,
            };
          },
        }),
        {
          listen: opts.http,
          tokenFile: opts.tokenFile,
          logger,
          // Ready once the start-up catch-up is applied: answers are complete up to capture's position.
          ready: () => Promise.resolve(applied >= 1),
        },
      ).catch(async (err: unknown) => {
        server.close();
        await rm(socketPath, { force: true });
        throw err;
      })
    : null;
  logger.info({ dataDir, socket: socketPath }, 'run: capture and apply started');
  try {
    await runCapture({
      source,
      tables: opts.tables,
      excludeTables: opts.excludeTables,
      columns: opts.columns,
      dataDir,
      flushIntervalMs,
      maxFileBytes,
      logger,
      signal: controller.signal,
      onSnapshotRows: (table, rows) => metrics.snapshotRows(table, rows),
      onFiles: (files) => {
        for (const f of files) {
          eventsOf.set(f.path, f.events);
          eventsPending += f.events;
          metrics.captured(`${f.database}.${f.table}`, f.events);
        }
        enqueue(files.map((f) => f.path));
      },
      onDdl: (effect, record) => {
        if (effect.kind === 'TRUNCATE') enqueue([`${TRUNCATE}${record}`]);
      },
    });
  } finally {
    controller.abort();
    const w = waiter.wake;
    waiter.wake = null;
    w?.();
    await worker;
    await http?.close();
    await position.conn?.then((c) => c.end()).catch(() => undefined);
    // close() alone waits for the clients' keep-alive connections to time out.
    const closed = new Promise((r) => server.close(r));
    server.closeAllConnections();
    await closed;
    await rm(socketPath, { force: true });
  }
  if (failure.error) throw failure.error;
  logger.info('run stopped');
  return 0;
}
