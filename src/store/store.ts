import type { ChangeEvent, PositionBound, Row, TableSchema } from '../core/index.ts';

/**
 * A moment to read the history at: a time (µs since the epoch: every transaction committed at or
 * before it), a position in the source order (exact, consistent across tables), or null for now.
 */
export type Moment = number | PositionBound | null;

export interface AsOfOptions {
  /** Only these records (their `_tt_key` texts). */
  readonly keys?: readonly string[];
  /** Paging: records whose key comes after this one (the last key of the page before). */
  readonly after?: Row;
  /** At most this many records. */
  readonly limit?: number;
  /**
   * Paging a table without a key, which has no key to page by: leave out this many records first.
   * Its records come in the order they were written (by position).
   */
  readonly offset?: number;
}

/** Where and when a TRUNCATE happened (from capture's DDL record). */
export interface TruncateRecord {
  readonly positionKey: string;
  readonly logFile: string;
  readonly logPosition: number;
  readonly gtid: string | null;
  /** ISO-8601 UTC. */
  readonly commitTimestamp: string;
  /** The record's name, kept in `_tt_file`. */
  readonly file: string;
}

/** A table with a history: how many versions it keeps, and its latest change. */
export interface TableSummary {
  readonly database: string;
  readonly table: string;
  readonly versions: number;
  /** Commit time (ISO, UTC) of the table's latest version, null when it has none. */
  readonly lastCommit: string | null;
}

/** One version as queries return it: the source row plus its metadata. */
export interface VersionOut {
  readonly row: Row;
  readonly versionId: string;
  readonly op: string;
  readonly deleted: boolean;
  readonly commitTimestamp: string;
  readonly position: string;
  readonly gtid: string | null;
  readonly snapshot: boolean;
}

export interface DiffOut {
  readonly inserted: Row[];
  readonly deleted: Row[];
  readonly changed: { readonly before: Row; readonly after: Row; readonly columns: string[] }[];
}

/** A change file on local disk, and the name the store knows it by (its path in the bucket). */
export interface ChangeFileRef {
  readonly path: string;
  readonly name: string;
}

/** What applyChangeFiles did: the files applied (and skipped), or why it did not take them. */
export type NativeApply =
  | {
      readonly applied: true;
      readonly inserted: number;
      /** Files the store had already. */
      readonly skipped: string[];
      /** Row changes read from the files not skipped. */
      readonly events: number;
      /** Row changes of the files not skipped, by table (database.table). */
      readonly perTable: ReadonlyMap<string, number>;
    }
  | { readonly applied: false; readonly reason: string };

/**
 * A history store (DuckDB now; PostgreSQL and BigQuery behind the same interface later). Every
 * method is idempotent where it writes: applying a file twice changes nothing.
 */
export interface HistoryStore extends AsyncDisposable {
  /** Stores one file's versions and marks the file applied, in one transaction. */
  applyFile(
    file: string,
    events: readonly { event: ChangeEvent; schema: TableSchema }[],
  ): Promise<{ inserted: number; duplicates: number }>;
  /** Several files in one transaction; files the store has already are skipped (and named). */
  applyFiles(
    files: readonly { file: string; events: readonly { event: ChangeEvent; schema: TableSchema }[] }[],
  ): Promise<{ inserted: number; skipped: string[] }>;
  /**
   * Optional, for stores that can read change files themselves (DuckDB): applies our own JSON
   * change files without reading them in JavaScript, in one transaction, or refuses with the
   * reason and changes nothing; the caller then reads the files and uses applyFiles.
   */
  applyChangeFiles?(
    files: readonly ChangeFileRef[],
    schemaOf: (schemaKey: string) => Promise<TableSchema | undefined>,
  ): Promise<NativeApply>;
  isApplied(file: string): Promise<boolean>;
  /** Which of these files the store has applied. */
  appliedAmong(files: readonly string[]): Promise<Set<string>>;
  /**
   * A TRUNCATE at `positionKey`: a tombstone (op TRUNCATE) for every key current just before it.
   * Idempotent and safe to repeat: run it again after files with earlier changes arrive late.
   * Returns the tombstones added.
   */
  applyTruncate(database: string, table: string, truncate: TruncateRecord): Promise<number>;
  tables(): Promise<TableSummary[]>;
  schemaOf(database: string, table: string): Promise<TableSchema | null>;
  /** The table as of a moment, ordered by key (see AsOfOptions for a part of it). */
  asOf(database: string, table: string, at: Moment, options?: AsOfOptions): Promise<Row[]>;
  /**
   * The same records as asOf, a page (about `pageRows`, default 10,000) at a time, all from one
   * consistent read where the store has it (DuckDB, PostgreSQL): for answers too large to hold whole.
   */
  asOfPages(database: string, table: string, at: Moment, pageRows?: number): AsyncIterable<Row[]>;
  /** How many records the table held at a moment. */
  countAsOf(database: string, table: string, at: Moment): Promise<number>;
  /** The `_tt_key` of every record present at a moment. */
  keysAsOf(database: string, table: string, at: Moment): Promise<string[]>;
  /** The position bound just after a transaction, found by its GTID in the history; null if absent. */
  positionOfGtid(gtid: string): Promise<PositionBound | null>;
  history(database: string, table: string, key?: Row): Promise<VersionOut[]>;
  /** The same versions as history, a page (about `pageRows`, default 10,000) at a time, as asOfPages. */
  historyPages(database: string, table: string, key?: Row, pageRows?: number): AsyncIterable<VersionOut[]>;
  diff(database: string, table: string, from: Moment, to: Moment): Promise<DiffOut>;
  /**
   * The same changes as diff, a page (about `pageRows` records read, default 10,000) at a time, in
   * diff's order: inserted first, then deleted, then changed, each by key. A table without a key
   * comes in one page.
   */
  diffPages(
    database: string,
    table: string,
    from: Moment,
    to: Moment,
    pageRows?: number,
  ): AsyncIterable<DiffOut>;
  close(): Promise<void>;
}
