import { createHash } from 'node:crypto';
import type { ChangeEvent } from './change-event.ts';
import { positionKey } from './position.ts';
import { bytesToHex, type Value } from './values.ts';

/** A key value as canonical text: numbers and bigints of the same value give the same text. */
function keyPart(value: Value | undefined): string {
  if (value === null || value === undefined) return '\u0001';
  if (typeof value === 'number' || typeof value === 'bigint') return `n${String(value)}`;
  if (typeof value === 'string') return `s${value}`;
  return `x${bytesToHex(value)}`;
}

/**
 * The deterministic id of the version one change creates (ARCHITECTURE.md contract 4): a 128-bit
 * hash, as 32 hex digits, of the change's source coordinates. Replaying a file, a duplicate
 * notification or a re-written tail after a crash gives the same id, so the store keeps one version.
 * - binlog changes: database, table, position key (file sequence, position, row index, key-change
 *   half) and change type;
 * - snapshot rows: database, table, snapshot id and the primary-key values (a snapshot holds one
 *   row per key; the same row read twice by one snapshot is one version); for a table without a
 *   key, the row's ordinal in the snapshot instead.
 */
export function versionId(event: ChangeEvent): string {
  const h = createHash('sha256');
  h.update(event.database);
  h.update('\u0000');
  h.update(event.table);
  h.update('\u0000');
  if (event.position.snapshot) {
    h.update(`snapshot\u0000${event.snapshotId ?? ''}`);
    // Without a key, rows have no identity but their place in the snapshot.
    if (event.primaryKeys.length === 0) h.update(`\u0000#${event.position.rowIndex}`);
    for (const k of event.primaryKeys) {
      h.update('\u0000');
      h.update(keyPart(event.payload[k]));
    }
  } else {
    h.update(positionKey(event.position, event.changeType));
    h.update('\u0000');
    h.update(event.changeType);
  }
  return h.digest('hex').slice(0, 32);
}
