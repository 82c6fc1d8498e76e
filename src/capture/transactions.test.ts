import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BINLOG_FIXTURES } from '../../test/support/paths.ts';
import { readBinlogFile } from './binlog/index.ts';
import { TableSchemas } from './table-schema.ts';
import { TransactionAssembler } from './transactions.ts';

describe('TransactionAssembler', () => {
  it('refuses partial JSON updates of a captured table loudly, never skipping them', async () => {
    const assembler = new TransactionAssembler({
      schemas: new TableSchemas(),
      include: () => true,
      streamName: 't',
    });
    await assert.rejects(
      (async () => {
        for await (const e of readBinlogFile(join(BINLOG_FIXTURES, 'json.binlog.000001'))) {
          // This file has no column names (MINIMAL metadata): name the columns is not what is tested.
          if (e.kind === 'rows' && !e.partialJson) continue;
          assembler.push(e, 'binlog.000001');
        }
      })(),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'PARTIAL_JSON');
        assert.match(err.message, /binlog_row_value_options=''/);
        assert.match(err.message, /mysql\.t/);
        return true;
      },
    );
  });

  it('groups a MySQL transaction and gives every change its µs commit time and GTID', async () => {
    const schemas = new TableSchemas();
    const assembler = new TransactionAssembler({ schemas, include: () => true, streamName: 't' });
    const done = [];
    for await (const e of readBinlogFile(join(BINLOG_FIXTURES, 'binlog-invisible-columns.000001'))) {
      const tx = assembler.push(e, 'binlog.000001');
      if (tx && tx.changes.length > 0) done.push(tx);
    }
    assert.equal(done.length, 3);
    const [insert, , update] = done;
    assert.equal(insert!.gtid, '97c7af02-4c50-11ec-acd8-681842034964:3');
    assert.equal(insert!.commitTimestampUs, 1637667166684912);
    assert.deepEqual(
      insert!.changes.map((c) => [c.event.changeType, c.event.commitTimestampUs, c.event.position.gtid]),
      [['INSERT', 1637667166684912, '97c7af02-4c50-11ec-acd8-681842034964:3']],
    );
    // No primary key: an update cannot be a key change.
    assert.deepEqual(
      update!.changes.map((c) => c.event.changeType),
      ['UPDATE-INSERT'],
    );
    assert.deepEqual(
      update!.changes[0]!.schema.columns.map((c) => c.sqlType),
      ['int unsigned', 'int unsigned', 'int', 'text', 'blob', 'bigint unsigned'],
    );
  });
});
