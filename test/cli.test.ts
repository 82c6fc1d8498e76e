/** The `tabletime` command as a user runs it (through the sources, so no build is needed). */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTabletime } from './support/cli.ts';
import { startTestMariadb } from './support/mariadb.ts';
import { DATASTREAM_FIXTURES } from './support/paths.ts';

const cli = (...args: string[]) => runTabletime(args);

describe('tabletime CLI', () => {
  it('--help lists the commands that exist', async () => {
    const { stdout } = await cli('--help');
    for (const command of ['demo', 'dev-mariadb', 'check', 'capture', 'inspect'])
      assert.match(stdout, new RegExp(`^  ${command}\\b`, 'm'));
  });

  it('inspect prints a Datastream file as JSON lines with version ids', async () => {
    const { stdout } = await cli(
      'inspect',
      join(DATASTREAM_FIXTURES, 'SeparateShadowTableDatabaseIT__my_table-simpleTest-pk-update.avro'),
    );
    const events = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    assert.deepEqual(
      events.map((e) => [e.changeType, e.payload.id]),
      [
        ['UPDATE-DELETE', 1],
        ['UPDATE-INSERT', 10],
      ],
    );
    assert.match(events[0]!.version_id as string, /^[0-9a-f]{32}$/);
  });

  it('demo runs the story on a throw-away MariaDB and prints the captured trail', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tabletime-demo-'));
    try {
      const { stdout } = await cli('demo', '--data-dir', dir);
      const trail = stdout
        .split('\n')
        .filter((l) => /^\s+\d{4}-/.test(l))
        .map((l) => l.trim().split(/\s+/).slice(1, 4).join(' '));
      assert.deepEqual(trail, [
        'INSERT id=1001 amount=250.00',
        'UPDATE-INSERT id=1001 amount=225.00',
        'UPDATE-INSERT id=1001 amount=225.00',
        'UPDATE-DELETE id=1001 amount=225.00',
        'UPDATE-INSERT id=5001 amount=225.00',
        'DELETE id=5001 amount=225.00',
      ]);
      assert.match(stdout, /version\(s\)/);
      assert.match(
        stdout,
        /just before the delete:\n {3}id=1002 amount=99\.90 status=new\n {3}id=5001 amount=225\.00 status=shipped\n {3}and now:\n {3}id=1002 amount=99\.90 status=new\n/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('demo --source works in a database of its own, and will not reuse one that exists', async () => {
    await using db = await startTestMariadb();
    const dir = await mkdtemp(join(tmpdir(), 'tabletime-demo-src-'));
    try {
      const { stdout } = await cli('demo', '--source', db.url, '--data-dir', dir);
      assert.match(stdout, /in a new database `tabletime_demo`/);
      assert.match(stdout, /and now:\n {3}id=1002 amount=99\.90 status=new\n/);
      await assert.rejects(
        cli('demo', '--source', db.url, '--data-dir', dir),
        (err: { code: number; stderr: string }) => {
          assert.equal(err.code, 2);
          assert.match(err.stderr, /^tabletime: DEMO_EXISTS: the database `tabletime_demo` exists already/);
          return true;
        },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an unknown command is a usage error (exit 2), with help', async () => {
    await assert.rejects(cli('bogus'), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /unknown command 'bogus'/);
      return true;
    });
  });
});
