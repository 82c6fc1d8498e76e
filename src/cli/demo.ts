import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { pino } from 'pino';
import { bucketDirOf, CheckpointStore, runCapture } from '../capture/index.ts';
import { META_DIR, readChangeFile, SchemaRegistry } from '../changefile/index.ts';
import { type ChangeEvent, positionKey } from '../core/index.ts';
import { startDevMariadb } from '../devdb/index.ts';

/**
 * `tabletime demo`: a throw-away MariaDB, a small shop, a short story of inserts, updates, a key
 * change and a physical delete, captured into change files, and one order's full trail read back
 * from them. Apply, the history store and queries are not built yet (docs/architecture.md); the
 * demo will show `tabletime query` then.
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
    const events = await readBucket(bucket);
    say();
    say(`5. ${events.length} changes captured into Datastream-compatible files under ${bucket}`);
    say('   The trail of order 1001 / 5001, in source order (a delete keeps what the row held):');
    say();
    for (const e of events.filter(
      (e) => e.table === 'orders' && [1001, 5001].includes(e.payload.id as number),
    )) {
      const when = e.position.snapshot
        ? 'snapshot'
        : new Date((e.commitTimestampUs ?? 0) / 1000).toISOString();
      const p = e.payload;
      say(
        `   ${when.padEnd(24)} ${e.changeType.padEnd(13)} id=${String(p.id)} amount=${String(p.amount)} status=${String(p.status)} note=${String(p.note)}`,
      );
    }
    say();
    say('Next steps:');
    say(
      `   npx tabletime inspect ${join(bucket, 'shop_orders')}/*/*/*/*/*/*.jsonl   # every change, as JSON`,
    );
    say('   npx tabletime check --source URL --tables db.*              # is your server ready?');
    say('   npx tabletime capture --source URL --tables db.* --data-dir DIR');
    say(
      'Apply into a queryable history store (as-of, history, diff) is being built: see docs/architecture.md.',
    );
    if (opts.keep) say(`The MariaDB keeps running: npx tabletime dev-mariadb stop --dir ${db.dir}`);
  } finally {
    controller.abort();
    if (!opts.keep) await db.stop();
  }
  return 0;
}

async function readBucket(bucket: string): Promise<ChangeEvent[]> {
  const registry = new SchemaRegistry(bucket);
  const events: ChangeEvent[] = [];
  for (const e of await readdir(bucket, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || join(e.parentPath, e.name).includes(`${META_DIR}`)) continue;
    for await (const item of readChangeFile(join(e.parentPath, e.name), { registry })) {
      if (item.kind === 'event') events.push(item.event);
    }
  }
  return events.sort((a, b) => {
    const ka = positionKey(a.position, a.changeType);
    const kb = positionKey(b.position, b.changeType);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}
