/**
 * Where a change sits in the source. Versions of one key are ordered by this (ARCHITECTURE.md
 * contract 3): snapshot versions first, then (binlog file sequence, position of the rows event,
 * row index inside the event, and for a key change UPDATE-DELETE before UPDATE-INSERT).
 * Timestamps and arrival order never decide.
 */
export type ChangeType = 'INSERT' | 'UPDATE-INSERT' | 'UPDATE-DELETE' | 'DELETE';

export const CHANGE_TYPES: readonly ChangeType[] = ['INSERT', 'UPDATE-INSERT', 'UPDATE-DELETE', 'DELETE'];

export interface SourcePosition {
  /** True for a snapshot (backfill) row; its binlog coordinates are then empty. */
  readonly snapshot: boolean;
  readonly logFile: string;
  readonly logPosition: number;
  /** The row's index inside its rows event (or, for files that lack it, its order in the file). */
  readonly rowIndex: number;
  readonly gtid?: string | null;
}

/** The numeric sequence of a binlog file name: 'mysql-bin.000014' -> 14. */
export function binlogSequence(logFile: string): number {
  const dot = logFile.lastIndexOf('.');
  const seq = Number.parseInt(logFile.slice(dot + 1), 10);
  return Number.isFinite(seq) ? seq : 0;
}

/**
 * One canonical, byte-wise sortable text for a change's place in the source order. Stores keep it
 * in a column and sort by it; it is also the input of the version id.
 *   snapshot:  '0:<row index, 12 digits>'
 *   binlog:    '1:<file sequence, 10 digits>:<position, 15 digits>:<row index, 9 digits>:<0|1>'
 * The last digit puts a key change's UPDATE-DELETE (0) before its UPDATE-INSERT (1).
 */
export function positionKey(pos: SourcePosition, changeType: ChangeType): string {
  if (pos.snapshot) return `0:${String(pos.rowIndex).padStart(12, '0')}`;
  const sub = changeType === 'UPDATE-DELETE' ? '0' : '1';
  return (
    `1:${String(binlogSequence(pos.logFile)).padStart(10, '0')}:` +
    `${String(pos.logPosition).padStart(15, '0')}:${String(pos.rowIndex).padStart(9, '0')}:${sub}`
  );
}

export function comparePositions(
  a: SourcePosition,
  aType: ChangeType,
  b: SourcePosition,
  bType: ChangeType,
): number {
  const ka = positionKey(a, aType);
  const kb = positionKey(b, bType);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * A point in the source order to read the history at (as-of a position): every version whose
 * position key is below `key`, or up to and including it when `inclusive`.
 */
export interface PositionBound {
  readonly key: string;
  readonly inclusive: boolean;
  /** How the user wrote it, for messages. */
  readonly text: string;
}

/**
 * The state after every transaction that ended at or before a binlog coordinate (as SHOW MASTER
 * STATUS or a consistent snapshot reports it): a transaction's events all start before its end, and
 * the next transaction's first event starts at or after it, so the bound is "events before pos".
 */
export function boundAtBinlogPosition(logFile: string, logPosition: number): PositionBound {
  return {
    key: `1:${String(binlogSequence(logFile)).padStart(10, '0')}:${String(logPosition).padStart(15, '0')}`,
    inclusive: false,
    text: `${logFile}:${logPosition}`,
  };
}

/** `--at-position` text: a binlog coordinate `file:pos`, or a GTID (MariaDB `0-1-42`, MySQL `uuid:42`). */
export type PositionText =
  | { readonly kind: 'binlog'; readonly logFile: string; readonly logPosition: number }
  | { readonly kind: 'gtid'; readonly gtid: string };

export function parsePositionText(text: string): PositionText | null {
  const t = text.trim();
  if (/^\d+-\d+-\d+$/.test(t)) return { kind: 'gtid', gtid: t };
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:\d+$/i.test(t))
    return { kind: 'gtid', gtid: t.toLowerCase() };
  const m = /^([^:\s]+\.\d+):(\d+)$/.exec(t);
  if (m) return { kind: 'binlog', logFile: m[1]!, logPosition: Number(m[2]) };
  return null;
}

/** True when binlog coordinate `a` is at or after `b`. */
export function binlogAtOrAfter(
  a: { readonly logFile: string; readonly logPosition: number },
  b: { readonly logFile: string; readonly logPosition: number },
): boolean {
  const sa = binlogSequence(a.logFile);
  const sb = binlogSequence(b.logFile);
  return sa > sb || (sa === sb && a.logPosition >= b.logPosition);
}
