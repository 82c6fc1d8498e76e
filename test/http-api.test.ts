/**
 * The HTTP API against DuckDB and PostgreSQL filled by a real capture: every endpoint, paging with
 * the cursor, CSV, bad parameters (400 with a code and what to do), an unknown table (404), the
 * OpenAPI document; and the server's rules: a bearer token off loopback (401 without it), read-only
 * methods, the security headers.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyBucket } from '../src/apply/index.ts';
import { columnFromSqlType, ConfigError, type TableSchema } from '../src/core/index.ts';
import { createApi } from '../src/http/api.ts';
import { CONTENT_SECURITY_POLICY, startHttp, tokenMatches } from '../src/http/server.ts';
import { DuckdbStore, type HistoryStore, PostgresStore } from '../src/store/index.ts';
import { masterPosition, startCapture } from './support/capture.ts';
import { binlogEvent } from './support/events.ts';
import { freePort, spawnTabletime } from './support/cli.ts';
import { startTestMariadb, type TestMariadb } from './support/mariadb.ts';
import { createTestPostgres, type TestPostgres } from './support/postgres.ts';

/** The answers' shapes, loosely: each test looks at the fields of its endpoint. */
type Item = Record<string, any>;
interface Body {
  tables: Item[];
  pipeline: unknown;
  columns: string[];
  rows: Item[];
  next: string | null;
  error: { code: string; message: string };
  paths: Record<string, { get: { parameters: { name: string }[] } }>;
}

const nextSecond = () => new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));

describe('HTTP API', () => {
  let db: TestMariadb;
  let dir: string;
  let pgdb: TestPostgres;
  let afterInserts: string; // binlog position after the first 25 inserts
  let t1: string; // a time after the inserts, before the changes
  const stores: Record<string, HistoryStore> = {};

  before(async () => {
    db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    await db.query(
      'CREATE TABLE shop.orders (id INT PRIMARY KEY, status VARCHAR(20), total DECIMAL(12,2), note TEXT)',
    );
    dir = await mkdtemp(join(tmpdir(), 'tt-http-'));
    const capture = await startCapture(db, 'shop.*', dir);
    for (let i = 1; i <= 25; i++)
      await db.query('INSERT INTO shop.orders VALUES (?, ?, ?, ?)', [
        i,
        'new',
        `${i}.50`,
        i === 3 ? 'a "quoted", note' : null,
      ]);
    const p = await masterPosition(db);
    afterInserts = `${p.logFile}:${p.logPosition}`;
    await nextSecond();
    t1 = new Date().toISOString();
    await nextSecond();
    await db.query("UPDATE shop.orders SET status = 'paid', total = total + 1 WHERE id IN (2, 4)");
    await db.query("UPDATE shop.orders SET status = 'shipped' WHERE id = 2");
    await db.query('DELETE FROM shop.orders WHERE id = 5');
    await db.query("INSERT INTO shop.orders VALUES (26, 'new', 1.00, NULL)");
    await capture.catchUp();
    await capture.stop();
    stores.duckdb = await DuckdbStore.open(join(dir, 'h.duckdb'));
    pgdb = await createTestPostgres();
    stores.postgres = await PostgresStore.open(pgdb.url);
    for (const store of Object.values(stores))
      await applyBucket({ store, bucketDir: join(dir, 'bucket'), deadLetterDir: join(dir, 'dl') });
  });
  after(async () => {
    for (const s of Object.values(stores)) await s.close();
    await pgdb?.drop();
    await db?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const kind of ['duckdb', 'postgres'] as const) {
    describe(kind, () => {
      const get = async (path: string) => {
        const res = await createApi({ store: stores[kind]! }).request(path);
        const type = res.headers.get('content-type') ?? '';
        return {
          status: res.status,
          type,
          body: (type.includes('json') ? await res.json() : await res.text()) as Body,
        };
      };
      /** Every page of a list (`path` has a query), following `next` until it is null; each a 200. */
      const getPages = async (path: string) => {
        const pages: Body[] = [];
        let cursor: string | null = null;
        do {
          const r = await get(`${path}${cursor ? `&cursor=${cursor}` : ''}`);
          assert.equal(r.status, 200);
          pages.push(r.body);
          cursor = r.body.next;
        } while (cursor);
        return pages;
      };

      it('tables: versions, current records and the last commit', async () => {
        const r = await get('/api/tables');
        assert.equal(r.status, 200);
        assert.equal(r.body.tables.length, 1);
        const t = r.body.tables[0]!;
        assert.deepEqual([t.database, t.table, t.versions, t.records], ['shop', 'orders', 30, 25]);
        assert.match(t.lastCommit, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
        assert.equal(r.body.pipeline, null);
      });

      it('current, paged by key with the cursor until the end, exact values', async () => {
        const pages = await getPages('/api/tables/shop/orders/current?limit=10');
        for (const p of pages) assert.deepEqual(p.columns, ['id', 'status', 'total', 'note']);
        const seen = pages.flatMap((p) => p.rows);
        assert.equal(pages.length, 3);
        assert.deepEqual(
          seen.map((row: any) => row.id),
          [...Array.from({ length: 25 }, (_, i) => i + 1).filter((i) => i !== 5), 26],
        );
        const two = seen.find((row: any) => row.id === 2);
        assert.deepEqual(two, { id: 2, status: 'shipped', total: '3.50', note: null });
      });

      it('as-of a time and as-of a binlog position', async () => {
        const byTime = await get(`/api/tables/shop/orders/as-of?at=${encodeURIComponent(t1)}&limit=100`);
        assert.equal(byTime.status, 200);
        assert.equal(byTime.body.rows.length, 25);
        assert.ok(byTime.body.rows.every((row: any) => row.status === 'new'));
        const byPos = await get(`/api/tables/shop/orders/as-of?position=${afterInserts}&limit=100`);
        assert.deepEqual(byPos.body.rows, byTime.body.rows);
      });

      it('history of one key: its versions, oldest first, with the fields each one changed', async () => {
        const r = await get('/api/tables/shop/orders/history?key=id%3D2');
        assert.equal(r.status, 200);
        assert.deepEqual(
          r.body.rows.map((v: any) => [v._tt_op, v.status, v.total, v._tt_changed]),
          [
            ['INSERT', 'new', '2.50', ['id', 'status', 'total', 'note']],
            ['UPDATE-INSERT', 'paid', '3.50', ['status', 'total']],
            ['UPDATE-INSERT', 'shipped', '3.50', ['status']],
          ],
        );
        const deleted = await get('/api/tables/shop/orders/history?key=id=5');
        assert.deepEqual(
          deleted.body.rows.map((v: any) => [v._tt_op, v._tt_deleted, v.status]),
          [
            ['INSERT', false, 'new'],
            ['DELETE', true, 'new'],
          ],
        );
        // Paged: one version a page.
        const p1 = await get('/api/tables/shop/orders/history?key=id=2&limit=1');
        const p2 = await get(`/api/tables/shop/orders/history?key=id=2&limit=1&cursor=${p1.body.next}`);
        assert.equal(p2.body.rows[0]!.status, 'paid');
        // What it changed is measured against the version on the page before.
        assert.deepEqual(p2.body.rows[0]!._tt_changed, ['status', 'total']);
      });

      it('diff between two times: inserted, deleted, changed with the changed columns', async () => {
        const to = new Date(Date.now() + 5_000).toISOString();
        const r = await get(
          `/api/tables/shop/orders/diff?from=${encodeURIComponent(t1)}&to=${encodeURIComponent(to)}`,
        );
        assert.equal(r.status, 200);
        const summary = r.body.rows.map((x: any) => [x._tt_change, x.id, x._tt_changed]);
        assert.deepEqual(summary, [
          ['inserted', 26, []],
          ['deleted', 5, []],
          ['changed', 2, ['status', 'total']],
          ['changed', 4, ['status', 'total']],
        ]);
        assert.equal(r.body.rows[2]!._tt_before.status, 'new');
        assert.equal(r.body.next, null);
        // A change a page, with the cursor: the same four, in the same order, then no next.
        const pages = await getPages(
          `/api/tables/shop/orders/diff?from=${encodeURIComponent(t1)}&to=${encodeURIComponent(to)}&limit=1`,
        );
        for (const p of pages) assert.equal(p.rows.length, 1);
        assert.deepEqual(
          pages.flatMap((p) => p.rows.map((x: any) => [x._tt_change, x.id, x._tt_changed])),
          summary,
        );
      });

      it('CSV: a header, quoted where needed, NULL as empty', async () => {
        const r = await get('/api/tables/shop/orders/current?format=csv&limit=3');
        assert.equal(r.status, 200);
        assert.match(r.type, /^text\/csv/);
        assert.equal(
          r.body,
          'id,status,total,note\n1,new,1.50,\n2,shipped,3.50,\n3,new,3.50,"a ""quoted"", note"\n',
        );
      });

      it('bad parameters: 400 with a code and what to do; an unknown table: 404', async () => {
        const cases: [string, number, string, RegExp][] = [
          ['/api/tables/shop/orders/current?limit=0', 400, 'BAD_PARAMETER', /limit/],
          ['/api/tables/shop/orders/current?limit=abc', 400, 'BAD_PARAMETER', /limit/],
          ['/api/tables/shop/orders/current?limit=100000', 400, 'BAD_PARAMETER', /limit/],
          ['/api/tables/shop/orders/current?format=xml', 400, 'BAD_PARAMETER', /format/],
          ['/api/tables/shop/orders/current?cursor=bm90LWEta2V5', 400, 'BAD_CURSOR', /start again/],
          ['/api/tables/shop/orders/as-of', 400, 'USAGE', /either at/],
          ["/api/tables/shop/orders/as-of?at=x'%20OR%201=1", 400, 'USAGE', /ISO-8601/],
          ['/api/tables/shop/orders/as-of?position=nope', 400, 'USAGE', /binlog position/],
          ['/api/tables/shop/orders/history', 400, 'BAD_PARAMETER', /key/],
          ['/api/tables/shop/orders/history?key=id=1%20OR%201=1', 400, 'USAGE', /not a value/],
          ['/api/tables/shop/orders/history?key=status=new', 400, 'USAGE', /key \(id\)/],
          ['/api/tables/shop/orders/diff?from=2026-01-01', 400, 'BAD_PARAMETER', /to/],
          ['/api/tables/shop/nope/current', 404, 'UNKNOWN_TABLE', /\/api\/tables/],
          ["/api/tables/shop/orders';DROP TABLE x;--/current", 404, 'UNKNOWN_TABLE', /no history/],
        ];
        for (const [path, status, code, message] of cases) {
          const r = await get(path);
          assert.equal(r.status, status, path);
          assert.equal(r.body.error.code, code, `${path}: ${JSON.stringify(r.body)}`);
          assert.match(r.body.error.message, message, path);
        }
        // Nothing was harmed.
        assert.equal((await get('/api/tables')).body.tables[0]!.records, 25);
      });

      it('the OpenAPI document lists every endpoint with its parameters', async () => {
        const r = await get('/api/openapi.json');
        assert.equal(r.status, 200);
        assert.deepEqual(Object.keys(r.body.paths).sort(), [
          '/api/tables',
          '/api/tables/{database}/{table}/as-of',
          '/api/tables/{database}/{table}/current',
          '/api/tables/{database}/{table}/diff',
          '/api/tables/{database}/{table}/history',
        ]);
        const names = r.body.paths['/api/tables/{database}/{table}/as-of']!.get.parameters.map(
          (p: any) => p.name,
        );
        assert.deepEqual(names.sort(), ['at', 'cursor', 'database', 'format', 'limit', 'position', 'table']);
      });

      it('a table without a key pages by offset, in the order its rows were written, to the end', async () => {
        // Last in this suite: it adds a table (logs.k) to the store, which only `serve` below sees.
        const K: TableSchema = {
          database: 'logs',
          table: 'k',
          primaryKeys: [],
          columns: [columnFromSqlType('id', 'int'), columnFromSqlType('v', 'varchar(10)')],
        };
        const rows = [3, 1, 2, 2, 7, 5, 4].map((id, i) =>
          binlogEvent(K, { id, v: `r${id}` }, { logFile: 'k.000001', logPosition: 100 + i }),
        );
        await stores[kind]!.applyFile(
          'logs-k.jsonl',
          rows.map((event) => ({ event, schema: K })),
        );
        const pages = await getPages('/api/tables/logs/k/current?limit=3');
        assert.equal(pages.length, 3);
        assert.deepEqual(
          pages.flatMap((p) => p.rows.map((row: any) => row.id)),
          [3, 1, 2, 2, 7, 5, 4],
        );
      });
    });
  }

  describe('server rules', () => {
    it('off loopback: refuses to start without a token, then wants it on every API request', async () => {
      const app = createApi({ store: stores.duckdb! });
      await assert.rejects(
        startHttp(app, { listen: '0.0.0.0:0' }),
        (e: unknown) => e instanceof ConfigError && e.code === 'HTTP_TOKEN' && /--token-file/.test(e.message),
      );
      const tokenFile = join(dir, 'token');
      const token = 'a-long-random-token-for-the-test-0123456789';
      await writeFile(tokenFile, `${token}\n`);
      await using http = await startHttp(app, { listen: '0.0.0.0:0', tokenFile });
      const url = http.url.replace('0.0.0.0', '127.0.0.1');
      const none = await fetch(`${url}/api/tables`);
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as any).error.code, 'UNAUTHORIZED');
      const wrong = await fetch(`${url}/api/tables`, { headers: { authorization: `Bearer ${token}x` } });
      assert.equal(wrong.status, 401);
      const good = await fetch(`${url}/api/tables`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(good.status, 200);
      // Probes need no token; writes are refused; no CORS; a strict CSP.
      assert.equal((await fetch(`${url}/health`)).status, 200);
      assert.equal((await fetch(`${url}/ready`)).status, 200);
      const post = await fetch(`${url}/api/tables`, {
        method: 'POST',
        body: 'x',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(post.status, 405);
      assert.equal(good.headers.get('access-control-allow-origin'), null);
      assert.equal(good.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      assert.equal(good.headers.get('x-content-type-options'), 'nosniff');
    });

    it('on loopback: no token needed; a bad --http is a setup error', async () => {
      await using http = await startHttp(createApi({ store: stores.duckdb! }), { listen: '127.0.0.1:0' });
      assert.equal((await fetch(`${http.url}/api/tables`)).status, 200);
      await assert.rejects(startHttp(createApi({ store: stores.duckdb! }), { listen: 'nope' }), /host:port/);
    });

    it('tabletime serve answers over a store no pipeline holds', async () => {
      const port = await freePort();
      const serve = spawnTabletime([
        'serve',
        '--data-dir',
        dir,
        '--store',
        pgdb.url,
        '--http',
        `127.0.0.1:${port}`,
      ]);
      let stderr = '';
      serve.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      try {
        let res: Response | null = null;
        for (let i = 0; i < 100 && !res; i++) {
          res = await fetch(`http://127.0.0.1:${port}/api/tables`).catch(() => null);
          if (!res) await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(res, `serve never answered: ${stderr}`);
        assert.equal(res.status, 200);
        const { tables } = (await res.json()) as Body;
        assert.equal(tables.find((t) => t.table === 'orders')!.records, 25);
        const page = await fetch(`http://127.0.0.1:${port}/`);
        assert.match(await page.text(), /<script type="module" src="\/assets\/app.js">/);
      } finally {
        serve.kill('SIGTERM');
        await new Promise((r) => serve.once('exit', r));
      }
    });

    it('tokens are compared whole', () => {
      assert.ok(tokenMatches('abc', 'abc'));
      assert.ok(!tokenMatches('abc', 'abcd'));
      assert.ok(!tokenMatches('', 'abc'));
    });
  });
});
