/**
 * Apply: change files -> versions in the history store. Each file is read whole (ours and
 * Datastream's, JSON and Avro), its bad lines go to the dead-letter folder with their reason,
 * and its events are stored in one transaction that also marks the file applied, so a file
 * applied twice, a duplicate notification or a crash between the store's commit and anything
 * after it never makes a second version (the version id is the key, too).
 */
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { basename, join, relative, sep } from 'node:path';
import type { Logger } from 'pino';
import {
  type ColumnHints,
  type DeadLetter,
  META_DIR,
  readChangeFile,
  SchemaRegistry,
  writeFileDurable,
} from '../changefile/index.ts';
import {
  dropObjects,
  fetchObjects,
  isChangeFileName,
  listLocalObjects,
  type RemoteBucket,
  syncMeta,
  withTimes,
} from '../bucket/index.ts';
import type { ChangeEvent, TableSchema } from '../core/index.ts';
import { type HistoryStore, NATIVE_FILE } from '../store/index.ts';

export interface ApplyOptions {
  readonly store: HistoryStore;
  /** The bucket the files are in (its schema registry types our files). */
  readonly bucketDir: string;
  /**
   * A shared bucket (`--bucket gs://…` or a shared folder): files are downloaded into `bucketDir`
   * to be applied, then removed from it.
   */
  readonly remote?: RemoteBucket;
  /** Where dead letters go: one JSON line each, in a file named after the change file. */
  readonly deadLetterDir: string;
  readonly columnHints?: ColumnHints;
  readonly logger?: Logger;
  /** After each store transaction: row changes applied by table (database.table), and its seconds. */
  readonly onBatch?: (perTable: ReadonlyMap<string, number>, seconds: number) => void;
}

export interface ApplyResult {
  readonly files: number;
  readonly skipped: number;
  readonly events: number;
  readonly inserted: number;
  readonly deadLetters: number;
}

/** An ApplyResult being added up. */
type Totals = { -readonly [K in keyof ApplyResult]: ApplyResult[K] };

const noTotals = (): Totals => ({ files: 0, skipped: 0, events: 0, inserted: 0, deadLetters: 0 });

function addTo(total: Totals, r: ApplyResult): void {
  for (const k of Object.keys(total) as (keyof ApplyResult)[]) total[k] += r[k];
}

/** The name a file is known by in the store: its path inside the bucket, '/'-separated. */
export function fileName(bucketDir: string, path: string): string {
  const rel = relative(bucketDir, path);
  return rel.startsWith('..') ? path : rel.split(sep).join('/');
}

/**
 * Files a change file's bad lines, all of them at once: the dead-letter file named after it is
 * replaced whole (temp file, rename), so a file read again after a crash before its commit, or
 * by two workers at once, leaves its dead letters once, not once per reading.
 */
async function writeDeadLetters(dir: string, name: string, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const base = `${name.replaceAll('/', '__')}.jsonl`;
  const target = join(dir, base);
  const lines = letters.map((d) =>
    JSON.stringify({
      file: name,
      line: d.line,
      code: d.code,
      reason: d.reason,
      raw: d.raw,
      at: new Date().toISOString(),
    }),
  );
  await writeFileDurable(
    target,
    `${lines.join('\n')}\n`,
    join(dir, `.${base}.${process.pid}.${randomUUID()}.tmp`),
  );
}

/**
 * The dead-letter files in `dir`, one per change file, without the temporary files (dot files) a
 * write in progress or a crash left; none when there is no such folder.
 */
export async function deadLetterFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => !f.startsWith('.') && f.endsWith('.jsonl')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Files applied in one store transaction, at most (they are read into memory first). */
const BATCH_EVENTS = 10_000;
const BATCH_FILES = 200;

/** Applies one change file (skipped when the store has it already). */
export function applyFile(
  path: string,
  options: ApplyOptions,
  registry = new SchemaRegistry(options.bucketDir),
): Promise<ApplyResult> {
  return applyFiles([path], options, registry);
}

/** Our own JSON change files the store reads itself, at most this many bytes to a transaction. */
const NATIVE_BATCH_BYTES = 64 * 1024 * 1024;

/**
 * Applies change files in order. A store that reads change files itself (DuckDB) takes our own
 * JSON files directly, up to 64 MiB to a transaction; what it refuses, and every other file, is
 * read here (applyReadFiles). TABLETIME_NATIVE_APPLY=0 reads every file here.
 */
export async function applyFiles(
  paths: readonly string[],
  options: ApplyOptions,
  registry = new SchemaRegistry(options.bucketDir),
): Promise<ApplyResult> {
  const { store } = options;
  if (!store.applyChangeFiles || process.env.TABLETIME_NATIVE_APPLY === '0')
    return applyReadFiles(paths, options, registry);
  const total = noTotals();
  const add = (r: ApplyResult) => addTo(total, r);
  const names = paths.map((p) => fileName(options.bucketDir, p));
  const applied = await store.appliedAmong(names);
  let read: string[] = [];
  let native: { path: string; name: string }[] = [];
  let nativeBytes = 0;
  const flushRead = async () => {
    if (read.length > 0) add(await applyReadFiles(read, options, registry));
    read = [];
  };
  /**
   * The store reads `files` itself. What it refuses is split in two and offered again, so that
   * one file it cannot take (a zero date, a key with a quote) sends only that file to
   * applyReadFiles, not the whole batch.
   */
  const applyNative = async (files: { path: string; name: string }[]): Promise<void> => {
    const started = performance.now();
    const r = await store.applyChangeFiles!(files, (key) => registry.get(key));
    if (!r.applied) {
      if (files.length > 1) {
        const half = Math.ceil(files.length / 2);
        await applyNative(files.slice(0, half));
        await applyNative(files.slice(half));
        return;
      }
      options.logger?.info({ file: files[0]!.name, reason: r.reason }, 'file read by tabletime');
      add(await applyReadFiles([files[0]!.path], options, registry));
      return;
    }
    const seconds = (performance.now() - started) / 1000;
    options.onBatch?.(r.perTable, seconds);
    add({
      files: files.length - r.skipped.length,
      skipped: r.skipped.length,
      events: r.events,
      inserted: r.inserted,
      deadLetters: 0,
    });
    options.logger?.info(
      {
        files: files.length,
        events: r.events,
        inserted: r.inserted,
        first: files[0]!.name,
        ms: Math.round(seconds * 1000),
        native: true,
      },
      'files applied',
    );
  };
  const flushNative = async () => {
    if (native.length === 0) return;
    const files = native;
    native = [];
    nativeBytes = 0;
    await applyNative(files);
  };
  for (const [i, path] of paths.entries()) {
    const name = names[i]!;
    if (applied.has(name)) {
      total.skipped++;
      continue;
    }
    if (!NATIVE_FILE.test(name) || !path.endsWith(name)) {
      await flushNative();
      read.push(path);
      continue;
    }
    await flushRead();
    const { size } = await stat(path);
    if (native.length > 0 && (nativeBytes + size > NATIVE_BATCH_BYTES || native.length >= BATCH_FILES))
      await flushNative();
    native.push({ path, name });
    nativeBytes += size;
  }
  await flushRead();
  await flushNative();
  return total;
}

/**
 * Reads change files and applies them in order, several to a store transaction (up to 10,000
 * changes): far fewer statements and commits than one transaction a file. Files the store has are
 * skipped.
 */
export async function applyReadFiles(
  paths: readonly string[],
  options: ApplyOptions,
  registry = new SchemaRegistry(options.bucketDir),
): Promise<ApplyResult> {
  const total = noTotals();
  // Which files the store has, asked once up front: the store's connection is then used by one
  // batch at a time, and the next files are read while the database stores the batch before.
  const names = paths.map((p) => fileName(options.bucketDir, p));
  const applied = await options.store.appliedAmong(names);
  let batch: { file: string; events: { event: ChangeEvent; schema: TableSchema }[] }[] = [];
  let batchEvents = 0;
  let storing: Promise<void> = Promise.resolve();
  const flush = async () => {
    await storing;
    if (batch.length === 0) return;
    const files = batch;
    const events = batchEvents;
    batch = [];
    batchEvents = 0;
    const started = performance.now();
    storing = options.store.applyFiles(files).then(({ inserted, skipped }) => {
      if (options.onBatch) {
        const perTable = new Map<string, number>();
        const known = new Set(skipped);
        for (const f of files) {
          if (known.has(f.file)) continue;
          for (const { event } of f.events) {
            const t = `${event.database}.${event.table}`;
            perTable.set(t, (perTable.get(t) ?? 0) + 1);
          }
        }
        options.onBatch(perTable, (performance.now() - started) / 1000);
      }
      total.files += files.length - skipped.length;
      total.skipped += skipped.length;
      total.inserted += inserted;
      options.logger?.info(
        {
          files: files.length,
          events,
          inserted,
          first: files[0]!.file,
          ms: Math.round(performance.now() - started),
        },
        'files applied',
      );
    });
    // Surface a failure now if it is already known; otherwise at the next flush.
    storing.catch(() => undefined);
  };
  for (const [i, path] of paths.entries()) {
    const name = names[i]!;
    if (applied.has(name)) {
      total.skipped++;
      continue;
    }
    const events: { event: ChangeEvent; schema: TableSchema }[] = [];
    const dead: DeadLetter[] = [];
    for await (const item of readChangeFile(path, { registry, columnHints: options.columnHints })) {
      if (item.kind === 'event') events.push({ event: item.event, schema: item.schema });
      else dead.push(item.deadLetter);
    }
    // Dead letters first: if we die before the store commits, the file is applied again and its
    // dead letters are written again (a duplicate report), never lost.
    await writeDeadLetters(options.deadLetterDir, name, dead);
    total.events += events.length;
    total.deadLetters += dead.length;
    batch.push({ file: name, events });
    batchEvents += events.length;
    if (batchEvents >= BATCH_EVENTS || batch.length >= BATCH_FILES) await flush();
  }
  await flush();
  await storing;
  return total;
}

/** Every change file in the bucket, in name order (tabletime's own folder left out). */
export async function listBucket(bucketDir: string): Promise<string[]> {
  return (await listLocalObjects(bucketDir))
    .filter(isChangeFileName)
    .map((name) => join(bucketDir, ...name.split('/')));
}

/** The names of every change file in the bucket (the shared one when there is one). */
async function changeFileNames(options: ApplyOptions): Promise<string[]> {
  if (options.remote) return (await options.remote.list('')).filter(isChangeFileName);
  return (await listBucket(options.bucketDir)).map((p) => fileName(options.bucketDir, p));
}

/** The change files created at least `settledMs` ago. */
async function settledChangeFileNames(options: ApplyOptions, settledMs: number): Promise<string[]> {
  const infos = options.remote
    ? (await options.remote.listWithTimes('')).filter((o) => isChangeFileName(o.name))
    : await withTimes(options.bucketDir, await changeFileNames(options));
  const before = Date.now() - settledMs;
  return infos.filter((o) => o.createdMs <= before).map((o) => o.name);
}

/** Shared-bucket files downloaded and applied at a time. */
const FETCH_FILES = 200;

/**
 * Applies change files given by name: straight from the bucket folder, or downloaded from the
 * shared bucket (with the schemas and DDL records they need) and removed once applied.
 */
export async function applyNamed(
  names: readonly string[],
  options: ApplyOptions,
  registry = new SchemaRegistry(options.bucketDir),
): Promise<ApplyResult> {
  const { remote } = options;
  if (!remote)
    return applyFiles(
      names.map((n) => join(options.bucketDir, ...n.split('/'))),
      options,
      registry,
    );
  await syncMeta(remote, options.bucketDir);
  const applied = await options.store.appliedAmong(names);
  const pending = names.filter((n) => !applied.has(n));
  const total = { ...noTotals(), skipped: names.length - pending.length };
  for (let i = 0; i < pending.length; i += FETCH_FILES) {
    const paths = await fetchObjects(remote, options.bucketDir, pending.slice(i, i + FETCH_FILES));
    try {
      addTo(total, await applyFiles(paths, options, registry));
    } finally {
      await dropObjects(paths);
    }
  }
  return total;
}

/**
 * Applies every file of the bucket the store does not have yet (what apply does on start). With
 * `settledMs`, only files that have been in the bucket that long: an apply worker's sweep leaves
 * newer files to their notifications, so that N workers starting on a backlog share it instead of
 * each applying all of it.
 */
export async function applyBucket(options: ApplyOptions, settledMs?: number): Promise<ApplyResult> {
  const names =
    settledMs === undefined
      ? await changeFileNames(options)
      : await settledChangeFileNames(options, settledMs);
  const total = await applyNamed(names, options);
  // A TRUNCATE whose earlier files are all applied now; one published meanwhile waits its turn.
  await applyReadyTruncates(options);
  return total;
}

/** The sortable position key a change file's name starts with (`tt_<key>_…`), or null. */
function positionOfFileName(name: string): string | null {
  const m = /(?:^|\/)tt_([01]-[0-9-]+)_[0-9a-f]+\.jsonl(?:\.gz)?$/.exec(name);
  return m ? m[1]!.replaceAll('-', ':') : null;
}

/**
 * TRUNCATE records whose earlier files are all applied: capture publishes every change before a
 * TRUNCATE ahead of its record, in files whose names start with their first position.
 */
export async function applyReadyTruncates(options: ApplyOptions): Promise<number> {
  const records = await listTruncateRecords(options.bucketDir);
  if (records.length === 0) return 0;
  const files = await changeFileNames(options);
  const applied = await options.store.appliedAmong(files);
  let added = 0;
  for (const record of records) {
    const position = /(\d[\d-]*)-truncate\.json$/.exec(record)?.[1]?.replaceAll('-', ':');
    if (!position) continue;
    const before = files.filter((f) => {
      const p = positionOfFileName(f);
      return p !== null && p < position;
    });
    if (before.every((f) => applied.has(f))) added += await applyTruncates(options, [record]);
  }
  return added;
}

interface DeadLetterRecord {
  file: string;
  line: number;
  code: string;
  reason: string;
  raw: string;
  at: string;
}

/**
 * `--retry-dead-letters`: reads every dead letter again, after its cause was fixed (a schema
 * file, column hints, or the line itself edited in the dead-letter file), applies those that are
 * good now, and keeps the others (with their new reason). Each retried line is stored under the
 * name `<file>#<line>`, so a retry twice does not apply it twice.
 */
export async function retryDeadLetters(
  options: ApplyOptions,
): Promise<{ applied: number; remaining: number }> {
  const entries = await deadLetterFiles(options.deadLetterDir);
  const registry = new SchemaRegistry(options.bucketDir);
  let applied = 0;
  let remaining = 0;
  for (const entry of entries) {
    const path = join(options.deadLetterDir, entry);
    const letters = (await readFile(path, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DeadLetterRecord);
    const keep: DeadLetterRecord[] = [];
    for (const letter of letters) {
      const name = `${letter.file}#${letter.line}`;
      if (await options.store.isApplied(name)) continue;
      const tmp = join(options.deadLetterDir, `.retry-${process.pid}.jsonl`);
      await writeFile(tmp, `${letter.raw}\n`);
      const events: { event: ChangeEvent; schema: TableSchema }[] = [];
      let failure: DeadLetter | null = null;
      for await (const item of readChangeFile(tmp, { registry, columnHints: options.columnHints })) {
        if (item.kind === 'event') events.push({ event: item.event, schema: item.schema });
        else failure = item.deadLetter;
      }
      await rm(tmp, { force: true });
      if (failure || events.length === 0) {
        keep.push({
          ...letter,
          code: failure?.code ?? letter.code,
          reason: failure?.reason ?? letter.reason,
          at: new Date().toISOString(),
        });
        continue;
      }
      await options.store.applyFile(name, events);
      applied++;
    }
    remaining += keep.length;
    if (keep.length > 0) await writeFile(path, `${keep.map((k) => JSON.stringify(k)).join('\n')}\n`);
    else await rm(path, { force: true });
  }
  options.logger?.info({ applied, remaining }, 'dead letters retried');
  return { applied, remaining };
}

/**
 * Applies capture's TRUNCATE records (`bucket/_tabletime/ddl/<db>_<table>/*-truncate.json`) for
 * the given tables (all when omitted). Idempotent: run after every batch, so keys whose earlier
 * versions arrive late still get their tombstones.
 */
/** Every TRUNCATE record capture has published, in position order. */
export async function listTruncateRecords(bucketDir: string): Promise<string[]> {
  const root = join(bucketDir, META_DIR, 'ddl');
  let folders: string[];
  try {
    folders = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const folder of folders) {
    for (const f of await readdir(join(root, folder)))
      if (f.endsWith('-truncate.json')) out.push(join(root, folder, f));
  }
  return out.sort((a, b) => (basename(a) < basename(b) ? -1 : basename(a) > basename(b) ? 1 : 0));
}

/**
 * Turns TRUNCATE records into tombstones. Call it only once every change file published before
 * the records is applied (applyBucket and `tabletime run` see to that); it is idempotent.
 */
export async function applyTruncates(options: ApplyOptions, records: readonly string[]): Promise<number> {
  let added = 0;
  for (const path of records) {
    const r = JSON.parse(await readFile(path, 'utf8')) as DdlRecordFile;
    added += await options.store.applyTruncate(r.database, r.table, {
      positionKey: r.position_key,
      logFile: r.log_file,
      logPosition: r.log_position,
      gtid: r.gtid,
      commitTimestamp: r.commit_timestamp,
      file: fileName(options.bucketDir, path),
    });
  }
  if (added > 0) options.logger?.info({ tombstones: added }, 'TRUNCATE applied');
  return added;
}

/** The fields of a DDL record apply needs (written by capture: src/capture/ddl.ts). */
interface DdlRecordFile {
  database: string;
  table: string;
  position_key: string;
  log_file: string;
  log_position: number;
  gtid: string | null;
  commit_timestamp: string;
}
