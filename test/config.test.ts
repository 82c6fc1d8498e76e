/**
 * The config file: every mistake reported at once with its line and path; flags win over the
 * file; the commented example in docs/ is valid; and its personal-data rules work end to end —
 * an excluded column and a hashed one never reach the change files or the history in clear.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { applyBucket } from '../src/apply/index.ts';
import { loadConfig, parseConfig, withConfig } from '../src/cli/config.ts';
import { ConfigError } from '../src/core/index.ts';
import { DuckdbStore } from '../src/store/index.ts';
import { runTabletime, spawnTabletime } from './support/cli.ts';
import { waitForCheckpoint } from './support/bucket.ts';
import { masterPosition } from './support/capture.ts';
import { startTestMariadb } from './support/mariadb.ts';
import { REPO_ROOT } from './support/paths.ts';

const THREE_MISTAKES = `source:
  url: mysql://root:hunter2@db:3306/
tables:
  include: [shop.*, orders]
data_dir: /var/lib/tabletime
http:
  listen: 127.0.0.1:8080
  tokn_file: /etc/token
`;

describe('config file', () => {
  it('reports all three mistakes, each with its line and path, in one error', () => {
    assert.throws(
      () => parseConfig(THREE_MISTAKES, 'tabletime.yaml'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.code, 'CONFIG');
        assert.match(e.message, /tabletime\.yaml has 3 problems/);
        assert.match(e.message, /tabletime\.yaml:2: source\.url: is not a URL without a password/);
        assert.match(e.message, /tabletime\.yaml:4: tables\.include\.1: is not database\.table/);
        assert.match(e.message, /tabletime\.yaml:8: http: unknown 'tokn_file'/);
        // The password in the file is not repeated in the error.
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      },
    );
  });

  it('broken YAML says where', () => {
    assert.throws(
      () => parseConfig('tables:\n  include: [a.b\n', 'x.yaml'),
      /x\.yaml is not valid YAML: x\.yaml:\d+:/,
    );
  });

  it('the example in docs/ is valid', async () => {
    const c = await loadConfig(join(REPO_ROOT, 'docs', 'tabletime.example.yaml'));
    assert.deepEqual(c.tables?.columns?.['shop.customers'], { exclude: ['notes'], hash: ['email', 'phone'] });
  });

  it('flags given on the command line win; the file fills the rest; what is missing is named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tt-config-'));
    try {
      const file = join(dir, 'tabletime.yaml');
      await writeFile(file, 'tables:\n  include: [shop.*]\ndata_dir: /from/file\nstore: postgres://x@h/db\n');
      const merged = await withConfig(
        { config: file, dataDir: '/from/flag', snapshot: true },
        (n) => n === 'dataDir',
        ['tables', 'dataDir'] as never,
      );
      assert.deepEqual(merged, {
        config: file,
        dataDir: '/from/flag',
        tables: 'shop.*',
        store: 'postgres://x@h/db',
        snapshot: true,
      });
      await assert.rejects(
        withConfig({ config: file }, () => false, ['source'] as never),
        /missing --source \(a flag, or the --config file\)/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('on the command line: a bad file is one line, exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tt-config-'));
    try {
      const file = join(dir, 'tabletime.yaml');
      await writeFile(file, THREE_MISTAKES);
      await assert.rejects(
        runTabletime(['capture', '--config', file]),
        (err: { code: number; stderr: string }) => {
          assert.equal(err.code, 2);
          const lines = err.stderr.trim().split('\n');
          assert.equal(lines.length, 1, err.stderr);
          assert.match(lines[0]!, /^tabletime: CONFIG: .*3 problems/);
          assert.doesNotMatch(err.stderr, /hunter2/);
          return true;
        },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('personal data: an excluded column and a hashed one never reach the files or the history in clear', async () => {
    await using db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    await db.query(
      'CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(40), email VARCHAR(80), notes TEXT)',
    );
    await db.query('CREATE TABLE shop.tmp_x (id INT PRIMARY KEY)');
    await db.query(
      "INSERT INTO shop.customers VALUES (1, 'Ana', 'ana@example.com', 'allergic to peanuts'), (2, 'Bia', 'bia@example.com', NULL)",
    );
    const dir = await mkdtemp(join(tmpdir(), 'tt-pii-'));
    const file = join(dir, 'tabletime.yaml');
    await writeFile(
      file,
      `source:\n  url: ${db.url}\ntables:\n  include: [shop.*]\n  exclude: [shop.tmp_*]\n  columns:\n    shop.customers:\n      exclude: [notes]\n      hash: [email]\ndata_dir: ${dir}/data\n`,
    );
    try {
      // Without the key: a setup error before anything is read.
      await assert.rejects(
        runTabletime(['capture', '--config', file]),
        (err: { code: number; stderr: string }) => {
          assert.equal(err.code, 2);
          assert.match(err.stderr, /HASH_KEY: .*TABLETIME_HASH_KEY/);
          return true;
        },
      );
      const capture = spawnTabletime(['capture', '--config', file], {
        TABLETIME_HASH_KEY: 'a-test-key-of-enough-length',
      });
      let stderr = '';
      capture.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      try {
        await waitForCheckpoint(join(dir, 'data'), await masterPosition(db), 30_000);
        await db.query("UPDATE shop.customers SET notes = 'vip', name = 'Ana M.' WHERE id = 1");
        await db.query(
          "INSERT INTO shop.customers VALUES (3, 'Caio', 'ana@example.com', 'same e-mail as 1')",
        );
        await db.query('INSERT INTO shop.tmp_x VALUES (1)');
        await waitForCheckpoint(join(dir, 'data'), await masterPosition(db), 30_000);
      } finally {
        capture.kill('SIGTERM');
        await new Promise((r) => capture.once('exit', r));
      }
      assert.doesNotMatch(stderr, /example\.com|peanuts/);
      // Nothing in clear anywhere in the data dir.
      const all = (await readdir(join(dir, 'data'), { recursive: true, withFileTypes: true })).filter((e) =>
        e.isFile(),
      );
      for (const e of all) {
        const text = await readFile(join(e.parentPath, e.name), 'latin1');
        assert.doesNotMatch(text, /example\.com|peanuts|vip|same e-mail/, e.name);
        assert.doesNotMatch(text, /tmp_x/, `an excluded table reached ${e.name}`);
      }
      await using store = await DuckdbStore.open(join(dir, 'h.duckdb'));
      await applyBucket({ store, bucketDir: join(dir, 'data', 'bucket'), deadLetterDir: join(dir, 'dl') });
      const schema = await store.schemaOf('shop', 'customers');
      assert.deepEqual(
        schema?.columns.map((c) => `${c.name} ${c.sqlType}`),
        ['id int', 'name varchar(40)', 'email char(64)'],
      );
      const rows = await store.asOf('shop', 'customers', null);
      assert.deepEqual(
        rows.map((r) => [r.id, r.name]),
        [
          [1, 'Ana M.'],
          [2, 'Bia'],
          [3, 'Caio'],
        ],
      );
      const hashes = rows.map((r) => String(r.email));
      assert.ok(
        hashes.every((h) => /^[0-9a-f]{64}$/.test(h)),
        hashes.join(' '),
      );
      assert.equal(hashes[0], hashes[2], 'equal e-mails, equal hashes');
      assert.notEqual(hashes[0], hashes[1]);
      assert.equal(await store.schemaOf('shop', 'tmp_x'), null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
