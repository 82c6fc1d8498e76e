/** Datastream's JSON variants (our hand-made fixtures, see test/fixtures/datastream-json/README.md). */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { versionId } from '../core/index.ts';
import { readAll } from '../../test/support/read-all.ts';
import { REPO_ROOT } from '../../test/support/paths.ts';

const fixture = (name: string) => join(REPO_ROOT, 'test', 'fixtures', 'datastream-json', name);

describe('Datastream JSON variants', () => {
  it('string timestamps (space and T), big numbers kept exact, nested JSON, a key change', async () => {
    const { events, deadLetters } = await readAll(fixture('string-timestamps.jsonl'));
    assert.deepEqual(deadLetters, []);
    assert.equal(events.length, 3);
    const [ins, ud, ui] = events;
    assert.equal(ins!.readTimestampMs, Date.UTC(2021, 11, 25, 5, 42, 4, 408), 'zone-less text means UTC');
    assert.equal(ins!.sourceTimestampMs, Date.UTC(2021, 11, 25, 5, 42, 3));
    assert.equal(ud!.readTimestampMs, Date.UTC(2021, 11, 25, 5, 42, 5, 1));
    assert.equal(ud!.sourceTimestampMs, Date.UTC(2021, 11, 25, 5, 42, 4));
    // Without a schema: an integer past 2^53 becomes a bigint, never a rounded double.
    assert.equal(ins!.payload.id, 12345678901234567890n);
    assert.equal(ins!.payload.amount, 12.3);
    assert.equal(ins!.payload.note, 'café ☕');
    assert.equal(ins!.payload.attrs, '{"tags":["a","b"],"n":98765432109876543210}');
    assert.equal(ins!.payload.blob, 'deadbeef00', 'hex stays text unless a hint says the column is binary');
    assert.deepEqual(
      events.map((e) => [e.changeType, e.position.logFile, e.position.logPosition, e.position.rowIndex]),
      [
        ['INSERT', 'mysql-bin.000003', 4567, 0],
        ['UPDATE-DELETE', 'mysql-bin.000003', 4890, 0],
        ['UPDATE-INSERT', 'mysql-bin.000003', 4890, 1],
      ],
    );
    assert.notEqual(versionId(ud!), versionId(ui!));
  });

  it('column hints type the values of a JSON file (BIGINT, DECIMAL scale, BLOB bytes)', async () => {
    const { events, deadLetters } = await readAll(fixture('string-timestamps.jsonl'), {
      columnHints: () => ({ id: 'bigint unsigned', amount: 'decimal(10,2)', blob: 'blob', attrs: 'json' }),
    });
    assert.deepEqual(deadLetters, []);
    assert.equal(events[0]!.payload.id, 12345678901234567890n);
    assert.equal(events[0]!.payload.amount, '12.30');
    assert.deepEqual(events[0]!.payload.blob, Buffer.from('deadbeef00', 'hex'));
    assert.equal(events[2]!.payload.id, 7n);
    assert.equal(events[2]!.payload.amount, '-0.50');
    assert.equal(events[2]!.payload.note, '', 'columns without a hint are still read');
  });

  it('GTID-mode names binlog_file/binlog_position and epoch-ms timestamps', async () => {
    const { events, deadLetters } = await readAll(fixture('gtid-binlog-names.jsonl'));
    assert.deepEqual(deadLetters, []);
    assert.deepEqual(
      events.map((e) => [
        e.changeType,
        e.position.logFile,
        e.position.logPosition,
        e.sourceTimestampMs,
        e.readTimestampMs,
      ]),
      [
        ['DELETE', 'mysql-bin.000014', 59424, 1715237813000, 1715237869833],
        ['UPDATE-INSERT', 'mysql-bin.000015', 4, 1715237814000, 1715237869833],
      ],
    );
    assert.deepEqual(events[0]!.payload, { id: 2, name: 'Tester Yadav' });
  });

  it('the three backfill coordinate shapes are all snapshot rows', async () => {
    const { events, deadLetters } = await readAll(fixture('backfill-shapes.jsonl'));
    assert.deepEqual(deadLetters, []);
    assert.equal(events.length, 3);
    for (const [i, e] of events.entries()) {
      assert.equal(e.position.snapshot, true, `line ${i + 1}`);
      assert.equal(e.position.logFile, '');
      assert.equal(e.position.logPosition, 0);
      assert.equal(e.changeType, 'INSERT');
      assert.equal(e.payload.id, i + 1);
    }
    // Snapshot ids depend on the key, not on the line: three keys, three ids.
    assert.equal(new Set(events.map(versionId)).size, 3);
  });
});
