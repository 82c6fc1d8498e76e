/**
 * How a source table's history is laid out in a store (ARCHITECTURE.md contract 6;
 * docs/history-tables.md): the source's columns, typed, plus metadata columns whose names start
 * with `_tt_` so they cannot clash with source columns.
 */
import {
  type ChangeEvent,
  type ColumnSchema,
  isDeleteType,
  positionKey,
  type Row,
  versionId,
} from '../core/index.ts';
import { encodeValue } from '../changefile/index.ts';

export const META_COLUMNS = [
  ['_tt_version_id', 'the version id (deterministic, from the source coordinates)'],
  ['_tt_key', "the record's primary-key values as a JSON array, e.g. [1001]; NULL for a table without a key"],
  ['_tt_op', 'INSERT, UPDATE-INSERT, UPDATE-DELETE or DELETE'],
  ['_tt_deleted', 'true for a tombstone: the row was deleted (or moved to another key) here'],
  ['_tt_commit_ts', "the transaction's commit time (UTC)"],
  ['_tt_position', 'the source position as sortable text: versions of a key are ordered by it'],
  ['_tt_log_file', 'binlog file ("" for snapshot rows)'],
  ['_tt_log_pos', 'position of the rows event in the binlog file'],
  ['_tt_row_index', 'row index inside the rows event'],
  ['_tt_gtid', 'GTID of the transaction, when the source has them'],
  ['_tt_snapshot', 'true for a snapshot (backfill) row'],
  ['_tt_ingested_at', 'when apply stored the version'],
  ['_tt_file', 'the change file the version came from'],
  ['_tt_raw', 'JSON of the values the typed columns cannot hold exactly (zero dates, …), else NULL'],
] as const;

/** The record's key as canonical JSON text (change-file encoding), or null without a key. */
export function keyText(event: ChangeEvent, columns: ReadonlyMap<string, ColumnSchema>): string | null {
  return keyTextOfRow(event.payload, event.primaryKeys, columns);
}

/** A row's `_tt_key`: its primary-key values as canonical JSON text, or null without a key. */
export function keyTextOfRow(
  row: Row,
  primaryKeys: readonly string[],
  columns: ReadonlyMap<string, ColumnSchema>,
): string | null {
  if (primaryKeys.length === 0) return null;
  return JSON.stringify(
    primaryKeys.map((k) =>
      encodeValue(row[k] ?? null, columns.get(k) ?? { name: k, kind: 'string', sqlType: 'text' }),
    ),
  );
}

/** One element of a `_tt_key` array as JSON.stringify writes it: a string, or a number, null, true. */
const KEY_ELEMENT = String.raw`(?:"(?:[^"\\]|\\.)*"|[^,"\[\]]*)`;

/**
 * The pattern that finds part `i` of a `_tt_key` when that part is a JSON number, with the
 * replacement (`$1`-style references written by `ref`) that makes it a string: `[5,"a"]` becomes
 * `["5","a"]`. The same pattern runs in JavaScript (textKey) and, when a key column's type
 * changes, in the store's SQL (RE2 in DuckDB, PostgreSQL's regular expressions), so that both
 * spell a key alike.
 */
export function numberKeyPart(
  i: number,
  ref: (group: number) => string,
): { pattern: string; replacement: string } {
  return {
    pattern: String.raw`^\[(${`${KEY_ELEMENT},`.repeat(i)})(-?[0-9][-+.0-9eE]*)([,\]])`,
    replacement: `[${ref(1)}"${ref(2)}"${ref(3)}`,
  };
}

/** numberKeyPart(i) as a JavaScript RegExp, made once per key position. */
const jsPatterns: { pattern: RegExp; replacement: string }[] = [];
function jsPattern(i: number): { pattern: RegExp; replacement: string } {
  let made = jsPatterns[i];
  if (!made) {
    const { pattern, replacement } = numberKeyPart(i, (g) => `$${g}`);
    made = jsPatterns[i] = { pattern: new RegExp(pattern), replacement };
  }
  return made;
}

/**
 * The `_tt_key` of a record whose key columns at `parts` are text in the history (their type
 * changed): those parts are always JSON strings, whatever the file's type spells: `[5]` becomes
 * `["5"]`. An INT key widened to BIGINT (or a BIGINT narrowed to INT, a text key changed to a
 * number) then keeps one key text per record, also for a file of the old type applied after the
 * change (docs/history-tables.md). `parts`: the key's positions whose file type writes a number.
 */
export function textKey(key: string | null, parts: readonly number[]): string | null {
  if (key === null) return key;
  let out = key;
  for (const i of parts) {
    const { pattern, replacement } = jsPattern(i);
    out = out.replace(pattern, replacement);
  }
  return out;
}

/** Column kinds whose values a change file (and `_tt_key`) writes as JSON numbers. */
export const NUMBER_KINDS: ReadonlySet<string> = new Set(['int', 'year', 'float', 'double']);

/** When a version counts as committed: the commit time, or (Datastream files) the source time. */
export function commitMicros(event: ChangeEvent): number {
  return event.commitTimestampUs ?? event.sourceTimestampMs * 1000;
}

export interface VersionRow {
  readonly versionId: string;
  readonly key: string | null;
  readonly op: string;
  readonly deleted: boolean;
  readonly commitMicros: number;
  readonly position: string;
  readonly event: ChangeEvent;
  readonly payload: Row;
}

export function versionRow(event: ChangeEvent, columns: ReadonlyMap<string, ColumnSchema>): VersionRow {
  return {
    versionId: versionId(event),
    key: keyText(event, columns),
    op: event.changeType,
    deleted: isDeleteType(event.changeType),
    commitMicros: commitMicros(event),
    position: positionKey(event.position, event.changeType),
    event,
    payload: event.payload,
  };
}

/** True when a typed column cannot hold this staged text (so it goes to `_tt_raw` too). */
export function needsRaw(c: ColumnSchema, text: string): boolean {
  if (c.kind === 'date' || c.kind === 'datetime' || c.kind === 'timestamp') {
    // Zero dates and zero month/day parts (allowed by MySQL without NO_ZERO_DATE/NO_ZERO_IN_DATE).
    return /^0000|^\d{4}-00|^\d{4}-\d{2}-00/.test(text);
  }
  return false;
}
