/** `tabletime apply` and `tabletime query` as a user runs them, on real Datastream files in a data dir. */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { columnFromSqlType, type TableSchema } from '../src/core/index.ts';
import { DuckdbStore } from '../src/store/index.ts';
import { binlogEvent } from './support/events.ts';
import { runTabletime } from './support/cli.ts';
import { createTestPostgres } from './support/postgres.ts';
import { DATASTREAM_FIXTURES, REPO_ROOT } from './support/paths.ts';

const CLI = ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts')];

describe('apply and query commands', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tabletime-query-'));
    const bucket = join(dataDir, 'bucket', 'l1_Users', '2024', '05', '09');
    await mkdir(bucket, { recursive: true });
    for (const f of [
      'DataStreamToSpannerEventsIT__mysql-backfill-Users',
      'DataStreamToSpannerEventsIT__mysql-cdc-Users',
    ]) {
      await copyFile(join(DATASTREAM_FIXTURES, `${f}.avro`), join(bucket, `${f}.avro`));
    }
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('apply, then current, as-of, history of a key and diff, as table, jsonl and csv', async () => {
    const applied = await runTabletime(['apply', '--data-dir', dataDir]);
    assert.match(
      applied.stdout,
      /applied 2 file\(s\): 6 change\(s\), 6 new version\(s\); 0 file\(s\) already applied; 0 dead letter\(s\)/,
    );
    const again = await runTabletime(['apply', '--data-dir', dataDir]);
    assert.match(again.stdout, /applied 0 file\(s\).*2 file\(s\) already applied/);

    const tables = await runTabletime(['query', 'tables', '--data-dir', dataDir, '--format', 'jsonl']);
    assert.deepEqual(JSON.parse(tables.stdout.trim()), {
      database: 'l1',
      table: 'Users',
      versions: 6,
      lastCommit: '2024-05-09T06:56:54.000000Z',
    });

    const current = await runTabletime([
      'query',
      'current',
      'l1.Users',
      '--data-dir',
      dataDir,
      '--format',
      'jsonl',
    ]);
    const rows = current.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // Exactly the source's columns, values in the change-file encoding (BIGINT as digit strings).
    assert.deepEqual(rows[0], {
      id: 1,
      name: 'Tester Kumar',
      age: '30',
      subscribed: '0',
      plan: 'A',
      startDate: '2023-01-01 00:00:00.000000',
    });
    assert.deepEqual(
      rows.map((r) => r.id),
      [1, 3, 4],
    );

    const asOf = await runTabletime([
      'query',
      'as-of',
      'l1.Users',
      '--at',
      '2024-05-09T06:00:00Z',
      '--data-dir',
      dataDir,
      '--format',
      'csv',
    ]);
    assert.deepEqual(asOf.stdout.trim().split('\n'), [
      'id,name,age,subscribed,plan,startDate',
      '1,Tester Kumar,30,0,A,2023-01-01 00:00:00.000000',
      '2,Tester Yadav,33,1,B,2024-01-01 00:00:00.000000',
    ]);

    const history = await runTabletime([
      'query',
      'history',
      'l1.Users',
      '--key',
      'id=2',
      '--data-dir',
      dataDir,
    ]);
    const lines = history.stdout.trim().split('\n');
    assert.match(
      lines[0]!,
      /^_tt_commit_ts\s+_tt_op\s+_tt_deleted\s+_tt_version_id\s+_tt_position\s+id\s+name/,
    );
    assert.match(lines[2]!, /^2024-05-09T05:11:39\.000000Z\s+INSERT\s+false\s/);
    assert.match(lines[3]!, /^2024-05-09T06:56:53\.000000Z\s+DELETE\s+true\s.*Tester Yadav/);
    assert.equal(lines.at(-1), '(2 rows)');

    const diff = await runTabletime([
      'query',
      'diff',
      'l1.Users',
      '--from',
      '2024-05-09T06:00:00Z',
      '--to',
      '2024-05-10T00:00:00Z',
      '--data-dir',
      dataDir,
      '--format',
      'jsonl',
    ]);
    const changes = diff.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      changes.map((c) => [c.change, c.id, c.columns]),
      [
        ['inserted', 3, ''],
        ['inserted', 4, ''],
        ['deleted', 2, ''],
      ],
    );
  });

  it('--store postgres:// applies and answers the same as the DuckDB default', async () => {
    await using pgdb = await createTestPostgres();
    const applied = await runTabletime(['apply', '--data-dir', dataDir, '--store', pgdb.url]);
    assert.match(applied.stdout, /applied 2 file\(s\): 6 change\(s\), 6 new version\(s\)/);
    const args = ['query', 'current', 'l1.Users', '--data-dir', dataDir, '--format', 'jsonl'];
    const fromPostgres = await runTabletime([...args, '--store', pgdb.url]);
    const fromDuckdb = await runTabletime(args);
    assert.equal(fromPostgres.stdout, fromDuckdb.stdout);
    assert.equal(fromPostgres.stdout.trim().split('\n').length, 3);
  });

  it('a table it does not know is a clear one-line error', async () => {
    await assert.rejects(
      runTabletime(['query', 'current', 'l1.Nope', '--data-dir', dataDir]),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2);
        assert.equal(
          err.stderr.trim(),
          'tabletime: UNKNOWN_TABLE: no history for l1.Nope: `tabletime query tables` lists what there is',
        );
        return true;
      },
    );
  });

  it('a data dir without a history is a clear one-line error, and no empty history is made there', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'tabletime-nohistory-'));
    try {
      await assert.rejects(
        runTabletime(['query', 'tables', '--data-dir', empty]),
        (err: { code: number; stderr: string }) => {
          assert.equal(err.code, 2);
          assert.equal(
            err.stderr.trim(),
            `tabletime: NO_HISTORY: there is no history at ${join(empty, 'history.duckdb')}: give the --data-dir that \`tabletime run\` or \`apply\` writes to (or --store)`,
          );
          return true;
        },
      );
      assert.deepEqual(await readdir(empty), []);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('a reader that stops early (`| head`) ends the query quietly, not as a bug', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tabletime-head-'));
    try {
      const T: TableSchema = {
        database: 'h',
        table: 't',
        primaryKeys: ['id'],
        columns: [columnFromSqlType('id', 'int'), columnFromSqlType('note', 'varchar(200)')],
      };
      {
        await using store = await DuckdbStore.open(join(dir, 'history.duckdb'));
        const events = Array.from({ length: 30_000 }, (_, i) => ({
          event: binlogEvent(T, { id: i, note: `row ${i} ${'x'.repeat(100)}` }, { logPosition: 1000 + i }),
          schema: T,
        }));
        await store.applyFile('h.jsonl', events);
      }
      const child = spawn(
        process.execPath,
        [...CLI, 'query', 'current', 'h.t', '--data-dir', dir, '--format', 'jsonl'],
        { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      // The first line, then the reader goes away.
      await new Promise<void>((r) => child.stdout.once('data', () => r()));
      child.stdout.destroy();
      assert.equal(await exited, 0, stderr);
      assert.equal(stderr, '');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
