/**
 * DDL while capturing, and while capture is stopped: rows are decoded with the schema in force at
 * their position, each schema change starts a file with a new schema_key, and TRUNCATE, DROP,
 * RENAME, ALTER and CREATE become explicit records under _tabletime/ddl/.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DdlRecord } from '../src/capture/ddl.ts';
import { bucketEvents } from './support/bucket.ts';
import { startCapture } from './support/capture.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';

async function ddlRecords(bucketDir: string): Promise<DdlRecord[]> {
  const dir = join(bucketDir, '_tabletime', 'ddl');
  const out: DdlRecord[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.json'))
      out.push(JSON.parse(await readFile(join(e.parentPath, e.name), 'utf8')) as DdlRecord);
  }
  return out.sort((a, b) => (a.position_key < b.position_key ? -1 : 1));
}

describe('DDL', () => {
  let db: TestMariadb;
  before(async () => {
    db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
  });
  after(async () => {
    await db?.stop();
  });

  it('add, drop, rename and retype columns, truncate, rename and drop the table, while capturing', async () => {
    await db.query('CREATE TABLE shop.t (id INT PRIMARY KEY, a INT, b VARCHAR(10))');
    await using capture = await startCapture(db, 'shop.*');
    const q = (sql: string) => db.query(sql);
    await q("INSERT INTO shop.t VALUES (1, 10, 'x')");
    await q('ALTER TABLE shop.t ADD COLUMN c DATE');
    await q("INSERT INTO shop.t VALUES (2, 20, 'y', '2024-01-02')");
    await q('ALTER TABLE shop.t DROP COLUMN b');
    await q("INSERT INTO shop.t VALUES (3, 30, '2024-01-03')");
    await q('ALTER TABLE shop.t RENAME COLUMN a TO a2');
    await q('INSERT INTO shop.t VALUES (4, 40, NULL)');
    await q('ALTER TABLE shop.t MODIFY a2 DECIMAL(12,3)');
    await q('INSERT INTO shop.t VALUES (5, 50.125, NULL)');
    await q('TRUNCATE TABLE shop.t');
    await q('INSERT INTO shop.t VALUES (6, 60, NULL)');
    await q('RENAME TABLE shop.t TO shop.t2');
    await q('INSERT INTO shop.t2 VALUES (7, 70, NULL)');
    await q('DROP TABLE shop.t2');
    await capture.catchUp();

    const { events } = await bucketEvents(capture.bucketDir);
    assert.deepEqual(
      events.map((e) => [e.table, e.changeType, e.payload]),
      [
        ['t', 'INSERT', { id: 1, a: 10, b: 'x' }],
        ['t', 'INSERT', { id: 2, a: 20, b: 'y', c: '2024-01-02' }],
        ['t', 'INSERT', { id: 3, a: 30, c: '2024-01-03' }],
        ['t', 'INSERT', { id: 4, a2: 40, c: null }],
        ['t', 'INSERT', { id: 5, a2: '50.125', c: null }],
        ['t', 'INSERT', { id: 6, a2: '60.000', c: null }],
        ['t2', 'INSERT', { id: 7, a2: '70.000', c: null }],
      ],
    );
    // Each schema is its own key: 5 for t (original, +c, -b, a→a2, a2 decimal), 1 for t2.
    assert.equal(new Set(events.filter((e) => e.table === 't').map((e) => e.schemaKey)).size, 5);
    const records = await ddlRecords(capture.bucketDir);
    assert.deepEqual(
      records.map((r) => [
        r.kind,
        `${r.database}.${r.table}`,
        r.renamed_to ? `${r.renamed_to.database}.${r.renamed_to.table}` : null,
      ]),
      [
        ['ALTER', 'shop.t', null],
        ['ALTER', 'shop.t', null],
        ['ALTER', 'shop.t', null],
        ['ALTER', 'shop.t', null],
        ['TRUNCATE', 'shop.t', null],
        ['RENAME', 'shop.t', 'shop.t2'],
        ['DROP', 'shop.t2', null],
      ],
    );
    // The TRUNCATE sits between row 5 and row 6 in source order.
    const truncate = records.find((r) => r.kind === 'TRUNCATE')!;
    const key = (i: number) => {
      const p = events[i]!.position;
      return `1:${String(Number(p.logFile.split('.').pop())).padStart(10, '0')}:${String(p.logPosition).padStart(15, '0')}`;
    };
    assert.ok(key(4) < truncate.position_key && truncate.position_key < key(5));
    assert.match(truncate.commit_timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000000Z$/);
  });

  it('rows written before an ALTER that happened while capture was stopped keep their own columns', async () => {
    await db.query('CREATE TABLE shop.s (id INT PRIMARY KEY, a INT)');
    let capture = await startCapture(db, 'shop.s');
    const dataDir = capture.dataDir;
    await capture.stop();
    await db.query('INSERT INTO shop.s VALUES (1, 10)');
    await db.query('ALTER TABLE shop.s ADD COLUMN z VARCHAR(5) FIRST, DROP COLUMN a');
    await db.query("INSERT INTO shop.s VALUES ('zz', 2)");
    capture = await startCapture(db, 'shop.s', dataDir);
    await capture.stop();
    const { events } = await bucketEvents(capture.bucketDir);
    assert.deepEqual(
      events.map((e) => e.payload),
      [
        { id: 1, a: 10 },
        { z: 'zz', id: 2 },
      ],
    );
  });
});
