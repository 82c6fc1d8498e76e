import type { ChangeType, SourcePosition } from './position.ts';
import type { Row } from './values.ts';

export type ReadMethod = 'mysql-cdc-binlog' | 'mysql-backfill-fulldump';

/**
 * One committed row change, as capture produces it and apply consumes it. It is the in-memory form
 * of one change-file line (docs/change-file-format.md); the reader builds it from our files and from
 * Google Datastream's, the writer writes it.
 */
export interface ChangeEvent {
  readonly database: string;
  readonly table: string;
  readonly changeType: ChangeType;
  readonly readMethod: ReadMethod | (string & {});
  readonly position: SourcePosition;
  /**
   * The transaction's commit time in µs since the epoch (UTC), the same for every row of the
   * transaction; null where the source file does not carry it (Datastream's own files).
   */
  readonly commitTimestampUs: number | null;
  /** Datastream's `source_timestamp`: statement time, 1 s resolution, in ms. */
  readonly sourceTimestampMs: number;
  /** When the change was read, in ms. */
  readonly readTimestampMs: number;
  readonly primaryKeys: readonly string[];
  readonly schemaKey: string;
  readonly payload: Row;
  /** The row before an UPDATE, when the writer kept it (our files may; Datastream's never). */
  readonly before?: Row | null;
  /** For snapshot rows: which snapshot produced them (our files), so a later re-snapshot is a new version. */
  readonly snapshotId?: string | null;
  readonly uuid: string;
  readonly streamName: string;
}

export function isDeleteType(changeType: ChangeType): boolean {
  return changeType === 'DELETE' || changeType === 'UPDATE-DELETE';
}

/** Datastream's `object`: '<database>_<table>'. */
export function objectName(database: string, table: string): string {
  return `${database}_${table}`;
}
