/**
 * The Cloud path of apply, as far as it runs without Google: capture (real MariaDB) publishes its
 * files to a bucket through the official Cloud Storage client (against a local stand-in of its
 * JSON API), the bucket's notifications arrive as Pub/Sub messages (OBJECT_FINALIZE, with the
 * attributes Cloud Storage sets), and an apply worker downloads and applies them into DuckDB. A
 * message is acknowledged only after its file is committed; a failed apply hands it back.
 * What this does not run: the Pub/Sub wire protocol and Google's servers (docs/deploy-gcp.md).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Storage } from '@google-cloud/storage';
import { workOn } from '../src/apply/worker.ts';
import { BucketUploader } from '../src/bucket/index.ts';
import { GcsBucket } from '../src/bucket/gcs-bucket.ts';
import { ConfigError, TransientError } from '../src/core/index.ts';
import {
  changeFileOfNotification,
  type MessageLike,
  parsePubSubUrl,
  PubSubSource,
} from '../src/notify/pubsub-source.ts';
import { DuckdbStore } from '../src/store/index.ts';
import { startCapture } from './support/capture.ts';
import { startFakeGcs } from './support/fake-gcs.ts';
import { startTestMariadb } from './support/mariadb.ts';

/** A subscription that this test feeds, shaped like the client's (an EventEmitter with close). */
class TestSubscription extends EventEmitter {
  closed = false;
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** A message as Cloud Storage's notification sends it; records what the worker did with it. */
function gcsMessage(
  bucket: string,
  object: string,
  log: string[],
  eventType = 'OBJECT_FINALIZE',
  size = 1000,
): MessageLike {
  return {
    id: `${object}#${log.length}`,
    // The JSON_API_V1 payload: the object's resource (its size is a decimal string).
    data: Buffer.from(JSON.stringify({ kind: 'storage#object', bucket, name: object, size: String(size) })),
    attributes: { eventType, bucketId: bucket, objectId: object, payloadFormat: 'JSON_API_V1' },
    ackWithResponse: () => {
      log.push(`ack ${object}`);
      return Promise.resolve('SUCCESS' as never);
    },
    nack: () => {
      log.push(`nack ${object}`);
    },
  };
}

describe('Pub/Sub notifications', () => {
  it('parses pubsub:// URLs and names the change file of a bucket notification', () => {
    assert.deepEqual(parsePubSubUrl('pubsub://my-project/tabletime-apply'), {
      project: 'my-project',
      subscription: 'tabletime-apply',
    });
    assert.throws(() => parsePubSubUrl('pubsub://my-project'), ConfigError);
    const attrs = (objectId: string, eventType = 'OBJECT_FINALIZE', bucketId = 'b') => ({
      eventType,
      bucketId,
      objectId,
    });
    assert.equal(changeFileOfNotification(attrs('cdc/shop/t/f.jsonl'), 'cdc/', 'b'), 'shop/t/f.jsonl');
    assert.equal(changeFileOfNotification(attrs('cdc/_tabletime/schemas/k.json'), 'cdc/', 'b'), null);
    assert.equal(changeFileOfNotification(attrs('other/shop/t/f.jsonl'), 'cdc/', 'b'), null);
    assert.equal(changeFileOfNotification(attrs('cdc/shop/t/f.jsonl', 'OBJECT_DELETE'), 'cdc/', 'b'), null);
    assert.equal(
      changeFileOfNotification(attrs('cdc/shop/t/f.jsonl', 'OBJECT_FINALIZE', 'x'), 'cdc/', 'b'),
      null,
    );
  });

  it('hands out what arrived, up to the batch size; waits a bounded time; surfaces a refused subscription', async () => {
    const sub = new TestSubscription();
    const source = new PubSubSource(sub, { bucketPrefix: '' });
    const log: string[] = [];
    const t0 = Date.now();
    assert.deepEqual(await source.next(10, 100, 1e9), []);
    assert.ok(Date.now() - t0 >= 90, 'waited for a message');
    const later = source.next(10, 5_000, 1e9);
    setTimeout(() => sub.emit('message', gcsMessage('b', 'a.jsonl', log)), 20);
    assert.deepEqual(
      (await later).map((d) => d.name),
      ['a.jsonl'],
    );
    for (const n of ['b', 'c', 'd']) sub.emit('message', gcsMessage('b', `${n}.jsonl`, log));
    assert.deepEqual(
      (await source.next(2, 100, 1e9)).map((d) => d.name),
      ['b.jsonl', 'c.jsonl'],
    );
    // Large files: a batch stops once it holds the byte budget (8 MiB here), the rest waits.
    for (const n of ['e', 'f', 'g'])
      sub.emit('message', gcsMessage('b', `${n}.jsonl`, log, 'OBJECT_FINALIZE', 5 << 20));
    assert.deepEqual(
      (await source.next(10, 100, 8 << 20)).map((d) => [d.name, d.bytes]),
      [
        ['d.jsonl', 1000],
        ['e.jsonl', 5 << 20],
        ['f.jsonl', 5 << 20],
      ],
    );
    assert.deepEqual(
      (await source.next(10, 100, 8 << 20)).map((d) => d.name),
      ['g.jsonl'],
    );
    sub.emit('message', gcsMessage('b', 'h.jsonl', log));
    sub.emit('error', Object.assign(new Error('5 NOT_FOUND: Resource not found'), { code: 5 }));
    await assert.rejects(
      source.next(2, 100, 1e9),
      (e: unknown) => e instanceof ConfigError && /roles\/pubsub/.test(e.message),
    );
    // Closing hands back what was never given out.
    await source.close();
    assert.deepEqual(log, ['nack h.jsonl']);
    assert.ok(sub.closed);
  });

  it('capture -> Cloud Storage -> bucket notifications -> worker -> DuckDB; ack only after commit', async () => {
    await using db = await startTestMariadb();
    await using gcs = await startFakeGcs(50);
    const root = await mkdtemp(join(tmpdir(), 'tt-pubsub-'));
    try {
      await db.query('CREATE DATABASE shop');
      await db.query(
        'CREATE TABLE shop.orders (id INT PRIMARY KEY, status VARCHAR(20), total DECIMAL(10,2))',
      );
      await db.query("INSERT INTO shop.orders VALUES (1,'new',10.00),(2,'new',20.00)");
      gcs.buckets.set('tt-cdc', new Map());
      const storage = new Storage({
        apiEndpoint: gcs.endpoint,
        projectId: 't',
        retryOptions: { autoRetry: false },
      });
      const bucket = new GcsBucket('tt-cdc', 'mysql/', storage);

      // Capture writes its files locally, for now.
      const captured = join(root, 'capture');
      {
        await using capture = await startCapture(db, 'shop.*', captured);
        await db.query("UPDATE shop.orders SET status='paid' WHERE id=1");
        await db.query('DELETE FROM shop.orders WHERE id=2');
        await capture.catchUp();
      }

      // The worker: its own data dir, the bucket, and the subscription. Store fails once first.
      const sub = new TestSubscription();
      const source = new PubSubSource(sub, { bucketPrefix: 'mysql/', bucket: 'tt-cdc' });
      const log: string[] = [];
      await using store = await DuckdbStore.open(join(root, 'worker.duckdb'));
      const controller = new AbortController();
      let failOnce = false;
      const restarting = () => {
        failOnce = false;
        return Promise.reject(new TransientError('STORE_UNREACHABLE', 'store restarting'));
      };
      // Both write paths: files the store reads itself, and files read in JavaScript.
      const writes: Partial<DuckdbStore> = {
        applyFiles: (files) => (failOnce ? restarting() : store.applyFiles(files)),
        applyChangeFiles: (files, schemaOf) =>
          failOnce ? restarting() : store.applyChangeFiles(files, schemaOf),
      };
      // The real store, whose first commit fails as a restarting database's would.
      const failing = new Proxy(store, {
        get(target, prop) {
          if (prop === 'applyFiles' || prop === 'applyChangeFiles') return writes[prop];
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const worker = workOn(source, {
        store: failing,
        remote: bucket,
        bucketDir: join(root, 'worker', 'bucket'),
        deadLetterDir: join(root, 'worker', 'dead-letters'),
        notifications: 'pubsub://t/s',
        signal: controller.signal,
        sweepMs: 3_600_000, // no sweep: the notifications alone must do it
      });
      // The worker finds an empty bucket at its start (two list requests: files, metadata).
      while (gcs.requests.filter((r) => r === 'GET /storage/v1/b/tt-cdc/o').length < 2)
        await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      // Now capture publishes to the bucket (what `capture --bucket gs://…` does), and Cloud
      // Storage notifies every object, metadata included. The store's next commit fails.
      await new BucketUploader(join(captured, 'bucket'), bucket).syncUp();
      const objects = [...gcs.buckets.get('tt-cdc')!.keys()];
      const changeFiles = objects.filter((o) => !o.startsWith('mysql/_tabletime/'));
      assert.ok(changeFiles.length >= 2, `change files in the bucket: ${objects.join(', ')}`);
      failOnce = true;
      for (const o of objects) sub.emit('message', gcsMessage('tt-cdc', o, log));
      const deadline = Date.now() + 20_000;
      while (log.filter((l) => l.startsWith('ack mysql/shop')).length < changeFiles.length) {
        if (Date.now() > deadline) throw new Error(`not all acknowledged: ${log.join(', ')}`);
        // A nacked message comes back, as Pub/Sub redelivers it.
        const nacked = log.filter((l) => l.startsWith('nack ')).length;
        const redelivered = log.filter((l) => l.startsWith('redeliver ')).length;
        for (const l of log.filter((x) => x.startsWith('nack ')).slice(redelivered, nacked)) {
          log.push(`redeliver ${l.slice(5)}`);
          sub.emit('message', gcsMessage('tt-cdc', l.slice(5), log));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      controller.abort();
      await worker;

      // The first attempt failed: its files were handed back, not acknowledged, and applied later.
      assert.ok(
        log.some((l) => l.startsWith('nack mysql/shop')),
        log.join(', '),
      );
      const firstAck = log.findIndex((l) => l.startsWith('ack mysql/shop'));
      const firstNack = log.findIndex((l) => l.startsWith('nack mysql/shop'));
      assert.ok(firstNack < firstAck, 'no file acknowledged before the failed attempt was handed back');
      // Metadata notifications were acknowledged and ignored.
      assert.ok(log.includes(`ack ${objects.find((o) => o.includes('/schemas/'))!}`));
      const history = await store.history('shop', 'orders', { id: 1 });
      assert.deepEqual(
        history.map((v) => [v.op, v.row?.status]),
        [
          ['INSERT', 'new'],
          ['UPDATE-INSERT', 'paid'],
        ],
      );
      const gone = await store.history('shop', 'orders', { id: 2 });
      assert.deepEqual(
        gone.map((v) => v.op),
        ['INSERT', 'DELETE'],
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
