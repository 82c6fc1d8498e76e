/** `tabletime check`: every problem at once, each with its fix; exit 0 only when capture can run. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectSource, preflight, tableFilter } from '../src/capture/index.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { runTabletime } from './support/cli.ts';

const check = (...args: string[]) => runTabletime(['check', ...args]);

describe('preflight', () => {
  let db: TestMariadb;
  before(async () => {
    db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    await db.query('CREATE TABLE shop.ok (id INT PRIMARY KEY)');
  });
  after(async () => {
    await db?.stop();
  });

  it('passes on a source set up for capture (exit 0)', async () => {
    const { stdout } = await check('--source', db.url, '--tables', 'shop.*');
    assert.match(stdout, /capture can run\./);
    assert.doesNotMatch(stdout, /FAIL/);
  });

  it('warns about more privilege than needed, and refuses it with --strict-privileges', async () => {
    // root holds everything: a warning by default, an error when asked.
    const loose = await check('--source', db.url, '--tables', 'shop.ok');
    assert.match(
      loose.stdout,
      /WARN\s+privileges: the user has more privilege than capture needs \(ALL PRIVILEGES/,
    );
    assert.match(loose.stdout, /capture can run\./);
    await assert.rejects(
      check('--source', db.url, '--tables', 'shop.ok', '--strict-privileges'),
      (err: { code: number; stdout: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stdout, /FAIL\s+privileges: the user has more privilege than capture needs/);
        return true;
      },
    );
    // A user with exactly what capture needs passes the strict check.
    await db.query("CREATE USER 'least'@'127.0.0.1' IDENTIFIED BY 'least-pw-31'");
    await db.query("GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'least'@'127.0.0.1'");
    await db.query("GRANT SELECT ON shop.ok TO 'least'@'127.0.0.1'");
    const least = db.url.replace('root@', 'least:least-pw-31@');
    const strict = await check('--source', least, '--tables', 'shop.ok', '--strict-privileges');
    assert.doesNotMatch(strict.stdout, /WARN|FAIL/);
    assert.match(strict.stdout, /capture can run\./);
  });

  it('reports every problem at once, each with its fix, and exits 1', async () => {
    await db.query('CREATE TABLE shop.nokey (a INT, b INT)');
    await db.query('CREATE TABLE shop.versioned (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING');
    await db.query('CREATE TABLE shop.clash (id INT PRIMARY KEY, _TT_key INT)');
    await db.query("CREATE USER 'weak'@'127.0.0.1' IDENTIFIED BY 'not-in-any-output-9f2c'");
    await db.query("GRANT SELECT ON shop.ok TO 'weak'@'127.0.0.1'");
    const settings = [
      "binlog_format = 'STATEMENT'",
      "binlog_row_image = 'MINIMAL'",
      "binlog_row_metadata = 'MINIMAL'",
      'log_bin_compress = ON',
    ];
    for (const s of settings) await db.query(`SET GLOBAL ${s}`);
    try {
      const weakUrl = db.url.replace('root@', 'weak:not-in-any-output-9f2c@');
      const conn = await connectSource(weakUrl);
      let report;
      try {
        report = await preflight(conn, tableFilter('shop.*'));
      } finally {
        await conn.end();
      }
      const errors = report.findings.filter((f) => f.severity === 'error');
      assert.deepEqual(
        errors.map((f) => f.check).sort(),
        [
          'binlog_format',
          'binlog_row_image',
          'binlog_row_metadata',
          'log_bin_compress',
          'privileges',
          'privileges',
        ].sort(),
        JSON.stringify(report.findings, null, 1),
      );
      for (const f of errors) assert.ok(f.fix.length > 0, `${f.check} has a fix`);
      assert.ok(errors.some((f) => /REPLICATION SLAVE/.test(f.fix)));
      assert.ok(errors.some((f) => /BINLOG MONITOR/.test(f.fix)));
      assert.match(errors.find((f) => f.check === 'binlog_row_metadata')!.message, /before an ALTER TABLE/);
      assert.equal(report.ok, false);
      // The weak user sees only shop.ok; root sees the others: keyless warned, versioned refused.
      const rootConn = await connectSource(db.url);
      try {
        const rootReport = await preflight(rootConn, tableFilter('shop.*'));
        assert.ok(
          rootReport.findings.some(
            (f) => f.severity === 'warning' && f.check === 'primary key' && f.message.includes('shop.nokey'),
          ),
        );
        assert.ok(
          rootReport.findings.some(
            (f) =>
              f.severity === 'error' &&
              f.check === 'system versioning' &&
              f.message.includes('shop.versioned'),
          ),
        );
        assert.ok(
          rootReport.findings.some(
            (f) =>
              f.severity === 'warning' &&
              f.check === 'column names' &&
              f.message.startsWith('shop.clash has a column named _TT_key:') &&
              f.fix.includes('--exclude-tables shop.clash'),
          ),
          JSON.stringify(rootReport.findings, null, 1),
        );
      } finally {
        await rootConn.end();
      }
      // The CLI: exit 1, every problem printed with its fix, and never the password.
      await assert.rejects(
        check('--source', weakUrl, '--tables', 'shop.*'),
        (err: { code: number; stdout: string; stderr: string }) => {
          assert.equal(err.code, 1);
          assert.equal((err.stdout.match(/FAIL/g) ?? []).length, 6);
          assert.equal((err.stdout.match(/fix:/g) ?? []).length, 6);
          assert.doesNotMatch(err.stdout + err.stderr, /not-in-any-output-9f2c/);
          assert.match(err.stdout, /weak:\*\*\*@/);
          return true;
        },
      );
    } finally {
      for (const s of [
        "binlog_format = 'ROW'",
        "binlog_row_image = 'FULL'",
        "binlog_row_metadata = 'FULL'",
        'log_bin_compress = OFF',
      ]) {
        await db.query(`SET GLOBAL ${s}`);
      }
      await db.query('DROP TABLE shop.versioned');
      await db.query('DROP TABLE shop.clash');
    }
  });

  it('a server with its binary log off fails the check', async () => {
    await using off = await startTestMariadb({ serverArgs: ['--skip-log-bin'] });
    await off.query('CREATE DATABASE shop');
    await off.query('CREATE TABLE shop.t (id INT PRIMARY KEY)');
    await assert.rejects(
      check('--source', off.url, '--tables', 'shop.t'),
      (err: { code: number; stdout: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stdout, /FAIL\s+log_bin: the binary log is off/);
        assert.match(err.stdout, /fix: set log_bin=ON/);
        return true;
      },
    );
  });
});
