import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { pino } from 'pino';
import { applyBucket } from '../apply/index.ts';
import { bucketDirOf, CheckpointStore, redactUrl, runCapture } from '../capture/index.ts';
import { binlogSequence, ConfigError, isoFromMicros, type Row } from '../core/index.ts';
import { type DevMariadb, startDevMariadb } from '../devdb/index.ts';
import { DuckdbStore, duckdbPathOf } from '../store/index.ts';

export interface DemoOptions {
  readonly keep: boolean;
  readonly dataDir: string;
  /** A server of the user's: the demo then works in a database of its own, `tabletime_demo`. */
  readonly source?: string;
  readonly out: NodeJS.WritableStream;
}

/**
 * `tabletime demo`: a throw-away MariaDB (or `--source`), a small shop, a short story of inserts,
 * updates, a key change and a physical delete, captured into change files, applied into the DuckDB
 * history store, and read back: one order's history, and the orders table as of a moment before
 * the delete next to the table now. (Capture and apply run one after the other here; `tabletime
 * run` does both at once.)
 */
export async function demo(opts: DemoOptions): Promise<number> {
  const say = (line = '') => opts.out.write(`${line}\n`);
  const dataDir = resolve(opts.dataDir);
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const schema = opts.source ? 'tabletime_demo' : 'shop';
  say('tabletime demo');
  let dev: DevMariadb | null = null;
  if (opts.source) {
    say(`1. using your server ${redactUrl(opts.source)}, in a new database \`${schema}\`…`);
  } else {
    say('1. starting a throw-away MariaDB with its binary log on (ROW, FULL images, time zone UTC+13)…');
    dev = await startDevMariadb(opts.keep ? { dir: join(dataDir, 'mariadb') } : {});
    say(`   ${dev.url}`);
  }
  const source = opts.source ?? dev!.url;
  const controller = new AbortController();
  let capturing: Promise<void> | undefined;
  let beforeDeleteUs = 0;
  try {
    const conn = await createConnection(source);
    try {
      const [existing] = (await conn.query('SHOW DATABASES LIKE ?', [schema])) as unknown as [unknown[]];
      if (existing.length > 0) {
        throw new ConfigError(
          'DEMO_EXISTS',
          `the database \`${schema}\` exists already on the source: drop it (it is the demo's) or run the demo without --source`,
        );
      }
      say(`2. creating ${schema}.customers and ${schema}.orders…`);
      await conn.query(`CREATE DATABASE ${schema}`);
      await conn.query(
        `CREATE TABLE ${schema}.customers (id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(80))`,
      );
      await conn.query(`CREATE TABLE ${schema}.orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2),
        status ENUM('new','paid','shipped'), placed_at DATETIME(6), note JSON)`);
      await conn.query(
        `INSERT INTO ${schema}.customers VALUES (1, 'Ana Souza', 'ana@example.com'), (2, 'Bruno Lima', 'bruno@example.com')`,
      );

      say(`3. starting capture into ${bucketDirOf(dataDir)} (snapshot first, then the binlog)…`);
      capturing = runCapture({
        source,
        tables: `${schema}.*`,
        dataDir,
        flushIntervalMs: 100,
        logger: pino({ level: 'silent' }),
        signal: controller.signal,
      });
      const checkpoints = new CheckpointStore(join(dataDir, 'capture'));
      const caughtUp = async () => {
        const [[status]] = (await conn.query('SHOW MASTER STATUS')) as unknown as [
          [{ File: string; Position: string }],
        ];
        for (let i = 0; i < 300; i++) {
          const cp = await checkpoints.load();
          const [a, b] = [binlogSequence(cp?.logFile ?? ''), binlogSequence(status.File)];
          if (cp && (a > b || (a === b && cp.logPosition >= Number(status.Position)))) return;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error('capture did not catch up in 15 s');
      };
      await caughtUp();

      say('4. the story: an order is placed, paid, shipped, renumbered, and finally deleted…');
      const story: [string, string][] = [
        [
          'order 1001 placed',
          `INSERT INTO ${schema}.orders VALUES (1001, 1, 250.00, 'new', '2026-11-24 10:15:00.000000', '{"gift": false}')`,
        ],
        [
          'order 1002 placed',
          `INSERT INTO ${schema}.orders VALUES (1002, 2, 99.90, 'new', '2026-11-24 10:20:00.000000', NULL)`,
        ],
        [
          'order 1001 paid, with a discount',
          `UPDATE ${schema}.orders SET status = 'paid', amount = 225.00 WHERE id = 1001`,
        ],
        [
          'order 1001 shipped as a gift',
          `UPDATE ${schema}.orders SET status = 'shipped', note = '{"gift": true}' WHERE id = 1001`,
        ],
        [
          'order 1001 renumbered to 5001 (a key change)',
          `UPDATE ${schema}.orders SET id = 5001 WHERE id = 1001`,
        ],
        [
          "Ana's e-mail changed",
          `UPDATE ${schema}.customers SET email = 'ana.souza@example.com' WHERE id = 1`,
        ],
      ];
      for (const [what, sql] of story) {
        await conn.query(sql);
        say(`   - ${what}`);
      }
      // Commit times have whole seconds on MariaDB: let this one end, so "before the delete" is a moment.
      const second = Math.floor(Date.now() / 1000);
      while (Math.floor(Date.now() / 1000) === second) await new Promise((r) => setTimeout(r, 20));
      beforeDeleteUs = second * 1_000_000 + 999_999;
      await conn.query(`DELETE FROM ${schema}.orders WHERE id = 5001`);
      say('   - order 5001 physically deleted');
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
        ...(await store.history(schema, 'orders', { id: 1001 })),
        ...(await store.history(schema, 'orders', { id: 5001 })),
      ].sort((a, b) => (a.position < b.position ? -1 : 1));
      for (const v of versions) {
        const p = v.row;
        say(
          `   ${v.commitTimestamp.padEnd(28)} ${v.op.padEnd(13)} id=${String(p.id)} amount=${String(p.amount)} status=${String(p.status)} note=${String(p.note)}`,
        );
      }
      const line = (r: Row) => `id=${String(r.id)} amount=${String(r.amount)} status=${String(r.status)}`;
      say();
      say(`7. the orders table as of ${isoFromMicros(beforeDeleteUs)}, just before the delete:`);
      for (const r of await store.asOf(schema, 'orders', beforeDeleteUs)) say(`   ${line(r)}`);
      say('   and now:');
      for (const r of await store.asOf(schema, 'orders', null)) say(`   ${line(r)}`);
    }
    say();
    say('Ask more:');
    say(`   npx tabletime query history ${schema}.orders --key id=1001 --data-dir ${opts.dataDir}`);
    say(
      `   npx tabletime query as-of ${schema}.orders --at ${isoFromMicros(beforeDeleteUs)} --data-dir ${opts.dataDir}`,
    );
    say(
      `   npx tabletime query diff ${schema}.customers --from <ISO time> --to <ISO time> --data-dir ${opts.dataDir}`,
    );
    say(
      `   npx tabletime inspect ${join(bucket, `${schema}_orders`)}/*/*/*/*/*/*.jsonl   # the raw change files`,
    );
    say('Your own server: npx tabletime check --source URL --tables db.* ; then tabletime run (docs/).');
    if (opts.keep && dev) say(`The MariaDB keeps running: npx tabletime dev-mariadb stop --dir ${dev.dir}`);
  } finally {
    controller.abort();
    if (dev && !opts.keep) await dev.stop();
  }
  return 0;
}
