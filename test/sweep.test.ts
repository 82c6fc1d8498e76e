/**
 * An apply worker's sweep takes only files that have been in the bucket for a whole sweep
 * interval: newer files belong to their notifications, so N workers starting on a backlog share
 * it instead of each applying all of it.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { applyBucket } from '../src/apply/index.ts';
import { DuckdbStore } from '../src/store/index.ts';
import { REPO_ROOT } from './support/paths.ts';

describe('sweeps', () => {
  it('a sweep with a settle time leaves new files alone and takes them once they are old enough', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tt-sweep-'));
    try {
      const bucket = join(dir, 'bucket');
      await mkdir(join(bucket, 'shop'), { recursive: true });
      const fixtures = join(REPO_ROOT, 'test', 'fixtures', 'datastream-json');
      const a = join(bucket, 'shop', 'a.jsonl');
      const b = join(bucket, 'shop', 'b.jsonl');
      await copyFile(join(fixtures, 'string-timestamps.jsonl'), a);
      await copyFile(join(fixtures, 'gtid-binlog-names.jsonl'), b);
      await using store = await DuckdbStore.open(join(dir, 'h.duckdb'));
      const options = { store, bucketDir: bucket, deadLetterDir: join(dir, 'dl') };

      assert.equal((await applyBucket(options, 60_000)).files, 0, 'both files are new');
      const old = new Date(Date.now() - 120_000);
      await utimes(a, old, old);
      const first = await applyBucket(options, 60_000);
      assert.equal(first.files, 1, 'only the settled file');
      assert.deepEqual([...(await store.appliedAmong(['shop/a.jsonl', 'shop/b.jsonl']))], ['shop/a.jsonl']);
      // Without a settle time (apply's own start, not a worker's sweep): everything.
      assert.equal((await applyBucket(options)).files, 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
