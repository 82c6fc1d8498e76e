/**
 * The benchmark's source workload and the measurements made through a running `run`, apart from
 * bench.ts so that one of them can be run again alone (freshness alone:
 * docs/experiments/2026-12-01-duckdb-checkpoint-stalls.md).
 */
import type { ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import type { Connection } from 'mysql2/promise';
import { askRunning, streamFromRunning } from '../src/cli/run-socket.ts';
import { sleep } from '../src/core/index.ts';
import { seededRandom } from '../test/support/random.ts';

// ---- the workload ----------------------------------------------------------------------------

export const TABLE = `CREATE TABLE bench.t (
  id BIGINT PRIMARY KEY, amount DECIMAL(12,2), price DECIMAL(18,6), created DATETIME(6),
  updated TIMESTAMP(6) NULL, status VARCHAR(20), name VARCHAR(100), note VARCHAR(255), payload JSON,
  data BLOB, qty INT, ratio DOUBLE)`;

/** The live ids are [lo, hi): inserts at the top, deletes from the bottom, updates anywhere. */
export class BenchWorkload {
  lo = 1;
  hi = 1;
  readonly #random = seededRandom(20261130);
  #int(a: number, b: number) {
    return a + Math.floor(this.#random() * (b - a + 1));
  }
  #row(id: number): unknown[] {
    const i = this.#int(0, 1e6);
    return [
      id,
      `${i % 100000}.${String(i % 100).padStart(2, '0')}`,
      `${i}.${String(i % 1000000).padStart(6, '0')}`,
      `2026-11-${String((i % 28) + 1).padStart(2, '0')} 10:${String(i % 60).padStart(2, '0')}:00.${String(i % 1000000).padStart(6, '0')}`,
      null,
      ['new', 'paid', 'shipped', 'returned'][i % 4],
      `customer ${i}`,
      i % 3 === 0 ? null : `note for order ${id}: ${'x'.repeat(i % 80)}`,
      `{"sku": "S${i}", "n": ${i % 17}, "tags": ["a", "b"]}`,
      Buffer.from([i & 255, (i >> 8) & 255, 7, 9]),
      i % 1000,
      i / 7,
    ];
  }
  async insert(conn: Connection, n: number): Promise<void> {
    const rows = Array.from({ length: n }, () => this.#row(this.hi++));
    await conn.query(
      `INSERT INTO bench.t VALUES ${rows.map(() => '(?,?,?,?,?,?,?,?,?,?,?,?)').join(',')}`,
      rows.flat(),
    );
  }
  /** One transaction of `size` rows; returns the row changes it made. */
  async transaction(conn: Connection, size: number): Promise<number> {
    const r = this.#random();
    const live = this.hi - this.lo;
    if (r < 0.25 || live < size * 2) {
      await this.insert(conn, size);
      return size;
    }
    if (r < 0.85) {
      const from = this.#int(this.lo, this.hi - size);
      const [res] = (await conn.query(
        'UPDATE bench.t SET amount = amount + 1, status = ?, updated = NOW(6), qty = qty + 1 WHERE id >= ? AND id < ?',
        [['paid', 'shipped', 'returned'][this.#int(0, 2)], from, from + size],
      )) as unknown as [{ affectedRows: number }];
      return res.affectedRows;
    }
    const [res] = (await conn.query('DELETE FROM bench.t WHERE id >= ? AND id < ?', [
      this.lo,
      this.lo + size,
    ])) as unknown as [{ affectedRows: number }];
    this.lo += size;
    return res.affectedRows;
  }
  nextSize(): number {
    // Transactions of 1–1,000 rows, most of them small (as applications do), mean about 250.
    const u = this.#random();
    return Math.max(1, Math.min(1000, Math.round(u * u * 1000)));
  }
}

// ---- through a running pipeline ------------------------------------------------------------

/** Until the `run` on `dataDir` answers `wait` with everything queryable (polling every `pollMs`). */
export async function untilQueryable(
  dataDir: string,
  run: { child: ChildProcess; errors: () => string },
  timeoutMs: number,
  pollMs: number,
): Promise<void> {
  for (;;) {
    const w = await askRunning(dataDir, 'wait', { timeoutMs }, timeoutMs + 10_000);
    if (w?.exitCode === 0) return;
    if (run.child.exitCode !== null) throw new Error(`run exited early: ${run.errors()}`);
    await sleep(pollMs);
  }
}

/**
 * Freshness under a steady load of 5,000 row changes/s (100 transactions of 50 a second): for
 * every transaction, the time from its commit until a query through the running pipeline sees it.
 */
export async function freshness(conn: Connection, workload: BenchWorkload, dataDir: string, seconds: number) {
  const committed = new Map<number, number>();
  const latency: number[] = [];
  let stop = false;
  let seen = 0;
  const prober = (async () => {
    while (!stop || seen < committed.size) {
      // The running pipeline's answer, as `tabletime query` reads it (streamed).
      let text = '';
      const out = new Writable({
        write(chunk: Buffer, _encoding, done) {
          text += chunk.toString();
          done();
        },
      });
      const a = await streamFromRunning(
        dataDir,
        'query',
        { what: 'current', table: 'bench.tick', opts: { dataDir, format: 'jsonl' } },
        out,
        10_000,
      ).catch(() => null);
      const line = a ? text.trim().split('\n')[0] : undefined;
      const now = performance.now();
      if (line) {
        const seq = Number((JSON.parse(line) as { seq: number }).seq);
        for (let s = seen + 1; s <= seq; s++) {
          const t = committed.get(s);
          if (t !== undefined) latency.push(now - t);
        }
        seen = Math.max(seen, seq);
      }
      await sleep(10);
    }
  })();
  const t0 = performance.now();
  let seq = 0;
  let rows = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const due = t0 + seq * 10;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    await conn.query('BEGIN');
    rows += await workload.transaction(conn, 49);
    await conn.query('UPDATE bench.tick SET seq = ? WHERE id = 1', [++seq]);
    await conn.query('COMMIT');
    committed.set(seq, performance.now());
    rows++;
  }
  stop = true;
  const deadline = performance.now() + 30_000;
  while (seen < seq && performance.now() < deadline) await sleep(50);
  stop = true;
  await Promise.race([prober, sleep(1000)]);
  latency.sort((a, b) => a - b);
  const pct = (p: number) =>
    latency.length
      ? Math.round(latency[Math.min(latency.length - 1, Math.floor(latency.length * p))]!)
      : null;
  return {
    p50: pct(0.5),
    p99: pct(0.99),
    max: latency.length ? Math.round(latency[latency.length - 1]!) : null,
    samples: latency.length,
    rate: Math.round(rows / seconds),
  };
}
