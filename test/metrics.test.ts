/**
 * `/metrics` of `tabletime run --http`, scraped while a workload runs: the counts move while it
 * writes, and once `wait` says everything is queryable they equal the workload's own count of row
 * changes (snapshot rows included), with no lag and nothing pending.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, runTabletime, spawnRun, untilRunAnswers } from './support/cli.ts';
import { startTestMariadb } from './support/mariadb.ts';

/** `name{labels} value` lines -> value by `name{labels}`. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('metrics', () => {
  it('counts captured and applied changes by table, lag and pending, against the workload', async () => {
    await using db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    await db.query('CREATE TABLE shop.a (id INT PRIMARY KEY, v INT)');
    await db.query('CREATE TABLE shop.b (id INT PRIMARY KEY, v INT)');
    // Snapshot rows: 30 in a.
    for (let i = 1; i <= 30; i++) await db.query('INSERT INTO shop.a VALUES (?, 0)', [i]);
    const dir = await mkdtemp(join(tmpdir(), 'tt-metrics-'));
    const port = await freePort();
    const run = spawnRun(db.url, dir, ['--http', `127.0.0.1:${port}`]);
    try {
      await untilRunAnswers(dir, run.stderr, 100);
      const scrape = async () => {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
        return parse(await res.text());
      };
      const before = await scrape();
      assert.equal(before.get('tabletime_snapshot_rows_total{table="shop.a"}'), 30);
      assert.equal(before.get('tabletime_changes_applied_total{table="shop.a"}'), 30);

      // The workload: 200 changes to a, 120 to b, in small transactions, scraped as it goes.
      let changesA = 30;
      let changesB = 0;
      const seen: number[] = [];
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 25; i++) {
          await db.query('INSERT INTO shop.b VALUES (?, 1)', [round * 100 + i]);
          await db.query('UPDATE shop.a SET v = v + 1 WHERE id = ?', [(i % 30) + 1]);
          await db.query('UPDATE shop.a SET v = v + 1 WHERE id = ?', [((i + 7) % 30) + 1]);
        }
        changesA += 50;
        changesB += 25;
        await db.query('UPDATE shop.b SET v = v + 1 WHERE id >= ? AND id < ?', [
          round * 100,
          round * 100 + 5,
        ]);
        changesB += 5;
        await new Promise((r) => setTimeout(r, 300));
        seen.push((await scrape()).get('tabletime_changes_captured_total{table="shop.a"}') ?? 0);
      }
      // The counts moved while the workload ran.
      assert.ok(
        seen.every((n, i) => i === 0 || n > seen[i - 1]!),
        `captured counts while writing: ${seen.join(', ')}`,
      );
      await runTabletime(['wait', '--data-dir', dir, '--timeout', '30']);
      const m = await scrape();
      assert.equal(m.get('tabletime_changes_captured_total{table="shop.a"}'), changesA);
      assert.equal(m.get('tabletime_changes_applied_total{table="shop.a"}'), changesA);
      assert.equal(m.get('tabletime_changes_captured_total{table="shop.b"}'), changesB);
      assert.equal(m.get('tabletime_changes_applied_total{table="shop.b"}'), changesB);
      assert.equal(m.get('tabletime_lag_changes'), 0);
      assert.equal(m.get('tabletime_files_pending'), 0);
      assert.equal(m.get('tabletime_lag_seconds'), 0);
      assert.equal(m.get('tabletime_dead_letters'), 0);
      assert.ok((m.get('tabletime_apply_batch_seconds_count') ?? 0) >= 1);
      assert.equal(m.get('tabletime_apply_batch_changes_sum'), changesA + changesB);
      assert.ok((m.get('tabletime_process_resident_memory_bytes') ?? 0) > 0);

      // Scrapes ask the source for its position over one kept connection, not one each.
      // (db.query opens a connection of its own for each call: the second count includes it.)
      const connections = async () =>
        Number((await db.query<{ Value: string }>("SHOW GLOBAL STATUS LIKE 'Connections'"))[0]!.Value);
      const opened = await connections();
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 150)); // past the metrics' 100 ms reuse of one read
        await scrape();
      }
      const byScrapes = (await connections()) - opened - 1;
      assert.ok(byScrapes <= 1, `ten scrapes opened ${byScrapes} source connections`);
    } finally {
      await run.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
