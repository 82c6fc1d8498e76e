/**
 * DuckDB reading our change files itself (src/store/duckdb-native.ts) stores exactly what the
 * JavaScript reader stores — every column kind, keys, ids, positions — and refuses, changing
 * nothing, every line it cannot prove it reads the same way; apply then reads those in JavaScript.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import { pino } from 'pino';
import { applyFiles, applyReadFiles } from '../src/apply/index.ts';
import { formatChangeLine, SchemaRegistry } from '../src/changefile/index.ts';
import { type ChangeEvent, columnFromSqlType, type Row, type TableSchema } from '../src/core/index.ts';
import { DuckdbStore } from '../src/store/index.ts';
import { binlogEvent } from './support/events.ts';

const schema = (table: string, columns: [string, string][], primaryKeys: string[]): TableSchema => ({
  database: 'shop',
  table,
  primaryKeys,
  columns: columns.map(([n, t]) => columnFromSqlType(n, t)),
});

/** Every column kind, and a key of an integer and a text. */
const ALL = schema(
  'every_kind',
  [
    ['id', 'int'],
    ['code', 'varchar(20)'],
    ['big', 'bigint unsigned'],
    ['yr', 'year'],
    ['flags', 'bit(8)'],
    ['f', 'float'],
    ['d', 'double'],
    ['amount', 'decimal(12,2)'],
    ['day', 'date'],
    ['at', 'datetime(6)'],
    ['ts', 'timestamp(6)'],
    ['dur', 'time'],
    ['state', "enum('a','b')"],
    ['tags', "set('x','y')"],
    ['doc', 'json'],
    ['note', 'text'],
    ['bytes', 'blob'],
  ],
  ['id', 'code'],
);

const full = (id: number, code: string, over: Row = {}): Row => ({
  id,
  code,
  big: 18446744073709551615n,
  yr: 2024,
  flags: 5n,
  f: 0.1,
  d: -1.5e-300,
  amount: '-1234.50',
  day: '2026-02-28',
  at: '2026-11-30 10:42:00.123456',
  ts: '2026-11-30T10:42:00.654321Z',
  dur: '-838:59:59',
  state: 'b',
  tags: 'x,y',
  doc: '{"k": [1, 2.5, "é"]}',
  note: 'quote " backslash \\ tab \t emoji 😀 ação',
  bytes: new Uint8Array([0, 255, 16]),
  ...over,
});

/** A snapshot (backfill) row, as capture's snapshot writes it. */
const snapshotRow = (table: TableSchema, payload: Row, rowIndex: number): ChangeEvent => ({
  ...binlogEvent(table, payload),
  readMethod: 'mysql-backfill-fulldump',
  position: { snapshot: true, logFile: '', logPosition: 0, rowIndex, gtid: null },
  snapshotId: 'snapshot-mariadb-bin.000001-4',
});

describe('apply: DuckDB reading change files itself', () => {
  let root: string;
  let seq = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tabletime-native-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A bucket with one change file per list of events (our file names, our registry). */
  const bucket = async (
    name: string,
    files: { events: ChangeEvent[]; schema: TableSchema; raw?: string[] }[],
  ) => {
    const dir = join(root, name);
    const registry = new SchemaRegistry(dir);
    const paths: string[] = [];
    for (const f of files) {
      const key = await registry.put(f.schema);
      const folder = join(dir, `${f.schema.database}_${f.schema.table}`);
      await mkdir(folder, { recursive: true });
      const lines = f.events.map((e) => formatChangeLine({ ...e, schemaKey: key }, f.schema));
      const path = join(
        folder,
        `tt_1-0000000001-${String(++seq).padStart(15, '0')}-000000000-1_abcdef01.jsonl`,
      );
      await writeFile(path, `${[...lines, ...(f.raw ?? [])].join('\n')}\n`);
      paths.push(path);
    }
    return { dir, registry, paths };
  };

  const options = (store: DuckdbStore, dir: string) => ({
    store,
    bucketDir: dir,
    deadLetterDir: join(dir, '..', `${dir.split('/').pop()}-dead`),
  });

  /**
   * Rows of every history table in a DuckDB file, but `_tt_ingested_at` (when apply ran) and the
   * columns named in `leaveOut`.
   */
  const historyOf = async (path: string, leaveOut: string[] = []): Promise<string[]> => {
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    await c.run(`ATTACH '${path}' AS h (READ_ONLY)`);
    const tables = (
      await c.runAndReadAll(
        `SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'h' AND table_name LIKE '%\\_\\_history' ESCAPE '\\' ORDER BY ALL`,
      )
    ).getRows();
    const out: string[] = [];
    for (const [s, t] of tables) {
      const rows = await c.runAndReadAll(
        `SELECT * EXCLUDE (${['_tt_ingested_at', ...leaveOut].join(', ')}) FROM h."${String(s)}"."${String(t)}" ORDER BY _tt_position, _tt_version_id`,
      );
      for (const r of rows.getRowsJson()) out.push(`${String(s)}.${String(t)} ${JSON.stringify(r)}`);
    }
    const files = await c.runAndReadAll(
      'SELECT name, versions FROM h._tabletime.applied_files ORDER BY name',
    );
    for (const r of files.getRowsJson()) out.push(`applied ${JSON.stringify(r)}`);
    c.closeSync();
    instance.closeSync();
    return out;
  };

  /** Applies the files natively into one store and in JavaScript into another; returns both histories. */
  const both = async (
    name: string,
    paths: string[],
    dir: string,
    registry: SchemaRegistry,
    leaveOut: string[] = [],
  ) => {
    const a = join(root, `${name}-native.duckdb`);
    const b = join(root, `${name}-read.duckdb`);
    {
      await using store = await DuckdbStore.open(a);
      const r = await store.applyChangeFiles(
        paths.map((p) => ({ path: p, name: p.slice(dir.length + 1) })),
        (k) => registry.get(k),
      );
      assert.equal(r.applied ? 'applied' : r.reason, 'applied');
    }
    {
      await using store = await DuckdbStore.open(b);
      await applyReadFiles(paths, options(store, dir));
    }
    return { native: await historyOf(a, leaveOut), read: await historyOf(b, leaveOut) };
  };

  it('stores every column kind, key, id and position exactly as the JavaScript reader does', async () => {
    const keyless = schema(
      'log',
      [
        ['msg', 'varchar(10)'],
        ['n', 'int'],
      ],
      [],
    );
    const bytesKey = schema(
      'blobs',
      [
        ['k', 'varbinary(8)'],
        ['v', 'bigint unsigned'],
        ['t', 'text'],
      ],
      ['k', 'v'],
    );
    const events = [
      binlogEvent(ALL, full(1, 'a')),
      binlogEvent(ALL, full(2, 'ção 😀', { f: 3.4e38, d: 0, amount: '0.00', note: null, bytes: null })),
      binlogEvent(ALL, full(-3, '', { big: 0n, flags: 0n, yr: null, doc: null, ts: null })),
      binlogEvent(ALL, full(1, 'a', { amount: '99.99' }), { changeType: 'UPDATE-DELETE', rowIndex: 0 }),
      binlogEvent(ALL, full(1, 'a', { amount: '100.00' }), { changeType: 'UPDATE-INSERT', rowIndex: 1 }),
      binlogEvent(ALL, full(2, 'ção 😀'), { changeType: 'DELETE', logFile: 'mariadb-bin.000002' }),
    ];
    const { dir, registry, paths } = await bucket('kinds', [
      { schema: ALL, events: events.slice(0, 3) },
      { schema: ALL, events: events.slice(3) },
      {
        schema: keyless,
        events: [binlogEvent(keyless, { msg: 'x', n: 1 }), binlogEvent(keyless, { msg: 'x', n: 1 })],
      },
      // Snapshot rows: their ids come from the snapshot and the key (or the row's place, keyless).
      {
        schema: ALL,
        events: [snapshotRow(ALL, full(10, 'ç'), 0), snapshotRow(ALL, full(11, 'd', { amount: null }), 1)],
      },
      {
        schema: keyless,
        events: [snapshotRow(keyless, { msg: 'x', n: 1 }, 0), snapshotRow(keyless, { msg: 'x', n: 1 }, 1)],
      },
      {
        schema: bytesKey,
        events: [
          snapshotRow(bytesKey, { k: new Uint8Array([0xab, 0]), v: 18446744073709551615n, t: 'a' }, 0),
          snapshotRow(bytesKey, { k: null, v: 0n, t: null }, 1),
          binlogEvent(bytesKey, { k: new Uint8Array([0xab, 0]), v: 18446744073709551615n, t: 'b' }),
        ],
      },
    ]);
    const { native, read } = await both('kinds', paths, dir, registry);
    assert.equal(read.filter((l) => !l.startsWith('applied')).length, 15);
    assert.deepEqual(native, read);
  });

  for (const composite of [false, true])
    it(`reads whole numbers into a history column that became text (INT widened to BIGINT, ${composite ? 'composite' : 'one-column'} key)`, async () => {
      // A composite key's text part holds a comma, which the key's re-spelling must step over.
      const code = composite ? [['code', 'varchar(8)'] as [string, string]] : [];
      const primaryKeys = composite ? ['code', 'id'] : ['id'];
      const row = (r: Row): Row => (composite ? { code: 'x,y', ...r } : r);
      const name = composite ? 'widened2' : 'widened';
      const narrow = schema(name, [...code, ['id', 'int'], ['n', 'int'], ['y', 'year']], primaryKeys);
      const wide = schema(
        name,
        [...code, ['id', 'bigint'], ['n', 'bigint unsigned'], ['y', 'bigint']],
        primaryKeys,
      );
      const { dir, registry, paths } = await bucket(name, [
        {
          schema: narrow,
          events: [
            binlogEvent(narrow, row({ id: 1, n: -7, y: 2024 })),
            binlogEvent(narrow, row({ id: 2, n: 0, y: null })),
          ],
        },
        {
          schema: wide,
          events: [
            binlogEvent(wide, row({ id: 1n, n: 18446744073709551615n, y: 0n }), {
              changeType: 'UPDATE-INSERT',
            }),
            binlogEvent(wide, row({ id: 2n, n: null, y: 7n }), { changeType: 'DELETE' }),
            binlogEvent(wide, row({ id: -3n, n: 10n, y: -1n })),
          ],
        },
        // Captured before the widening, applied after it: the same records, spelled the same way.
        {
          schema: narrow,
          events: [binlogEvent(narrow, row({ id: 1, n: 5, y: 1999 }), { changeType: 'UPDATE-INSERT' })],
        },
      ]);
      // All three files in one batch: its two schemas of the table are read, each as itself.
      const a = join(root, `${name}-native.duckdb`);
      {
        await using store = await DuckdbStore.open(a);
        const r = await store.applyChangeFiles(
          paths.map((p) => ({ path: p, name: p.slice(dir.length + 1) })),
          (k) => registry.get(k),
        );
        assert.equal(r.applied ? 'applied' : r.reason, 'applied');
      }
      // The JavaScript reader takes them one by one (so not both()): the first file's versions
      // are stored before the widening and re-spelled by it.
      const b = join(root, `${name}-read.duckdb`);
      {
        await using store = await DuckdbStore.open(b);
        for (const p of paths) await applyReadFiles([p], options(store, dir));
      }
      const read = await historyOf(b);
      assert.equal(read.filter((l) => !l.startsWith('applied')).length, 6);
      assert.ok(read.some((l) => l.includes('"18446744073709551615"')));
      // Every version's key is the string form, the first file's re-spelled, the last one's read so.
      const keys = read.filter((l) => !l.startsWith('applied')).map((l) => /"\[[^\]]*\]"/.exec(l)?.[0]);
      const part = composite ? '\\"x,y\\",' : '';
      assert.deepEqual(
        keys.sort(),
        ['-3', '1', '1', '1', '2', '2'].map((id) => `"[${part}\\"${id}\\"]"`),
      );
      assert.deepEqual(await historyOf(a), read);
    });

  it('takes a batch whose files have two schemas of a table (a column added, one dropped)', async () => {
    const before = schema(
      'reshaped',
      [
        ['id', 'int'],
        ['gone', 'varchar(8)'],
      ],
      ['id'],
    );
    const after = schema(
      'reshaped',
      [
        ['id', 'int'],
        ['added', 'decimal(8,2)'],
      ],
      ['id'],
    );
    const { dir, registry, paths } = await bucket('reshaped', [
      {
        schema: before,
        events: [binlogEvent(before, { id: 1, gone: 'x' }), binlogEvent(before, { id: 2, gone: null })],
      },
      {
        schema: after,
        events: [
          binlogEvent(after, { id: 1, added: '1.50' }, { changeType: 'UPDATE-INSERT' }),
          binlogEvent(after, { id: 3, added: null }),
        ],
      },
    ]);
    const { native, read } = await both('reshaped', paths, dir, registry);
    assert.equal(native.filter((l) => !l.startsWith('applied')).length, 4);
    assert.deepEqual(native, read);
  });

  it('stores a change found in two files once, and skips files the store has', async () => {
    const shared = [1, 2, 3].map((i) => binlogEvent(ALL, full(i, 'k'), { logPosition: 50_000 + i }));
    const { dir, registry, paths } = await bucket('twice', [
      { schema: ALL, events: shared },
      { schema: ALL, events: [shared[2]!, binlogEvent(ALL, full(4, 'k'))] },
    ]);
    // Which of the two files the stored copy names is left open, in both paths.
    const { native, read } = await both('twice', paths, dir, registry, ['_tt_file']);
    assert.deepEqual(native, read);
    assert.equal(native.filter((l) => !l.startsWith('applied')).length, 4);
    await using store = await DuckdbStore.open(join(root, 'twice-native.duckdb'));
    const again = await store.applyChangeFiles(
      paths.map((p) => ({ path: p, name: p.slice(dir.length + 1) })),
      (k) => registry.get(k),
    );
    assert.ok(again.applied);
    assert.deepEqual([again.inserted, again.skipped.length, again.events], [0, 2, 0]);
  });

  it('refuses a file whose path DuckDB would read as a pattern (a table named with *)', async () => {
    const odd = schema('we*rd[1]', [['id', 'int']], ['id']);
    const { dir, registry, paths } = await bucket('pattern', [
      { schema: odd, events: [binlogEvent(odd, { id: 1 })] },
    ]);
    await using store = await DuckdbStore.open(join(root, 'pattern.duckdb'));
    const r = await store.applyChangeFiles(
      paths.map((p) => ({ path: p, name: p.slice(dir.length + 1) })),
      (k) => registry.get(k),
    );
    assert.match(r.applied ? 'applied' : r.reason, /pattern/);
    assert.equal((await applyFiles(paths, options(store, dir), registry)).events, 1);
    assert.equal((await store.history('shop', 'we*rd[1]')).length, 1);
  });

  it('sends only the file it cannot take to JavaScript, and takes the rest of the batch itself', async () => {
    const files = [1, 2, 3, 4].map((i) => ({
      schema: ALL,
      events: [binlogEvent(ALL, full(20 + i, 'b', i === 3 ? { day: '0000-00-00' } : {}))],
    }));
    const { dir, registry, paths } = await bucket('split', files);
    const lines: { msg: string; native?: boolean; files?: number; file?: string }[] = [];
    const logger = pino(
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
          done();
        },
      }),
    );
    const a = join(root, 'split-a.duckdb');
    {
      await using store = await DuckdbStore.open(a);
      const r = await applyFiles(paths, { ...options(store, dir), logger }, registry);
      assert.deepEqual([r.files, r.events, r.deadLetters], [4, 4, 0]);
    }
    const native = lines
      .filter((l) => l.msg === 'files applied' && l.native)
      .reduce((n, l) => n + l.files!, 0);
    const read = lines.filter((l) => l.msg === 'file read by tabletime').map((l) => l.file);
    assert.equal(native, 3);
    assert.deepEqual(read, [paths[2]!.slice(dir.length + 1)]);
    const b = join(root, 'split-b.duckdb');
    {
      await using store = await DuckdbStore.open(b);
      await applyReadFiles(paths, options(store, dir));
    }
    assert.deepEqual(await historyOf(a), await historyOf(b));
  });

  it('files every change of a table with a column named _tt_… as a dead letter, by either path; the other tables land', async () => {
    const clash = schema(
      'clash',
      [
        ['id', 'int'],
        ['_TT_Key', 'varchar(10)'],
      ],
      ['id'],
    );
    const { dir, registry, paths } = await bucket('reserved', [
      { schema: ALL, events: [binlogEvent(ALL, full(31, 'r'))] },
      { schema: clash, events: [1, 2].map((id) => binlogEvent(clash, { id, _TT_Key: 'mine' })) },
    ]);
    for (const native of [true, false]) {
      const label = `reserved-${native ? 'native' : 'read'}`;
      await using store = await DuckdbStore.open(join(root, `${label}.duckdb`));
      const opts = { ...options(store, dir), deadLetterDir: join(root, `${label}-dead`) };
      const r = native ? await applyFiles(paths, opts, registry) : await applyReadFiles(paths, opts);
      assert.deepEqual([r.files, r.inserted, r.deadLetters], [2, 1, 2], label);
      assert.deepEqual(
        (await store.tables()).map((t) => `${t.database}.${t.table}`),
        ['shop.every_kind'],
        label,
      );
      const letters = (
        await readFile(join(opts.deadLetterDir, (await readdir(opts.deadLetterDir))[0]!), 'utf8')
      )
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { code: string; reason: string });
      assert.deepEqual(
        letters.map((l) => l.code),
        ['RESERVED_COLUMN', 'RESERVED_COLUMN'],
      );
      assert.match(letters[0]!.reason, /^shop\.clash has a column named _TT_Key: .*rename the column/);
    }
  });

  // Lines the native path must not take: each is refused (nothing stored), and apply reads it in
  // JavaScript instead, which stores it or files it as a dead letter — the same result either way.
  const good = () => binlogEvent(ALL, full(7, 'ok'));
  const cases: [string, () => { events: ChangeEvent[]; raw?: string[] }][] = [
    [
      'a key with a quote (JSON.stringify escapes it)',
      () => ({ events: [binlogEvent(ALL, full(8, 'say "hi"'))] }),
    ],
    [
      'a zero date (it also goes to _tt_raw)',
      () => ({ events: [binlogEvent(ALL, full(9, 'z', { day: '0000-00-00' }))] }),
    ],
    [
      'an integer written as "007"',
      () => ({ events: [good()], raw: [line(good(), (l) => l.replace('"id":7', '"id":"007"'))] }),
    ],
    ['a trailing comma', () => ({ events: [good()], raw: [line(good(), (l) => l.replace(/}$/, ',}'))] })],
    [
      'NaN in a double',
      () => ({ events: [good()], raw: [line(good(), (l) => l.replace(/"d":[^,]+/, '"d":NaN'))] }),
    ],
    [
      'a column the schema does not have',
      () => ({
        events: [good()],
        raw: [line(good(), (l) => l.replace('"payload":{', '"payload":{"extra":1,'))],
      }),
    ],
    [
      'a number where text is expected',
      () => ({ events: [good()], raw: [line(good(), (l) => l.replace('"state":"b"', '"state":2'))] }),
    ],
    ['a line cut short', () => ({ events: [good()], raw: ['{"uuid":"x","read_method":"mysql-cdc-binlog"'] })],
    [
      'a negative zero double',
      () => ({ events: [good()], raw: [line(good(), (l) => l.replace(/"d":[^,]+/, '"d":-0.0'))] }),
    ],
  ];
  let keyOf: (e: ChangeEvent) => string;
  const line = (e: ChangeEvent, edit: (l: string) => string) =>
    edit(formatChangeLine({ ...e, schemaKey: keyOf(e) }, ALL));

  for (const [name, make] of cases) {
    it(`refuses ${name}, and apply reads it in JavaScript instead`, async () => {
      const registry0 = new SchemaRegistry(join(root, 'keys'));
      const key = await registry0.put(ALL);
      keyOf = () => key;
      const { events, raw } = make();
      const label = name.replace(/\W+/g, '-');
      const { dir, registry, paths } = await bucket(label, [{ schema: ALL, events, raw }]);
      const a = join(root, `${label}-a.duckdb`);
      {
        await using store = await DuckdbStore.open(a);
        const r = await store.applyChangeFiles(
          paths.map((p) => ({ path: p, name: p.slice(dir.length + 1) })),
          (k) => registry.get(k),
        );
        assert.equal(r.applied, false);
        assert.equal((await store.appliedAmong([paths[0]!.slice(dir.length + 1)])).size, 0);
        const through = await applyFiles(paths, options(store, dir), registry);
        assert.equal(through.files, 1);
      }
      const b = join(root, `${label}-b.duckdb`);
      {
        await using store = await DuckdbStore.open(b);
        await applyReadFiles(paths, { ...options(store, dir), deadLetterDir: join(root, `${label}-dead-b`) });
      }
      assert.deepEqual(await historyOf(a), await historyOf(b));
    });
  }
});
