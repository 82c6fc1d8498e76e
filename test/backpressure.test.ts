/** The binlog stream pauses the socket when its consumer falls behind: memory stays bounded. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { streamBinlog } from '../src/capture/binlog/index.ts';
import { masterPosition } from './support/capture.ts';
import { startTestMariadb } from './support/mariadb.ts';

describe('backpressure', () => {
  it('a slow consumer of one large transaction (300 rows of 100 kB) keeps about the limit queued', async () => {
    await using db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    await db.query('CREATE TABLE shop.big (id INT PRIMARY KEY, payload LONGTEXT)');
    const start = await masterPosition(db);
    // 300 rows of 100 kB in one transaction: one rows event per few rows, ~30 MB of binlog.
    const conn = await db.connect();
    await conn.query('BEGIN');
    for (let i = 0; i < 300; i += 10) {
      const rows = Array.from({ length: 10 }, (_, j) => [i + j, 'x'.repeat(100_000)]);
      await conn.query('INSERT INTO shop.big VALUES ?', [rows]);
    }
    await conn.query('COMMIT');
    await conn.end();
    const end = await masterPosition(db);

    const highWaterBytes = 1024 * 1024;
    const stats = { maxQueuedBytes: 0, pauses: 0 };
    const controller = new AbortController();
    let rows = 0;
    for await (const { event } of streamBinlog({
      url: db.url,
      serverId: 4242,
      ...start,
      highWaterBytes,
      stats,
      signal: controller.signal,
    })) {
      if (event.kind === 'rows') {
        rows += event.rows.length;
        await new Promise((r) => setTimeout(r, 5)); // a consumer slower than the network
      }
      if (event.header.nextPosition >= end.logPosition) controller.abort();
    }
    assert.equal(rows, 300);
    assert.ok(stats.pauses > 0, 'the socket was paused');
    // Events that were already in flight when the pause took effect may still arrive: one socket
    // read's worth (mysql2 keeps what it had parsed). Far below the 30 MB an unbounded queue holds.
    assert.ok(
      stats.maxQueuedBytes < highWaterBytes + 4 * 1024 * 1024,
      `queued at most ${stats.maxQueuedBytes} bytes`,
    );
    console.log(
      `# paused ${stats.pauses} times; at most ${(stats.maxQueuedBytes / 1024 / 1024).toFixed(2)} MiB queued for a ${((end.logPosition - start.logPosition) / 1024 / 1024).toFixed(1)} MiB transaction`,
    );
  });
});
