/**
 * Turns binlog events into committed transactions of change events (ARCHITECTURE.md contracts
 * 3–5). Rows are held until their transaction commits, so every change carries the transaction's
 * commit time (MySQL 8's µs GTID timestamp, else the XID/COMMIT event's second) and nothing of a
 * transaction is handed on before it is complete. A key change becomes UPDATE-DELETE of the old key
 * then UPDATE-INSERT of the new one, at the same position and row index; so does every update of a
 * table without a key (sameKey).
 */
import {
  type ChangeEvent,
  type ChangeType,
  ConfigError,
  type Row,
  type TableSchema,
  valuesEqual,
} from '../core/index.ts';
import { type BinlogEvent, EventType, type RowChange, type RowsOperation } from './binlog/index.ts';
import type { TableSchemas } from './table-schema.ts';

export interface BinlogCoordinates {
  readonly logFile: string;
  readonly logPosition: number;
}

export interface CapturedChange {
  readonly event: ChangeEvent;
  readonly schema: TableSchema;
}

export interface CapturedTransaction {
  readonly gtid: string | null;
  readonly commitTimestampUs: number;
  /** The changes of the selected tables, in source order. */
  readonly changes: readonly CapturedChange[];
  /** Where the next transaction starts: resume here after this one. */
  readonly end: BinlogCoordinates;
  /** A DDL statement (its own transaction): its default database, text and where it is. */
  readonly ddl: {
    readonly database: string;
    readonly sql: string;
    readonly logFile: string;
    readonly logPosition: number;
  } | null;
  /** Its first changes were handed on already, by takeLarge(); `changes` holds the rest. */
  readonly streamed: boolean;
  /** Ended by ROLLBACK: whatever takeLarge() handed on of it must be thrown away. */
  readonly rolledBack: boolean;
}

interface PendingRows {
  readonly schema: TableSchema;
  readonly operation: RowsOperation;
  readonly rows: readonly RowChange[];
  readonly logFile: string;
  readonly logPosition: number;
  readonly firstRowIndex: number;
  readonly sourceTimestampMs: number;
}

interface Open {
  gtid: string | null;
  commitTimestampUs: number | null;
  /** MariaDB's GTID event's own time in µs (it is written at commit, with the commit's time). */
  gtidTimestampUs: number | null;
  standalone: boolean;
  pending: PendingRows[];
  /** Rows in `pending`. */
  pendingRows: number;
  /** Bytes of the binlog rows events in `pending`. */
  pendingBytes: number;
  /** Once takeLarge() has handed changes on: the commit time they carry, and so must the rest. */
  streamedCommitUs: number | null;
}

const opened = (
  gtid: string | null,
  commitTimestampUs: number | null,
  gtidTimestampUs: number | null,
  standalone: boolean,
): Open => ({
  gtid,
  commitTimestampUs,
  gtidTimestampUs,
  standalone,
  pending: [],
  pendingRows: 0,
  pendingBytes: 0,
  streamedCommitUs: null,
});

export interface TransactionAssemblerOptions {
  readonly schemas: TableSchemas;
  /** Which tables to capture. */
  readonly include: (database: string, table: string) => boolean;
  readonly streamName: string;
  /** Keep the before-image of updates in `payload_before` (default false). */
  readonly keepBeforeImage?: boolean;
  /**
   * A transaction with more rows than this is handed on in parts as it is read (takeLarge), when
   * its commit time is known before its end; default: never (held whole until its commit).
   */
  readonly largeTransactionRows?: number;
  /**
   * The same by the size of its rows events in the binlog: wide rows make a transaction large
   * long before its row count does. Default: never.
   */
  readonly largeTransactionBytes?: number;
  readonly now?: () => number;
}

function keyOf(row: Row, keys: readonly string[]): unknown[] {
  return keys.map((k) => row[k] ?? null);
}

/**
 * Whether an update keeps its row's key. A table without a key has no record to follow: its
 * update is the old row gone (a tombstone with the old image, UPDATE-DELETE) and a new row there,
 * as for a key change, so that the history keeps what the row held before (it kept only the new
 * image unless --keep-before-image, and a row's old image was lost for good).
 */
function sameKey(a: Row, b: Row, keys: readonly string[]): boolean {
  if (keys.length === 0) return false;
  const ka = keyOf(a, keys);
  const kb = keyOf(b, keys);
  return ka.every((v, i) => valuesEqual(v as Row[string], kb[i] as Row[string]));
}

export class TransactionAssembler {
  readonly #options: TransactionAssemblerOptions;
  readonly #now: () => number;
  #open: Open | null = null;
  #lastRowsKey = '';
  #rowCounter = 0;

  constructor(options: TransactionAssemblerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Drops a half-read transaction (the stream broke: it will be read again from the checkpoint). */
  reset(): void {
    this.#open = null;
    this.#lastRowsKey = '';
    this.#rowCounter = 0;
  }

  /** Feeds one event; returns the transaction it completes, if any. */
  push(event: BinlogEvent, logFile: string): CapturedTransaction | null {
    switch (event.kind) {
      case 'gtid':
        this.#open = opened(
          event.gtid,
          event.commitTimestampUs,
          // MariaDB writes its GTID event at commit, with the commit's time (the XID event's);
          // MySQL 5.7's GTID events have no commit time that was checked to be the same.
          event.header.type === EventType.MARIADB_GTID ? event.header.timestamp * 1_000_000 : null,
          event.standalone,
        );
        return null;
      case 'query': {
        const sql = event.sql.trim();
        const word = sql.slice(0, 16).toUpperCase();
        if (word.startsWith('BEGIN') || word.startsWith('XA START') || word.startsWith('XA BEGIN')) {
          this.#open ??= opened(null, null, null, false);
          return null;
        }
        if (word.startsWith('COMMIT') || word.startsWith('XA COMMIT'))
          return this.#commit(event.header, logFile, null);
        if (word.startsWith('ROLLBACK') && !word.startsWith('ROLLBACK TO')) {
          // Only non-transactional changes can be logged and then rolled back: nothing to keep.
          const streamed = this.#open?.streamedCommitUs != null;
          this.#open = null;
          return {
            gtid: null,
            commitTimestampUs: event.header.timestamp * 1_000_000,
            changes: [],
            end: this.#end(event, logFile),
            ddl: null,
            streamed,
            rolledBack: true,
          };
        }
        if (
          word.startsWith('SAVEPOINT') ||
          word.startsWith('ROLLBACK TO') ||
          word.startsWith('XA END') ||
          word.startsWith('XA PREPARE')
        ) {
          return null;
        }
        // Anything else is a statement of its own: DDL (implicitly committed), or a statement-format
        // event that a ROW-format server does not write for data. Either way it ends a transaction.
        return this.#commit(event.header, logFile, {
          database: event.database,
          sql,
          logFile,
          logPosition: event.header.position,
        });
      }
      case 'rows': {
        const open = (this.#open ??= opened(null, null, null, false));
        const key = `${logFile}:${event.header.position}`;
        if (key !== this.#lastRowsKey) {
          this.#lastRowsKey = key;
          this.#rowCounter = 0;
        }
        const firstRowIndex = this.#rowCounter;
        this.#rowCounter += event.rows.length;
        if (!this.#options.include(event.map.database, event.map.table)) return null;
        if (
          event.partialJson &&
          event.rows.some((row) => row.jsonDiffs && Object.keys(row.jsonDiffs).length > 0)
        ) {
          // History needs whole documents; a diff against a value we may not have is refused, loudly.
          throw new ConfigError(
            'PARTIAL_JSON',
            `${event.map.database}.${event.map.table} has partial JSON updates in the binlog (binlog_row_value_options=PARTIAL_JSON) at ${logFile}:${event.header.position}: SET GLOBAL binlog_row_value_options='' and start capture over`,
          );
        }
        open.pending.push({
          schema: this.#options.schemas.of(event.map),
          operation: event.operation,
          rows: event.rows,
          logFile,
          logPosition: event.header.position,
          firstRowIndex,
          sourceTimestampMs: event.header.timestamp * 1000,
        });
        open.pendingRows += event.rows.length;
        open.pendingBytes += event.header.size;
        return null;
      }
      case 'xid':
        return this.#commit(event.header, logFile, null);
      case 'payload': {
        // MySQL's compressed transaction: its events share the payload's position.
        let done: CapturedTransaction | null = null;
        for (const inner of event.events) {
          const t = this.push(inner, logFile);
          if (t) done = { ...t, end: { logFile, logPosition: event.header.nextPosition } };
        }
        return done;
      }
      case 'format':
      case 'rotate':
      case 'table-map':
      case 'heartbeat':
      case 'annotate':
      case 'stop':
      case 'ignored':
        return null;
    }
  }

  #end(event: { header: { nextPosition: number } }, logFile: string) {
    return { logFile, logPosition: event.header.nextPosition };
  }

  #commit(
    header: { timestamp: number; nextPosition: number },
    logFile: string,
    ddl: CapturedTransaction['ddl'],
  ): CapturedTransaction {
    const open = this.#open ?? opened(null, null, null, true);
    this.#open = null;
    const commitTimestampUs = open.streamedCommitUs ?? open.commitTimestampUs ?? header.timestamp * 1_000_000;
    return {
      gtid: open.gtid,
      commitTimestampUs,
      changes: this.#changes(open, commitTimestampUs),
      end: { logFile, logPosition: header.nextPosition },
      ddl,
      streamed: open.streamedCommitUs !== null,
      rolledBack: false,
    };
  }

  /**
   * The changes of a large open transaction read so far, once it holds more rows than
   * `largeTransactionRows`; they leave the assembler, so its memory stays bounded. Only when the
   * commit time is known before the commit: MySQL 8's GTID timestamp, or MariaDB's GTID event,
   * which the server writes at commit with the commit's time (the XID event's time). Its other
   * changes, and the transaction's end, follow from push() at the commit, with `streamed` set; a
   * ROLLBACK comes with `rolledBack`. Null otherwise.
   */
  takeLarge(): CapturedChange[] | null {
    const open = this.#open;
    if (
      !open ||
      (open.pendingRows <= (this.#options.largeTransactionRows ?? Infinity) &&
        open.pendingBytes <= (this.#options.largeTransactionBytes ?? Infinity))
    )
      return null;
    if (open.streamedCommitUs === null) {
      const known = open.commitTimestampUs ?? open.gtidTimestampUs;
      if (known === null) return null; // held whole, as any other
      open.streamedCommitUs = known;
    }
    return this.#changes(open, open.streamedCommitUs);
  }

  /** Turns the open transaction's pending rows into changes, and empties them. */
  #changes(open: Open, commitTimestampUs: number): CapturedChange[] {
    const readTimestampMs = this.#now();
    const changes: CapturedChange[] = [];
    const make = (
      p: PendingRows,
      changeType: ChangeType,
      rowIndex: number,
      payload: Row,
      before: Row | null,
    ): CapturedChange => ({
      schema: p.schema,
      event: {
        database: p.schema.database,
        table: p.schema.table,
        changeType,
        readMethod: 'mysql-cdc-binlog',
        position: {
          snapshot: false,
          logFile: p.logFile,
          logPosition: p.logPosition,
          rowIndex,
          gtid: open.gtid,
        },
        commitTimestampUs,
        sourceTimestampMs: p.sourceTimestampMs,
        readTimestampMs,
        primaryKeys: p.schema.primaryKeys,
        schemaKey: '',
        payload,
        before,
        snapshotId: null,
        uuid: '',
        streamName: this.#options.streamName,
      },
    });
    // The whole before image (the decoder may have read only its key: RowChange.fullBefore).
    const wholeBefore = (row: RowChange): Row => (row.fullBefore ? row.fullBefore() : row.before!);
    const keep = this.#options.keepBeforeImage ?? false;
    for (const p of open.pending) {
      p.rows.forEach((row, i) => {
        const rowIndex = p.firstRowIndex + i;
        if (p.operation === 'insert') changes.push(make(p, 'INSERT', rowIndex, row.after!, null));
        else if (p.operation === 'delete') changes.push(make(p, 'DELETE', rowIndex, row.before!, null));
        else if (sameKey(row.before!, row.after!, p.schema.primaryKeys)) {
          changes.push(make(p, 'UPDATE-INSERT', rowIndex, row.after!, keep ? wholeBefore(row) : null));
        } else {
          const before = wholeBefore(row);
          changes.push(make(p, 'UPDATE-DELETE', rowIndex, before, null));
          changes.push(make(p, 'UPDATE-INSERT', rowIndex, row.after!, keep ? before : null));
        }
      });
    }
    open.pending = [];
    open.pendingRows = 0;
    open.pendingBytes = 0;
    return changes;
  }
}
