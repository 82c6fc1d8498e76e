/**
 * A TRUNCATE's tombstones are right only over the complete history before it, so apply takes a
 * TRUNCATE record only once every change file before it is applied: here while capture stages a
 * large transaction inside the bucket and removes its folder again, as it does at every commit of
 * one. A listing that failed whole when that folder vanished read as an empty bucket; the fault
 * suite then found seven extra tombstones (keys whose deletes had not been applied yet).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { applyFile, applyReadyTruncates } from '../src/apply/index.ts';
import { writeDdlRecord } from '../src/capture/ddl.ts';
import { ChangeFileWriter, META_DIR } from '../src/changefile/index.ts';
import { type ChangeEvent, columnFromSqlType, type TableSchema } from '../src/core/index.ts';
import { DuckdbStore } from '../src/store/index.ts';
import { binlogEvent } from './support/events.ts';

const T: TableSchema = {
  database: 'shop',
  table: 't',
  primaryKeys: ['id'],
  columns: [columnFromSqlType('id', 'int'), columnFromSqlType('v', 'int')],
};
const BASE = Date.UTC(2026, 0, 1) * 1000;

describe('TRUNCATE records and the files before them', () => {
  it('a TRUNCATE waits for an earlier file while a staging folder comes and goes in the bucket', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tt-truncate-'));
    try {
      const bucketDir = join(root, 'bucket');
      await using store = await DuckdbStore.open(join(root, 'history.duckdb'));
      const options = { store, bucketDir, deadLetterDir: join(root, 'dead-letters') };
      const publish = async (...events: ChangeEvent[]) => {
        const writer = new ChangeFileWriter({ bucketDir });
        for (const e of events) await writer.write(e, T);
        const [file] = await writer.finalizeAll();
        return file!.path;
      };
      const at = (i: number) => ({ logPosition: 1000 * i, commitUs: BASE + i * 1_000_000 });
      const inserts = await publish(
        binlogEvent(T, { id: 1, v: 1 }, { ...at(1), rowIndex: 0 }),
        binlogEvent(T, { id: 2, v: 2 }, { ...at(1), rowIndex: 1 }),
      );
      const deleteOfOne = await publish(binlogEvent(T, { id: 1, v: 1 }, { ...at(2), changeType: 'DELETE' }));
      await applyFile(inserts, options);
      await writeDdlRecord(
        bucketDir,
        { kind: 'TRUNCATE', table: { database: 'shop', table: 't' } },
        {
          sql: 'TRUNCATE shop.t',
          logFile: 'mariadb-bin.000001',
          logPosition: 3000,
          gtid: null,
          commitTimestampUs: BASE + 3e6,
        },
      );

      // Capture's staging of a large transaction: created, then removed at its commit.
      const staging = join(bucketDir, META_DIR, 'staging-transaction');
      let stop = false;
      let staged = 0;
      const churn = (async () => {
        while (!stop) {
          const folder = join(staging, 'shop_t', '2026', '01', '01', '00', '00');
          await mkdir(folder, { recursive: true });
          await writeFile(join(folder, 'tt_1-0000000001-000000000009000_aa.jsonl'), '{}\n');
          await rm(staging, { recursive: true, force: true });
          staged++;
        }
      })();
      try {
        for (let i = 0; i < 200; i++)
          assert.equal(
            await applyReadyTruncates(options),
            0,
            `the TRUNCATE was taken before the delete (try ${i})`,
          );
      } finally {
        stop = true;
        await churn;
      }
      assert.ok(staged > 20, `the staging folder came and went ${staged} times`);

      await applyFile(deleteOfOne, options);
      assert.equal(await applyReadyTruncates(options), 1, 'one tombstone: only key 2 was there');
      const ops = async (id: number) => (await store.history('shop', 't', { id })).map((v) => v.op);
      assert.deepEqual(await ops(1), ['INSERT', 'DELETE']);
      assert.deepEqual(await ops(2), ['INSERT', 'TRUNCATE']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
