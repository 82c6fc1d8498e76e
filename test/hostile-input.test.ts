/**
 * Hostile and bad input. SQL injection through every name and value `query` and `verify` take,
 * against DuckDB and PostgreSQL (and names with quotes in them work); a bad source URL, a wrong
 * password, an unreachable host, a table that is not there, a data dir of another source: one
 * line that says what to do, exit 2, no stack unless --debug; and the source password appears in
 * no output, log, status or file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runTabletime, spawnTabletime, untilRunAnswers } from './support/cli.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { startCapture } from './support/capture.ts';
import { Writable } from 'node:stream';
import { answerQuery, type QueryOptions } from '../src/cli/query-command.ts';
import { TabletimeError } from '../src/core/index.ts';
import { openStore } from '../src/store/index.ts';
import { createTestPostgres, type TestPostgres } from './support/postgres.ts';

const WEIRD = 'we"ird\'na;me';

/** Exit 2, exactly one line `tabletime: CODE: …` on stderr, no stack. */
function setupError(code: string, pattern?: RegExp) {
  return (err: { code: number; stderr: string; stdout: string }) => {
    assert.equal(err.code, 2, `exit code (stderr: ${err.stderr})`);
    const lines = err.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line, got:\n${err.stderr}`);
    assert.match(lines[0]!, new RegExp(`^tabletime: ${code}: `));
    if (pattern) assert.match(lines[0]!, pattern);
    return true;
  };
}

async function allFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true, recursive: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('hostile and bad input', () => {
  let db: TestMariadb;
  let dataDir: string;
  let pgdb: TestPostgres;
  before(async () => {
    db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    await db.query('CREATE TABLE shop.t (id INT PRIMARY KEY, name VARCHAR(40))');
    await db.query("INSERT INTO shop.t VALUES (1, 'one'), (2, 'two'), (3, 'three')");
    await db.query(`CREATE TABLE shop.\`${WEIRD}\` (\`k"ey\` VARCHAR(20) PRIMARY KEY, \`va'l\` INT)`);
    await db.query(`INSERT INTO shop.\`${WEIRD}\` VALUES (?, 1), (?, 2), (?, 3)`, ['a', 'b\'"', 'c']);
    dataDir = await mkdtemp(join(tmpdir(), 'tabletime-hostile-'));
    const capture = await startCapture(db, 'shop.*', dataDir);
    await capture.stop();
    pgdb = await createTestPostgres();
    await runTabletime(['apply', '--data-dir', dataDir]);
    await runTabletime(['apply', '--data-dir', dataDir, '--store', pgdb.url]);
  });
  after(async () => {
    await db?.stop();
    await pgdb?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  for (const kind of ['duckdb', 'postgres'] as const) {
    it(`${kind}: injection through table names, keys, times and positions does nothing; quoted names work`, async () => {
      const spec = kind === 'postgres' ? pgdb.url : undefined;
      const lines = (s: string) => s.trim().split('\n').filter(Boolean);
      // In-process, through the same code the CLI runs (a CLI call per attempt would take minutes).
      const query = async (what: string, table?: string, opts: Partial<QueryOptions> = {}) => {
        await using store = await openStore(dataDir, spec);
        let text = '';
        const out = new Writable({
          write(chunk: Buffer, _enc, cb) {
            text += chunk.toString();
            cb();
          },
        });
        await answerQuery(store, what, table, { dataDir, format: 'jsonl', ...opts }, out);
        return text;
      };
      const refused = (code: string) => (err: unknown) => {
        assert.ok(err instanceof TabletimeError, String(err));
        assert.equal(err.code, code, err.message);
        assert.equal(err.kind, 'config');
        return true;
      };
      const tablesBefore = await query('tables');

      for (const table of [
        'shop.t; DROP TABLE shop.t__history',
        'shop.t" ; DROP SCHEMA "shop" CASCADE; --',
        "shop.t' OR '1'='1",
        'shop.t__history',
        '_tabletime.applied_files',
      ]) {
        await assert.rejects(query('current', table), refused('UNKNOWN_TABLE'), table);
      }
      for (const key of ['id=1 OR 1=1', 'id) OR (1=1=1', 'id=1; DROP TABLE shop.t__history']) {
        await assert.rejects(query('history', 'shop.t', { key }), refused('USAGE'), key);
      }
      // A string key with quotes is a value, bound as one: it finds nothing, not everything.
      assert.deepEqual(lines(await query('history', `shop.${WEIRD}`, { key: `k"ey=a' OR '1'='1` })), []);
      await assert.rejects(
        query('as-of', 'shop.t', { at: "2026-01-01'; DROP TABLE x; --" }),
        refused('USAGE'),
      );
      await assert.rejects(
        query('as-of', 'shop.t', { atPosition: "mariadb-bin.000001:4'; DROP TABLE x; --" }),
        refused('USAGE'),
      );
      await assert.rejects(query('as-of', 'shop.t', { atPosition: "0-1-1' OR '1'='1" }), refused('USAGE'));
      await assert.rejects(
        query('diff', 'shop.t', { from: "x' OR 1=1", to: '2030-01-01T00:00:00Z' }),
        refused('USAGE'),
      );

      // Names and values with quotes are quoted, not interpreted.
      const weird = lines(await query('current', `shop.${WEIRD}`)).map((l) => JSON.parse(l) as unknown);
      assert.deepEqual(weird, [
        { 'k"ey': 'a', "va'l": 1 },
        { 'k"ey': 'b\'"', "va'l": 2 },
        { 'k"ey': 'c', "va'l": 3 },
      ]);
      const one = lines(await query('history', `shop.${WEIRD}`, { key: 'k"ey=b\'"' }));
      assert.equal(one.length, 1);
      assert.match(one[0]!, /"va'l":2/);

      // verify (the CLI): names from --tables are patterns matched against the catalog, never SQL.
      const store = spec ? ['--store', spec] : [];
      await assert.rejects(
        runTabletime([
          'verify',
          '--source',
          db.url,
          '--data-dir',
          dataDir,
          ...store,
          '--tables',
          "shop.t' OR 1=1 --",
        ]),
        setupError('UNKNOWN_TABLE'),
      );
      const verified = await runTabletime(['verify', '--source', db.url, '--data-dir', dataDir, ...store]);
      assert.ok(verified.stdout.includes(`shop.${WEIRD}: 3 record(s) in 1 chunk(s): match`), verified.stdout);
      assert.match(verified.stdout, /shop\.t: 3 record\(s\) in 1 chunk\(s\): match/);

      // Nothing was dropped or changed by any attempt.
      assert.equal(await query('tables'), tablesBefore);
      assert.equal(lines(await query('current', 'shop.t')).length, 3);
    });
  }

  it('a bad --source, a wrong password, an unreachable host, a table that is not there: one line, exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tabletime-bad-'));
    const capture = (source: string, tables = 'shop.t') =>
      runTabletime(['capture', '--source', source, '--tables', tables, '--data-dir', dir]);
    const port = new URL(db.url).port;
    try {
      await assert.rejects(capture('not a url'), setupError('SOURCE', /mysql:\/\/user:password@host:3306/));
      await assert.rejects(
        capture('postgres://x@127.0.0.1/'),
        setupError('SOURCE', /must start with mysql:\/\//),
      );
      await assert.rejects(
        capture(`mysql://root:wrong-pw-8812@127.0.0.1:${port}/`),
        (err: { code: number; stderr: string }) => {
          assert.doesNotMatch(err.stderr, /wrong-pw-8812/);
          return setupError('SOURCE_ACCESS', /Access denied for user 'root'/)(err as never);
        },
      );
      await assert.rejects(
        capture('mysql://root@127.0.0.1:1/'),
        setupError('SOURCE_UNREACHABLE', /ECONNREFUSED/),
      );
      await assert.rejects(
        capture('mysql://root@no-such-host.invalid:3306/'),
        setupError('SOURCE_UNREACHABLE', /check the host and port/),
      );
      await assert.rejects(
        capture(`${db.url}nodb`),
        setupError('SOURCE_DATABASE', /Unknown database 'nodb'/),
      );
      await assert.rejects(capture(db.url, 'shop.nope'), setupError('UNKNOWN_TABLE', /no table shop\.nope/));
      await assert.rejects(
        runTabletime(['query', 'current', 'shop.nope', '--data-dir', dataDir]),
        setupError('UNKNOWN_TABLE'),
      );
      await assert.rejects(
        runTabletime(['verify', '--source', db.url, '--data-dir', dataDir, '--tables', 'shop.nope']),
        setupError('UNKNOWN_TABLE'),
      );
      // --debug adds the stack.
      await assert.rejects(
        runTabletime(['query', 'current', 'shop.nope', '--data-dir', dataDir, '--debug']),
        (err: { code: number; stderr: string }) => {
          assert.equal(err.code, 2);
          assert.match(err.stderr, /^tabletime: UNKNOWN_TABLE: /);
          assert.match(err.stderr, /\n\s+at /);
          return true;
        },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a bad --bucket, --notifications or secret name: one line, exit 2, before anything is opened or created', async () => {
    const fresh = join(dataDir, 'not-created');
    await assert.rejects(
      runTabletime(['apply', '--data-dir', fresh, '--notifications', 'pubsub://my-project/sub']),
      setupError('USAGE', /--bucket gs:\/\//),
    );
    await assert.rejects(
      runTabletime(['apply', '--data-dir', fresh, '--bucket', 's3://x']),
      setupError('BUCKET', /gs:\/\/BUCKET/),
    );
    await assert.rejects(
      runTabletime(['apply', '--data-dir', fresh, '--notifications', 'amqp://h/q', '--bucket', '/tmp']),
      setupError('NOTIFY', /pubsub:\/\/PROJECT\/SUBSCRIPTION/),
    );
    await assert.rejects(
      runTabletime([
        'capture',
        '--data-dir',
        fresh,
        '--tables',
        'shop.t',
        '--source',
        db.url,
        '--notify',
        'pubsub://p/s',
      ]),
      setupError('NOTIFY', /notification config/),
    );
    await assert.rejects(
      runTabletime(['check', '--source', db.url, '--tables', 'shop.t'], {
        TABLETIME_SOURCE_PASSWORD_SECRET: 'my-project/db-password',
      }),
      setupError('SOURCE_SECRET', /projects\/PROJECT\/secrets\/NAME/),
    );
    // A number flag that does not hold a number of its kind (a NaN flush interval once made
    // capture fail with an internal error, after creating its data dir).
    const base = ['--data-dir', fresh, '--tables', 'shop.t', '--source', db.url];
    for (const [args, flag] of [
      [['capture', ...base, '--flush-interval-ms', 'abc'], '--flush-interval-ms'],
      [['capture', ...base, '--snapshot-chunk-rows', '0'], '--snapshot-chunk-rows'],
      [['capture', ...base, '--server-id', '1.5'], '--server-id'],
      [['run', ...base, '--file-rotation-mb', '-2'], '--file-rotation-mb'],
      [['wait', '--data-dir', fresh, '--timeout', 'soon'], '--timeout'],
      [['apply', '--data-dir', fresh, '--sweep-interval', ''], '--sweep-interval'],
    ] as const) {
      await assert.rejects(
        runTabletime([...args]),
        setupError('USAGE', new RegExp(`^tabletime: USAGE: ${flag} takes`)),
      );
    }
    await assert.rejects(readdir(fresh), /ENOENT/);
  });

  it('a data dir that belongs to another source is refused by capture and verify', async () => {
    await using other = await startTestMariadb();
    await other.query('CREATE DATABASE shop');
    await other.query('CREATE TABLE shop.t (id INT PRIMARY KEY, name VARCHAR(40))');
    await assert.rejects(
      runTabletime(['capture', '--source', other.url, '--tables', 'shop.t', '--data-dir', dataDir]),
      setupError('CHECKPOINT_SERVER', /use another --data-dir for another source/),
    );
    await assert.rejects(
      runTabletime(['verify', '--source', other.url, '--data-dir', dataDir]),
      setupError('CHECKPOINT_SERVER', /give the --source it was captured from/),
    );
  });

  it('the source password appears in no output, log, status or file', async () => {
    const password = 'pw-LEAK-5531-zq';
    await db.query(`CREATE USER 'leaky'@'127.0.0.1' IDENTIFIED BY '${password}'`);
    await db.query("GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'leaky'@'127.0.0.1'");
    await db.query("GRANT SELECT ON shop.* TO 'leaky'@'127.0.0.1'");
    const url = db.url.replace('root@', `leaky:${password}@`);
    // A data dir that does not exist yet: run creates it.
    const dir = join(await mkdtemp(join(tmpdir(), 'tabletime-leak-')), 'fresh');
    let seen = '';
    const child = spawnTabletime(['run', '--source', url, '--tables', 'shop.t', '--data-dir', dir], {
      TABLETIME_LOG_LEVEL: 'debug',
    });
    child.stderr!.on('data', (d: Buffer) => (seen += d.toString()));
    try {
      seen += await untilRunAnswers(dir, () => seen, 100);
      await db.query("UPDATE shop.t SET name = 'uno' WHERE id = 1");
      seen += (await runTabletime(['wait', '--data-dir', dir, '--timeout', '30'])).stdout;
      seen += (await runTabletime(['status', '--data-dir', dir, '--json'])).stdout;
      seen += (await runTabletime(['status', '--data-dir', dir])).stdout;
      seen += (await runTabletime(['query', 'history', 'shop.t', '--data-dir', dir])).stdout;
      const v = await runTabletime(['verify', '--source', url, '--data-dir', dir]);
      seen += v.stdout + v.stderr;
      assert.match(v.stdout, /everything matches/);
      const c = await runTabletime(['check', '--source', url, '--tables', 'shop.t']);
      seen += c.stdout + c.stderr;
      // Errors that name the source.
      for (const bad of [`${url}nodb`, url.replace('127.0.0.1', 'no-such-host.invalid')]) {
        try {
          await runTabletime(['check', '--source', bad, '--tables', 'shop.t']);
        } catch (err) {
          const e = err as { stdout: string; stderr: string };
          seen += e.stdout + e.stderr;
        }
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    try {
      assert.match(seen, /leaky:\*\*\*@|\[Redacted\]/, 'the source is mentioned, redacted');
      assert.ok(!seen.includes(password), 'no output or log holds the password');
      for (const f of await allFiles(dir)) {
        const bytes = await readFile(f);
        assert.equal(bytes.indexOf(password), -1, `${f} holds the password`);
      }
    } finally {
      await rm(join(dir, '..'), { recursive: true, force: true });
    }
  });
});
