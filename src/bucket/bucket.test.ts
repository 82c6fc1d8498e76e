import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { Storage } from '@google-cloud/storage';
import { startFakeGcs } from '../../test/support/fake-gcs.ts';
import { ConfigError, TransientError } from '../core/index.ts';
import { BucketUploader, fetchObjects, listLocalObjects, parseBucketUrl, syncMeta } from './index.ts';
import { FolderBucket } from './folder-bucket.ts';
import { GcsBucket } from './gcs-bucket.ts';

async function put(dir: string, name: string, text: string) {
  const path = join(dir, ...name.split('/'));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

/** What capture leaves in its local bucket folder: finished objects and temporary ones. */
async function captureOutput(dir: string) {
  await put(dir, '_tabletime/schemas/abc.json', '{"schema":1}\n');
  await put(dir, 'shop/orders/tt_1-0001_aa.jsonl', '{"a":1}\n');
  await put(dir, 'shop/orders/tt_1-0002_bb.jsonl.gz', 'gz');
  await put(dir, '_tabletime/ddl/shop_orders/1-0003-truncate.json', '{"t":1}\n');
  await put(dir, '_tabletime/tmp/orders.x.tmp', 'half');
  await put(dir, '_tabletime/staging/shop/orders/tt_0.jsonl', 'staged');
  await put(dir, 'shop/orders/.tt_1-0004.jsonl.tmp', 'half');
}

const gcsIn = (endpoint: string, bucket: string, prefix: string) =>
  new GcsBucket(
    bucket,
    prefix,
    new Storage({ apiEndpoint: endpoint, projectId: 'test', retryOptions: { autoRetry: false } }),
  );

describe('bucket URLs', () => {
  it('parses gs://, file:// and absolute folders, and refuses the rest with a way out', () => {
    assert.deepEqual(parseBucketUrl('gs://my-bucket'), { kind: 'gcs', bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseBucketUrl('gs://my-bucket/cdc/mysql/'), {
      kind: 'gcs',
      bucket: 'my-bucket',
      prefix: 'cdc/mysql/',
    });
    assert.deepEqual(parseBucketUrl('file:///mnt/shared%20x'), { kind: 'folder', dir: '/mnt/shared x' });
    assert.deepEqual(parseBucketUrl('/mnt/shared'), { kind: 'folder', dir: '/mnt/shared' });
    for (const bad of ['gs://Upper', 'gs://', 's3://b', 'relative/dir'])
      assert.throws(
        () => parseBucketUrl(bad),
        (e: unknown) => e instanceof ConfigError && e.code === 'BUCKET',
      );
  });
});

describe('Cloud Storage bucket (official client against a local stand-in of the JSON API)', () => {
  it('lists across pages under the prefix, downloads and uploads whole objects', async () => {
    await using gcs = await startFakeGcs(2);
    const objects = new Map<string, Buffer>();
    for (let i = 0; i < 5; i++) objects.set(`cdc/db/t/f${i}.jsonl`, Buffer.from(`line ${i}\n`));
    objects.set('other/x.jsonl', Buffer.from('not ours'));
    gcs.buckets.set('tt-bucket', objects);
    const bucket = gcsIn(gcs.endpoint, 'tt-bucket', 'cdc/');
    assert.equal(bucket.url, 'gs://tt-bucket/cdc/');

    assert.deepEqual(
      await bucket.list(''),
      [0, 1, 2, 3, 4].map((i) => `db/t/f${i}.jsonl`),
    );
    // Five objects in pages of two: three list requests, all followed.
    assert.equal(gcs.requests.filter((r) => r === 'GET /storage/v1/b/tt-bucket/o').length, 3);

    const dir = await mkdtemp(join(tmpdir(), 'tt-gcs-'));
    try {
      const local = join(dir, 'db', 't', 'f3.jsonl');
      await bucket.download('db/t/f3.jsonl', local);
      assert.equal(await readFile(local, 'utf8'), 'line 3\n');

      const up = join(dir, 'up.jsonl');
      const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
      await writeFile(up, bytes);
      await bucket.upload(up, 'db/t/new.jsonl');
      assert.deepEqual(objects.get('cdc/db/t/new.jsonl'), bytes);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('turns refusals into setup errors that say what to grant, and the rest into transient ones', async () => {
    await using gcs = await startFakeGcs();
    gcs.buckets.set('tt-bucket', new Map());
    const bucket = gcsIn(gcs.endpoint, 'tt-bucket', '');
    gcs.failBucket = { bucket: 'tt-bucket', status: 403 };
    await assert.rejects(
      bucket.list(''),
      (e: unknown) =>
        e instanceof ConfigError && e.code === 'BUCKET_ACCESS' && /roles\/storage/.test(e.message),
    );
    gcs.failBucket = { bucket: 'tt-bucket', status: 503 };
    await assert.rejects(
      bucket.list(''),
      (e: unknown) => e instanceof TransientError && e.code === 'BUCKET_UNREACHABLE',
    );
    gcs.failBucket = undefined;
    await assert.rejects(
      gcsIn(gcs.endpoint, 'no-such-bucket', '').list(''),
      (e: unknown) => e instanceof ConfigError && e.code === 'BUCKET' && /does not exist/.test(e.message),
    );
  });
});

describe('moving files between the local folder and the shared bucket', () => {
  for (const kind of ['folder', 'gcs'] as const) {
    it(`capture uploads schemas, then files (removed locally), then DDL records; apply fetches them (${kind})`, async () => {
      await using gcs = await startFakeGcs(3);
      const root = await mkdtemp(join(tmpdir(), 'tt-sync-'));
      try {
        const local = join(root, 'capture-bucket');
        await captureOutput(local);
        let remote;
        if (kind === 'gcs') {
          gcs.buckets.set('tt', new Map());
          remote = gcsIn(gcs.endpoint, 'tt', 'p/');
        } else {
          await mkdir(join(root, 'shared'));
          remote = new FolderBucket(join(root, 'shared'));
        }
        const uploader = new BucketUploader(local, remote);
        assert.equal(await uploader.syncUp(), 2);
        const expected = [
          '_tabletime/ddl/shop_orders/1-0003-truncate.json',
          '_tabletime/schemas/abc.json',
          'shop/orders/tt_1-0001_aa.jsonl',
          'shop/orders/tt_1-0002_bb.jsonl.gz',
        ];
        assert.deepEqual(await remote.list(''), expected);
        if (kind === 'gcs') {
          // In that order: a reader never sees a file before its schema, nor a TRUNCATE before its files.
          const uploads = gcs.requests.filter((r) => r.startsWith('POST'));
          assert.equal(uploads.length, 4);
          assert.deepEqual(
            [...gcs.buckets.get('tt')!.keys()],
            [
              'p/_tabletime/schemas/abc.json',
              'p/shop/orders/tt_1-0001_aa.jsonl',
              'p/shop/orders/tt_1-0002_bb.jsonl.gz',
              'p/_tabletime/ddl/shop_orders/1-0003-truncate.json',
            ],
          );
        }
        // The change files left the local folder; the shared metadata stays (capture reads it).
        assert.deepEqual(await listLocalObjects(local), [
          '_tabletime/ddl/shop_orders/1-0003-truncate.json',
          '_tabletime/schemas/abc.json',
        ]);
        // Nothing new: nothing uploaded again.
        assert.equal(await uploader.syncUp(), 0);
        if (kind === 'gcs') assert.equal(gcs.requests.filter((r) => r.startsWith('POST')).length, 4);

        // Apply's side: metadata first, then the files it is about to apply.
        const mine = join(root, 'worker-bucket');
        assert.equal(await syncMeta(remote, mine), 2);
        assert.equal(await syncMeta(remote, mine), 0);
        const paths = await fetchObjects(remote, mine, ['shop/orders/tt_1-0001_aa.jsonl']);
        assert.equal(await readFile(paths[0]!, 'utf8'), '{"a":1}\n');
        assert.equal(
          await readFile(join(mine, '_tabletime', 'schemas', 'abc.json'), 'utf8'),
          '{"schema":1}\n',
        );
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });
  }
});

describe('listing a local bucket folder', () => {
  it('a staging folder removed during the listing leaves every finished object in it', async () => {
    // Capture stages a large transaction under _tabletime/ and removes that folder at its commit.
    // A listing that failed whole when a folder vanished under it read as an empty bucket, and
    // apply then took a TRUNCATE as ready with none of the files before it applied.
    const dir = await mkdtemp(join(tmpdir(), 'tt-list-'));
    try {
      await captureOutput(dir);
      const finished = await listLocalObjects(dir);
      assert.equal(finished.length, 4);
      const staging = join(dir, '_tabletime', 'staging-transaction');
      let stop = false;
      let removed = 0;
      const churn = (async () => {
        while (!stop) {
          await put(staging, 'shop_orders/2026/12/01/15/20/tt_1-0005_cc.jsonl', 'staged');
          await rm(staging, { recursive: true, force: true });
          removed++;
        }
      })();
      try {
        for (let i = 0; i < 300; i++) assert.deepEqual(await listLocalObjects(dir), finished, `listing ${i}`);
      } finally {
        stop = true;
        await churn;
      }
      assert.ok(removed > 50, `the staging folder came and went ${removed} times`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
