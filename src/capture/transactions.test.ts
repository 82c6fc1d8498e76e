import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BINLOG_FIXTURES } from '../../test/support/paths.ts';
import { readBinlogFile } from './binlog/index.ts';
import { TableSchemas } from './table-schema.ts';
import { TransactionAssembler } from './transactions.ts';

const valuesJson = (row: object) =>
  JSON.stringify(row, (_, v: unknown) =>
    typeof v === 'bigint' ? `${v}n` : Buffer.isBuffer(v) ? v.toString('hex') : v,
  );

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

  it('hands a large transaction on in parts only when its commit time is known first, with the same changes', async () => {
    // MySQL 8 (GTID with µs commit time) and MariaDB (GTID event written at commit) stream; a
    // held assembler and a streaming one must give the same changes, in the same order.
    const read = async (file: string, largeTransactionRows?: number) => {
      const assembler = new TransactionAssembler({
        schemas: new TableSchemas(),
        include: () => true,
        streamName: 't',
        largeTransactionRows,
      });
      const out: unknown[] = [];
      let streamed = 0;
      for await (const e of readBinlogFile(join(BINLOG_FIXTURES, file))) {
        const tx = assembler.push(e, 'binlog.000001');
        const changes = tx ? tx.changes : (assembler.takeLarge() ?? []);
        if (tx?.streamed) streamed++;
        for (const { event: c } of changes)
          out.push([c.position, c.changeType, c.commitTimestampUs, c.position.gtid, valuesJson(c.payload)]);
      }
      return { out, streamed };
    };
    for (const file of ['binlog-invisible-columns.000001', 'mariadb-bin.000001']) {
      const held = await read(file);
      const streaming = await read(file, 0);
      assert.ok(held.out.length > 0, file);
      assert.equal(held.streamed, 0, file);
      assert.ok(streaming.streamed > 0, `${file}: some transaction streamed`);
      assert.deepEqual(streaming.out, held.out, file);
    }
  });

  it('a handed-on transaction that ends in ROLLBACK says so, and the next one starts clean', async () => {
    // MariaDB in ROW format does not log a ROLLBACK for InnoDB; a statement-format server can.
    // The first transaction's XID is replaced by one.
    const assembler = new TransactionAssembler({
      schemas: new TableSchemas(),
      include: () => true,
      streamName: 't',
      largeTransactionRows: 0,
    });
    const ends: { streamed: boolean; rolledBack: boolean; changes: number; parts: number }[] = [];
    let parts = 0;
    let replaced = false;
    for await (const e of readBinlogFile(join(BINLOG_FIXTURES, 'mariadb-bin.000001'))) {
      const event =
        e.kind === 'xid' && parts > 0 && !replaced
          ? ((replaced = true), { kind: 'query' as const, header: e.header, database: '', sql: 'ROLLBACK' })
          : e;
      const tx = assembler.push(event, 'mariadb-bin.000001');
      if (!tx) parts += assembler.takeLarge()?.length ?? 0;
      else if (tx.streamed || tx.rolledBack) {
        ends.push({ streamed: tx.streamed, rolledBack: tx.rolledBack, changes: tx.changes.length, parts });
        parts = 0;
      }
    }
    assert.ok(replaced);
    assert.deepEqual(ends[0], { streamed: true, rolledBack: true, changes: 0, parts: ends[0]!.parts });
    assert.ok(ends[0].parts > 0);
    assert.ok(ends.length > 1 && ends.slice(1).every((t) => t.streamed && !t.rolledBack));
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
    // No primary key: an update is the old row's tombstone, whole, then the new row.
    assert.deepEqual(
      update!.changes.map((c) => c.event.changeType),
      ['UPDATE-DELETE', 'UPDATE-INSERT'],
    );
    const [gone, there] = update!.changes;
    assert.deepEqual(Object.keys(gone!.event.payload), Object.keys(there!.event.payload));
    assert.notDeepEqual(gone!.event.payload, there!.event.payload);
    assert.deepEqual(
      update!.changes[0]!.schema.columns.map((c) => c.sqlType),
      ['int unsigned', 'int unsigned', 'int', 'text', 'blob', 'bigint unsigned'],
    );
  });
});
