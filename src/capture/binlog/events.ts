import type { Row } from '../../core/index.ts';
import type { BinlogColumn } from './column-types.ts';

/** Binlog event type codes (MySQL libbinlogevents, MariaDB log_event.h). */
export const EventType = {
  QUERY: 2,
  STOP: 3,
  ROTATE: 4,
  FORMAT_DESCRIPTION: 15,
  XID: 16,
  TABLE_MAP: 19,
  WRITE_ROWS_V1: 23,
  UPDATE_ROWS_V1: 24,
  DELETE_ROWS_V1: 25,
  HEARTBEAT: 27,
  ROWS_QUERY: 29,
  WRITE_ROWS_V2: 30,
  UPDATE_ROWS_V2: 31,
  DELETE_ROWS_V2: 32,
  GTID: 33,
  ANONYMOUS_GTID: 34,
  PREVIOUS_GTIDS: 35,
  PARTIAL_UPDATE_ROWS: 39,
  TRANSACTION_PAYLOAD: 40,
  HEARTBEAT_V2: 41,
  GTID_TAGGED: 42,
  MARIADB_ANNOTATE_ROWS: 160,
  MARIADB_BINLOG_CHECKPOINT: 161,
  MARIADB_GTID: 162,
  MARIADB_GTID_LIST: 163,
  MARIADB_START_ENCRYPTION: 164,
  MARIADB_QUERY_COMPRESSED: 165,
  MARIADB_WRITE_ROWS_COMPRESSED_V1: 166,
  MARIADB_DELETE_ROWS_COMPRESSED: 171,
} as const;

export interface EventHeader {
  /** Seconds since the epoch: when the statement started (commit time for XID/COMMIT). */
  readonly timestamp: number;
  readonly type: number;
  readonly serverId: number;
  readonly size: number;
  /** Where this event starts in its binlog file. */
  readonly position: number;
  /** Where the next event starts (`log_pos`); 0 for artificial events. */
  readonly nextPosition: number;
  readonly flags: number;
}

export interface TableMap {
  readonly tableId: number;
  readonly database: string;
  readonly table: string;
  readonly columns: readonly BinlogColumn[];
  /** Primary-key column indexes from the FULL metadata; null when the server did not send them. */
  readonly primaryKey: readonly number[] | null;
  /** True when the server sent column names (binlog_row_metadata=FULL). */
  readonly hasNames: boolean;
}

export type RowsOperation = 'insert' | 'update' | 'delete';

/** One change of a MySQL partial JSON update (binlog_row_value_options=PARTIAL_JSON). */
export interface JsonDiff {
  readonly operation: 'REPLACE' | 'INSERT' | 'REMOVE';
  /** A JSON path, e.g. `$.age`, `$[1]`. */
  readonly path: string;
  /** The new value as JSON text; null for REMOVE. */
  readonly value: string | null;
}

export interface RowChange {
  /** For 'update', the row before; for 'delete', the deleted row. */
  readonly before: Row | null;
  /** For 'insert' and 'update', the row after. */
  readonly after: Row | null;
  /**
   * Partial JSON updates: for these columns the after image holds only diffs against the before
   * value, and the column is absent from `after`.
   */
  readonly jsonDiffs?: Readonly<Record<string, readonly JsonDiff[]>>;
  /**
   * With BinlogDecoderOptions.keyOnlyBeforeImages, an update's `before` holds only its key columns;
   * this decodes the whole before image.
   */
  readonly fullBefore?: () => Row;
}

export type BinlogEvent =
  | {
      readonly kind: 'format';
      readonly header: EventHeader;
      readonly serverVersion: string;
      readonly checksum: boolean;
    }
  | {
      readonly kind: 'rotate';
      readonly header: EventHeader;
      readonly nextFile: string;
      readonly nextPosition: number;
    }
  | { readonly kind: 'query'; readonly header: EventHeader; readonly database: string; readonly sql: string }
  | { readonly kind: 'xid'; readonly header: EventHeader; readonly xid: bigint }
  | { readonly kind: 'table-map'; readonly header: EventHeader; readonly map: TableMap }
  | {
      readonly kind: 'rows';
      readonly header: EventHeader;
      readonly operation: RowsOperation;
      readonly map: TableMap;
      readonly rows: readonly RowChange[];
      /** STMT_END_F: the last rows event of its statement (table maps may be dropped after it). */
      readonly statementEnd: boolean;
      /** A PARTIAL_UPDATE_ROWS event: some JSON columns are diffs (see RowChange.jsonDiffs). */
      readonly partialJson: boolean;
    }
  | {
      readonly kind: 'gtid';
      readonly header: EventHeader;
      /** `domain-server-seq` (MariaDB), `uuid:n` or `uuid:tag:n` (MySQL); null for an anonymous GTID. */
      readonly gtid: string | null;
      /** MySQL 8: the transaction's commit time on its original server, in µs. */
      readonly commitTimestampUs: number | null;
      /** MariaDB: a GTID for a single statement with no BEGIN/COMMIT (DDL, non-transactional). */
      readonly standalone: boolean;
    }
  | { readonly kind: 'payload'; readonly header: EventHeader; readonly events: readonly BinlogEvent[] }
  | { readonly kind: 'heartbeat'; readonly header: EventHeader; readonly logFile: string }
  | { readonly kind: 'annotate'; readonly header: EventHeader; readonly sql: string }
  | { readonly kind: 'stop'; readonly header: EventHeader }
  | { readonly kind: 'ignored'; readonly header: EventHeader };
