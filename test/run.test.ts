/**
 * `tabletime run` end to end: capture and apply in one process; `wait` returns once the source's
 * changes are queryable; `query` and `status` work while run holds the store; on DuckDB and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type QueryOptions, queryCommand } from '../src/cli/query-command.ts';
import { runTabletime, spawnTabletime, untilRunAnswers } from './support/cli.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { seededRandom, testSeed } from './support/random.ts';
import { Workload } from './support/workload.ts';
import { createTestPostgres, type TestPostgres } from './support/postgres.ts';

for (const kind of ['duckdb', 'postgres'] as const) {
  describe(`tabletime run (${kind} store)`, () => {
    let db: TestMariadb;
    let dataDir: string;
    let pgdb: TestPostgres | undefined;
    let storeArgs: string[] = [];
    before(async () => {
      db = await startTestMariadb();
      await db.query('CREATE DATABASE shop');
      dataDir = await mkdtemp(join(tmpdir(), 'tabletime-run-'));
      if (kind === 'postgres') {
        pgdb = await createTestPostgres();
        storeArgs = ['--store', pgdb.url];
      }
    });
    after(async () => {
      await db?.stop();
      await pgdb?.drop();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('captures and applies; wait, query and status work while it runs; SIGTERM stops it cleanly', async () => {
      const seed = testSeed('tabletime run');
      await db.query('CREATE TABLE shop.r (id INT PRIMARY KEY, v INT)');
      const workload = new Workload(seededRandom(seed), 'shop.r');
      const conn = await db.connect();
      const initial = await workload.preload(conn, 20);
      // A file with a bad line, already in the bucket: run's first pass files it as a dead letter.
      await mkdir(join(dataDir, 'bucket', 'odd'), { recursive: true });
      await writeFile(join(dataDir, 'bucket', 'odd', 'broken.jsonl'), '{"cut short": \n');
      const child = spawnTabletime(
        [
          'run',
          '--source',
          db.url,
          '--tables',
          'shop.*',
          '--data-dir',
          dataDir,
          '--flush-interval-ms',
          '50',
          ...storeArgs,
        ],
        {
          TABLETIME_LOG_LEVEL: 'warn',
        },
      );
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        await untilRunAnswers(dataDir, () => stderr, 100);
        await workload.run(conn, 30);
        await runTabletime(['wait', '--data-dir', dataDir, '--timeout', '30']);

        // The query goes to the running process (it holds history.duckdb).
        const { stdout } = await runTabletime([
          'query',
          'current',
          'shop.r',
          '--data-dir',
          dataDir,
          '--format',
          'jsonl',
        ]);
        const got = stdout
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { id: number; v: number });
        const want = [...workload.stateAfter(initial, workload.expected.length)].sort((a, b) => a[0] - b[0]);
        assert.deepEqual(
          got.map((r) => [r.id, r.v]),
          want,
          `seed ${seed}`,
        );

        // In pages of three (the option travels to the running process, which holds the file):
        // the same records; a table has its header once a page and the count once, at the end.
        const collect = async (opts: Partial<QueryOptions>, what = 'current') => {
          let text = '';
          const out = new Writable({
            write(chunk: Buffer, _encoding, done) {
              text += chunk.toString();
              done();
            },
          });
          await queryCommand(what, 'shop.r', { dataDir, ...opts }, out);
          return text;
        };
        assert.equal(await collect({ format: 'jsonl', pageRows: 3 }), stdout);
        const table = (await collect({ format: 'table', pageRows: 3 })).trim().split('\n');
        assert.equal(table.filter((l) => /^id\s/.test(l)).length, Math.ceil(got.length / 3));
        assert.equal(table.at(-1), `(${got.length} rows)`);
        // The table's whole history the same way: every version, in pages, as one reading gives it.
        const count = initial.size + workload.expected.length;
        const versions = await collect({ format: 'jsonl' }, 'history');
        assert.equal(versions.trim().split('\n').length, count);
        assert.equal(await collect({ format: 'jsonl', pageRows: 3 }, 'history'), versions);
        const paged = (await collect({ format: 'table', pageRows: 3 }, 'history')).trim().split('\n');
        assert.equal(paged.filter((l) => /^_tt_commit_ts\s/.test(l)).length, Math.ceil(count / 3));
        assert.equal(paged.at(-1), `(${count} rows)`);

        const status = JSON.parse(
          (await runTabletime(['status', '--data-dir', dataDir, '--json'])).stdout,
        ) as {
          running: boolean;
          filesPending: number;
          eventsPending: number;
          lagSeconds: number | null;
          deadLetters: number;
          tables: { table: string; versions: number }[];
        };
        assert.equal(status.running, true);
        assert.equal(status.filesPending, 0);
        assert.equal(status.eventsPending, 0);
        assert.equal(status.lagSeconds, 0, 'caught up after wait');
        assert.equal(status.deadLetters, 1, 'the broken file is counted');
        assert.equal(
          status.tables.find((t) => t.table === 'r')!.versions,
          initial.size + workload.expected.length,
        );
      } finally {
        await conn.end();
        child.kill('SIGTERM');
      }
      // A stop must not hang on leftovers (a pending timer, keep-alive sockets): it took 29 s once.
      const stopped = await Promise.race([
        exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref()),
      ]);
      assert.equal(stopped, 0, `run did not exit cleanly within 10 s of SIGTERM: ${stderr}`);
      // With run stopped, query opens the file itself.
      const after = await runTabletime([
        'query',
        'tables',
        '--data-dir',
        dataDir,
        '--format',
        'jsonl',
        ...storeArgs,
      ]);
      assert.match(after.stdout, /"table":"r"/);
    });
  });
}
