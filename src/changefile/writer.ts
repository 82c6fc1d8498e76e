/**
 * Writes change events into files in the bucket, Datastream's way: one file stream per table,
 * under `<database>_<table>/yyyy/mm/dd/hh/mm/<file>`, rotated by size, by age and when the table's
 * schema changes. A file is written under `_tabletime/tmp/` and moved to its place only when it is
 * complete and fsynced, so a reader never sees half a file. The caller (capture) decides when
 * files must be durable: `finalizeAll()` returns only once every event written so far is.
 *
 * The writer does not wait for the disk while there are lines to format: a file's buffer is
 * written out while the next lines go into a second one, and a completed file is fsynced, closed
 * and moved to its place in the background (two at a time). Waiting for each of them took a third
 * of a snapshot's time while MariaDB sat idle (docs/performance.md, "Session 16").
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  type ChangeEvent,
  objectName,
  positionKey,
  type SourcePosition,
  type TableSchema,
} from '../core/index.ts';
import { publishFile } from './fs-durable.ts';
import { ChangeLineFormatter } from './line-format.ts';
import { META_DIR, SchemaRegistry, schemaKey } from './schema-registry.ts';

export interface ChangeFileWriterOptions {
  readonly bucketDir: string;
  /** Rotate a file once it holds this many bytes (before compression). Default 16 MiB. */
  readonly maxFileBytes?: number;
  /** Rotate a file this long after its first event, at the next write or `finalizeExpired()`. Default 1 s. */
  readonly maxFileAgeMs?: number;
  /** Gzip the files (`.jsonl.gz`). Default false. */
  readonly gzip?: boolean;
  /** Bytes kept in memory per open file before they are appended to it. Default 1 MiB. */
  readonly bufferBytes?: number;
  /** The clock, for tests. */
  readonly now?: () => number;
  /**
   * Publish completed files under this folder (same layout) instead of the bucket; the schema
   * registry stays the bucket's. A snapshot is staged so that it appears whole or not at all.
   */
  readonly stagingDir?: string;
}

export interface CompletedFile {
  /** Absolute path of the published file. */
  readonly path: string;
  /** Path inside the bucket, with '/' separators (what a notification carries). */
  readonly objectPath: string;
  readonly database: string;
  readonly table: string;
  readonly schemaKey: string;
  readonly events: number;
  readonly bytes: number;
  readonly firstPosition: SourcePosition;
  readonly lastPosition: SourcePosition;
}

interface OpenFile {
  readonly database: string;
  readonly table: string;
  readonly schemaKey: string;
  readonly schema: TableSchema;
  readonly tmpPath: string;
  readonly handle: FileHandle;
  readonly openedAtMs: number;
  readonly uuidPrefix: string;
  firstPosition: SourcePosition;
  firstKey: string;
  lastPosition: SourcePosition;
  events: number;
  bytes: number;
  /** Lines not yet written to the file, as UTF-8; grows as it fills, up to the writer's capacity. */
  buffer: Buffer | null;
  buffered: number;
  /** The buffer being written out (the next flush's buffer once that write is done). */
  spare: Buffer | null;
  /** The write in flight, if any: one at a time per file, in order. */
  writing: Promise<void>;
}

/** How many completed files may be syncing and moving at once before a write waits for one. */
const SETTLING_FILES = 2;

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Room above the flush threshold, so that a line that crosses it fits without a flush first. */
const BUFFER_SLACK = 256 * 1024;

export class ChangeFileWriter implements AsyncDisposable {
  readonly #publishDir: string;
  readonly #tmpDir: string;
  readonly #maxFileBytes: number;
  readonly #maxFileAgeMs: number;
  readonly #gzip: boolean;
  readonly #bufferBytes: number;
  readonly #now: () => number;
  readonly #registry: SchemaRegistry;
  readonly #open = new Map<string, OpenFile>();
  readonly #schemaKeys = new WeakMap<TableSchema, string>();
  readonly #formatter = new ChangeLineFormatter();
  #appended = 0;
  /** Completed files still being fsynced, closed and moved, oldest first. */
  #settling: Promise<void>[] = [];
  /** The first failure of a file written or settled in the background: every later call throws it. */
  #failure: Error | null = null;

  constructor(options: ChangeFileWriterOptions) {
    this.#publishDir = options.stagingDir ?? options.bucketDir;
    this.#tmpDir = join(options.bucketDir, META_DIR, 'tmp');
    this.#maxFileBytes = options.maxFileBytes ?? 16 * 1024 * 1024;
    this.#maxFileAgeMs = options.maxFileAgeMs ?? 1_000;
    this.#gzip = options.gzip ?? false;
    this.#bufferBytes = options.bufferBytes ?? 1024 * 1024;
    this.#now = options.now ?? Date.now;
    this.#registry = new SchemaRegistry(options.bucketDir);
  }

  /** Bytes of lines written so far (before compression), in every file. */
  get bytesAppended(): number {
    return this.#appended;
  }

  /** The schema key of `schema` (what events written with it must carry in `schemaKey`). */
  keyOf(schema: TableSchema): string {
    let key = this.#schemaKeys.get(schema);
    if (key === undefined) {
      key = schemaKey(schema);
      this.#schemaKeys.set(schema, key);
    }
    return key;
  }

  /**
   * Appends one event. `schema` is the table's schema at the event's position; a schema different
   * from the open file's closes that file first. Returns the files this write completed: they are
   * durable and in their place once the next `finalizeAll()` or `finalizeExpired()` returns.
   */
  async write(event: ChangeEvent, schema: TableSchema): Promise<CompletedFile[]> {
    if (this.#failure) throw this.#failure;
    const completed: CompletedFile[] = [];
    const object = objectName(event.database, event.table);
    const key = this.keyOf(schema);
    let file = this.#open.get(object);
    if (file && (file.schemaKey !== key || this.#now() - file.openedAtMs >= this.#maxFileAgeMs)) {
      completed.push(await this.#finalize(file));
      file = undefined;
    }
    if (!file) file = await this.#openFile(event, schema, key);
    await this.#append(file, `${this.#formatter.format(event, schema, key, this.#uuid(file))}\n`);
    file.events++;
    file.lastPosition = event.position;
    if (file.buffered >= this.#bufferBytes) await this.#flushBuffer(file);
    if (file.bytes + file.buffered >= this.#maxFileBytes) completed.push(await this.#finalize(file));
    return completed;
  }

  /**
   * Completes every file older than the age limit. When it returns, every file completed so far
   * (these and those `write()` returned) is durable and in its place.
   */
  async finalizeExpired(): Promise<CompletedFile[]> {
    const now = this.#now();
    const completed: CompletedFile[] = [];
    for (const file of [...this.#open.values()]) {
      if (now - file.openedAtMs >= this.#maxFileAgeMs) completed.push(await this.#finalize(file));
    }
    await this.#settled(0);
    return completed;
  }

  /** Completes every open file: when it returns, every event written so far is durable and visible. */
  async finalizeAll(): Promise<CompletedFile[]> {
    const completed: CompletedFile[] = [];
    for (const file of [...this.#open.values()]) completed.push(await this.#finalize(file));
    await this.#settled(0);
    return completed;
  }

  /**
   * Throws away the open files (their events were never made durable; capture re-reads them). A
   * completed file still settling is let finish first, so that nothing lands after the caller
   * cleared its folder.
   */
  async abort(): Promise<void> {
    await Promise.allSettled(this.#settling);
    this.#settling = [];
    for (const file of [...this.#open.values()]) {
      this.#open.delete(objectName(file.database, file.table));
      await file.writing.catch(() => undefined);
      await file.handle.close().catch(() => undefined);
      await rm(file.tmpPath, { force: true });
    }
  }

  /** Waits until at most `left` completed files are still settling; throws a failure of any. */
  async #settled(left: number): Promise<void> {
    while (this.#settling.length > left) await this.#settling.shift();
    if (this.#failure) throw this.#failure;
  }

  /** Runs `work` in the background; its failure is kept and thrown by the writer's next call. */
  #background(work: Promise<void>): Promise<void> {
    work.catch((err: unknown) => {
      this.#failure ??= err instanceof Error ? err : new Error(String(err));
    });
    return work;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }

  #uuid(file: OpenFile): string {
    // Datastream's uuid shape: a per-file prefix and a counter. Not an identity: see versionId().
    return `${file.uuidPrefix}${file.events.toString(16).padStart(8, '0')}`;
  }

  async #openFile(event: ChangeEvent, schema: TableSchema, key: string): Promise<OpenFile> {
    await this.#registry.put(schema); // durable before any file naming the key is visible
    await mkdir(this.#tmpDir, { recursive: true });
    const tmpPath = join(
      this.#tmpDir,
      `${objectName(event.database, event.table)}.${randomBytes(6).toString('hex')}.tmp`,
    );
    const handle = await open(tmpPath, 'w');
    const file: OpenFile = {
      database: event.database,
      table: event.table,
      schemaKey: key,
      schema,
      tmpPath,
      handle,
      openedAtMs: this.#now(),
      uuidPrefix: randomUUID().slice(0, 28),
      firstPosition: event.position,
      firstKey: positionKey(event.position, event.changeType),
      lastPosition: event.position,
      events: 0,
      bytes: 0,
      buffer: null,
      buffered: 0,
      spare: null,
      writing: Promise.resolve(),
    };
    this.#open.set(objectName(event.database, event.table), file);
    return file;
  }

  /**
   * Encodes a line into the file's buffer. Joining the lines into one string and encoding that at
   * each flush cost 17 % of a snapshot's CPU; encoding each line where it goes copies it once.
   */
  async #append(file: OpenFile, line: string): Promise<void> {
    // UTF-8 takes at most 3 bytes for a UTF-16 unit: a line that may not fit waits for a flush,
    // and one that may not fit an empty buffer is written by itself.
    const most = line.length * 3;
    const capacity = this.#bufferBytes + BUFFER_SLACK;
    if (file.buffered + most > capacity) {
      await this.#flushBuffer(file);
      if (most > capacity) {
        const bytes = Buffer.from(line);
        this.#appended += bytes.length;
        return this.#writeOut(file, bytes);
      }
    }
    if (!file.buffer || file.buffered + most > file.buffer.length) {
      // Grown by doubling: a table with one small change keeps a small buffer.
      let size = file.buffer?.length ?? 16 * 1024;
      while (size < file.buffered + most) size *= 2;
      const grown = Buffer.allocUnsafe(Math.min(size, capacity));
      file.buffer?.copy(grown, 0, 0, file.buffered);
      file.buffer = grown;
    }
    const n = file.buffer.write(line, file.buffered);
    file.buffered += n;
    this.#appended += n;
  }

  /** Hands the buffered lines to a write and takes the other buffer for the next ones. */
  async #flushBuffer(file: OpenFile): Promise<void> {
    if (file.buffered === 0 || !file.buffer) return;
    const bytes = file.buffer.subarray(0, file.buffered);
    [file.buffer, file.spare] = [file.spare, file.buffer];
    file.buffered = 0;
    await this.#writeOut(file, bytes);
  }

  /** Starts writing `bytes` (left alone until written) after the file's write in flight. */
  async #writeOut(file: OpenFile, bytes: Buffer): Promise<void> {
    await file.writing;
    // Each flush of a gzipped file is one gzip member; a file of several members is valid gzip.
    const data = this.#gzip ? gzipSync(bytes) : bytes;
    file.bytes += bytes.length;
    file.writing = this.#background(file.handle.write(data).then(() => undefined));
  }

  async #finalize(file: OpenFile): Promise<CompletedFile> {
    this.#open.delete(objectName(file.database, file.table));
    await this.#flushBuffer(file);
    const opened = new Date(file.openedAtMs);
    const folder = [
      opened.getUTCFullYear(),
      pad2(opened.getUTCMonth() + 1),
      pad2(opened.getUTCDate()),
      pad2(opened.getUTCHours()),
      pad2(opened.getUTCMinutes()),
    ].join('/');
    const object = objectName(file.database, file.table);
    // The name starts with the first event's position, so names sort in source order within a folder.
    const name = `tt_${file.firstKey.replaceAll(':', '-')}_${randomBytes(4).toString('hex')}.jsonl${this.#gzip ? '.gz' : ''}`;
    const objectPath = `${object}/${folder}/${name}`;
    const path = join(this.#publishDir, ...objectPath.split('/'));
    await this.#settled(SETTLING_FILES - 1);
    const { handle, tmpPath } = file;
    this.#settling.push(
      this.#background(
        (async () => {
          await file.writing;
          await handle.sync();
          await handle.close();
          await publishFile(tmpPath, path);
        })(),
      ),
    );
    return {
      path,
      objectPath,
      database: file.database,
      table: file.table,
      schemaKey: file.schemaKey,
      events: file.events,
      bytes: file.bytes,
      firstPosition: file.firstPosition,
      lastPosition: file.lastPosition,
    };
  }
}
