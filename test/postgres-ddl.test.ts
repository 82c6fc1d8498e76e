/**
 * Several apply workers starting together on one new PostgreSQL database: each creates
 * tabletime's tables and the same history tables at the same moment. PostgreSQL's
 * `CREATE … IF NOT EXISTS` is not safe against a concurrent create (it fails with a unique
 * violation in its catalog), so schema changes are serialised; none of the workers may fail.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { columnFromSqlType, type TableSchema } from '../src/core/index.ts';
import { PostgresStore } from '../src/store/index.ts';
import { binlogEvent } from './support/events.ts';
import { createTestPostgres } from './support/postgres.ts';

const WORKERS = 6;

describe('PostgreSQL store: workers starting together', () => {
  it('create the same schemas and tables at once without failing', async () => {
    for (let round = 0; round < 3; round++) {
      await using db = await createTestPostgres();
      const opened = await Promise.allSettled(
        Array.from({ length: WORKERS }, () => PostgresStore.open(db.url)),
      );
      const stores = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      try {
        assert.deepEqual(
          opened.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : [])),
          [],
          'every worker opens the store',
        );
        const schema: TableSchema = {
          database: `shop${round}`,
          table: 'orders',
          primaryKeys: ['id'],
          columns: [columnFromSqlType('id', 'int'), columnFromSqlType('note', 'text')],
        };
        const applied = await Promise.allSettled(
          stores.map((store, i) =>
            store.applyFiles([
              { file: `f${i}`, events: [{ event: binlogEvent(schema, { id: i, note: 'x' }), schema }] },
            ]),
          ),
        );
        assert.deepEqual(
          applied.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : [])),
          [],
          'every worker creates the history table and applies its file',
        );
        assert.equal((await stores[0]!.history(schema.database, schema.table)).length, WORKERS);
      } finally {
        for (const s of stores) await s.close();
      }
    }
  });
});
