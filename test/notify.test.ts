/** Capture announces every durable file on NATS JetStream, once per file (message id = object). */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { bucketDirOf, runCapture } from '../src/capture/index.ts';
import { type FileNotification, NatsNotifier, notificationOf, parseNatsUrl } from '../src/notify/index.ts';
import { listChangeFiles, waitForCheckpoint } from './support/bucket.ts';
import { masterPosition } from './support/capture.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { startTestNats, type TestNats } from './support/nats.ts';

describe('notifications', () => {
  let db: TestMariadb;
  let nats: TestNats;
  let dir: string;
  before(async () => {
    [db, nats] = await Promise.all([startTestMariadb(), startTestNats()]);
    dir = await mkdtemp(join(tmpdir(), 'tabletime-notify-'));
  });
  after(async () => {
    await Promise.all([db?.stop(), nats?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('one JetStream message per change file, and a repeated notification is dropped', async () => {
    await db.query('CREATE DATABASE shop');
    await db.query('CREATE TABLE shop.n (id INT PRIMARY KEY, v INT)');
    const target = parseNatsUrl(`${nats.url}/tabletime.files`);
    await using notifier = await NatsNotifier.open(target);
    const bucket = bucketDirOf(dir);
    const controller = new AbortController();
    const running = runCapture({
      source: db.url,
      tables: 'shop.n',
      dataDir: dir,
      flushIntervalMs: 20,
      logger: pino({ level: 'silent' }),
      signal: controller.signal,
      onFiles: (files) => notifier.publish(files.map((f) => notificationOf(bucket, f))),
    });
    await waitForCheckpoint(dir, { logFile: '', logPosition: 0 });
    for (let i = 1; i <= 5; i++) {
      await db.query('INSERT INTO shop.n VALUES (?, ?)', [i, i]);
      await waitForCheckpoint(dir, await masterPosition(db)); // one flush, one file, each time
    }
    controller.abort();
    await running;

    const files = (await listChangeFiles(bucket)).map((p) => relative(bucket, p).split(sep).join('/'));
    assert.equal(files.length, 5);
    const nc = await connect({ servers: target.servers });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(target.stream);
      assert.equal(info.state.messages, 5);
      const got: FileNotification[] = [];
      for (let seq = 1; seq <= 5; seq++)
        got.push((await jsm.streams.getMessage(target.stream, { seq }))!.json<FileNotification>());
      assert.deepEqual(got.map((n) => n.name).sort(), files.sort());
      assert.ok(
        got.every(
          (n) =>
            n.bucket === bucket && n.table === 'n' && n.events === 1 && /^[0-9a-f]{40}$/.test(n.schema_key),
        ),
      );
      // A crash between notifying and the checkpoint re-sends: JetStream keeps one per file.
      await notifier.publish([got[0]!]);
      assert.equal((await jsm.streams.info(target.stream)).state.messages, 5);
    } finally {
      await nc.close();
    }
  });
});
