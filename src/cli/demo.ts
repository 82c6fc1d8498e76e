import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { pino } from 'pino';
import { bucketDirOf, CheckpointStore, runCapture } from '../capture/index.ts';
import { startDevMariadb } from '../devdb/index.ts';
import { applyBucket } from '../apply/index.ts';
import { DuckdbStore, duckdbPathOf } from '../store/index.ts';

/**
 * `tabletime demo`: a throw-away MariaDB, a small shop, a short story of inserts, updates, a key
 * change and a physical delete, captured into change files, applied into the DuckDB history
 * store, and one order's history and the current table queried back. (`tabletime run`, which does
 * capture and apply together, is not built yet: the demo runs them one after the other.)
 */
export async function demo(opts: {
  keep: boolean;
  dataDir: string;
  out: NodeJS.WritableStream;
}): Promise<number> {
  const say = (line = '') => opts.out.write(`${line}\n`);
  const dataDir = resolve(opts.dataDir);
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  say('tabletime demo');
  say('1. starting a throw-away MariaDB with its binary log on (ROW, FULL images, time zone UTC+13)…');
  const db = await startDevMariadb(opts.keep ? { dir: join(dataDir, 'mariadb') } : {});
  const controller = new AbortController();
  let capturing: Promise<void> | undefined;
  try {
    const conn = await createConnection(db.url);
    try {
      say(`   ${db.url}`);
      say('2. creating shop.customers and shop.orders…');
      await conn.query('CREATE DATABASE shop');
      await conn.query(
        'CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(80))',
      );
      await conn.query(`CREATE TABLE shop.orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2),
        status ENUM('new','paid','shipped'), placed_at DATETIME(6), note JSON)`);
      await conn.query(
        "INSERT INTO shop.customers VALUES (1, 'Ana Souza', 'ana@example.com'), (2, 'Bruno Lima', 'bruno@example.com')",
      );

      say(`3. starting capture into ${bucketDirOf(dataDir)} (snapshot first, then the binlog)…`);
      capturing = runCapture({
        source: db.url,
        tables: 'shop.*',
        dataDir,
        flushIntervalMs: 100,
        logger: pino({ level: 'silent' }),
        signal: controller.signal,
      });
      const caughtUp = async () => {
        const [[status]] = (await conn.query('SHOW MASTER STATUS')) as unknown as [[{ Position: string }]];
        const target = Number(status.Position);
        const checkpoint = new CheckpointStore(join(dataDir, 'capture'));
        for (let i = 0; i < 300; i++) {
          const cp = await checkpoint.load();
          if (cp && cp.logPosition >= target) return;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error('capture did not catch up in 15 s');
      };
      await caughtUp();

      say('4. the story: an order is placed, paid, shipped, renumbered, and finally deleted…');
      const story: [string, string][] = [
        [
          'order 1001 placed',
          "INSERT INTO shop.orders VALUES (1001, 1, 250.00, 'new', '2026-11-24 10:15:00.000000', '{\"gift\": false}')",
        ],
        [
          'order 1002 placed',
          "INSERT INTO shop.orders VALUES (1002, 2, 99.90, 'new', '2026-11-24 10:20:00.000000', NULL)",
        ],
        [
          'order 1001 paid, with a discount',
          "UPDATE shop.orders SET status = 'paid', amount = 225.00 WHERE id = 1001",
        ],
        [
          'order 1001 shipped as a gift',
          "UPDATE shop.orders SET status = 'shipped', note = '{\"gift\": true}' WHERE id = 1001",
        ],
        ['order 1001 renumbered to 5001 (a key change)', 'UPDATE shop.orders SET id = 5001 WHERE id = 1001'],
        ["Ana's e-mail changed", "UPDATE shop.customers SET email = 'ana.souza@example.com' WHERE id = 1"],
        ['order 5001 physically deleted', 'DELETE FROM shop.orders WHERE id = 5001'],
      ];
      for (const [what, sql] of story) {
        await conn.query(sql);
        say(`   - ${what}`);
      }
      await caughtUp();
    } finally {
      await conn.end();
    }
    // Stop capture and let it finish its last flush (and surface any error) before reading.
    controller.abort();
    await capturing;

    const bucket = bucketDirOf(dataDir);
    say();
    say(`5. applying the change files into the history store ${duckdbPathOf(dataDir)}…`);
    {
      await using store = await DuckdbStore.open(duckdbPathOf(dataDir));
      const applied = await applyBucket({
        store,
        bucketDir: bucket,
        deadLetterDir: join(dataDir, 'dead-letters'),
      });
      say(`   ${applied.files} file(s), ${applied.inserted} version(s)`);
      say();
      say('6. the history of order 1001, renumbered 5001, then deleted (a delete keeps what the row held):');
      say();
      const versions = [
        ...(await store.history('shop', 'orders', { id: 1001 })),
        ...(await store.history('shop', 'orders', { id: 5001 })),
      ].sort((a, b) => (a.position < b.position ? -1 : 1));
      for (const v of versions) {
        const p = v.row;
        say(
          `   ${v.commitTimestamp.padEnd(28)} ${v.op.padEnd(13)} id=${String(p.id)} amount=${String(p.amount)} status=${String(p.status)} note=${String(p.note)}`,
        );
      }
      say();
      say('7. the orders table now:');
      for (const r of await store.asOf('shop', 'orders', null))
        say(`   id=${String(r.id)} amount=${String(r.amount)} status=${String(r.status)}`);
    }
    say();
    say('Ask more:');
    say(`   npx tabletime query history shop.orders --key id=1001 --data-dir ${opts.dataDir}`);
    say(`   npx tabletime query as-of shop.orders --at <ISO time> --data-dir ${opts.dataDir}`);
    say(
      `   npx tabletime query diff shop.customers --from <ISO time> --to <ISO time> --data-dir ${opts.dataDir}`,
    );
    say(`   npx tabletime inspect ${join(bucket, 'shop_orders')}/*/*/*/*/*/*.jsonl   # the raw change files`);
    say('Your own server: npx tabletime check --source URL --tables db.* ; then capture and apply (docs/).');
    if (opts.keep) say(`The MariaDB keeps running: npx tabletime dev-mariadb stop --dir ${db.dir}`);
  } finally {
    controller.abort();
    if (!opts.keep) await db.stop();
  }
  return 0;
}
