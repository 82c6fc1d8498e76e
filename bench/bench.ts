/**
 * `npm run bench [-- --quick]`: tabletime against the physical limits of this machine, in one run
 * so that the ratios hold on a noisy machine. Writes bench/results/<date>.json and .md (<date>-2…
 * for a later run the same day).
 *
 *  1 source limit     MariaDB committing the workload itself (rows/s)
 *  2 decode limit     mariadb-binlog --read-from-remote-server --verbose over the same binlog, and a
 *                     raw read of its bytes
 *  3 capture backlog  `tabletime capture` reading that backlog into change files
 *  4 apply backlog    `tabletime apply` loading those files into DuckDB and into PostgreSQL
 *  5 end to end       `tabletime run` draining the backlog into DuckDB; freshness under steady load
 *  6 snapshot         the initial snapshot of a large table
 *  7 queries          current / as-of / history of a key / diff over a large history, both stores
 *  8 storage          bytes per version in each store
 *
 * TABLETIME_BENCH_PROFILE=DIR writes a CPU profile of every tabletime process; TABLETIME_BENCH_KEEP=1
 * keeps the working folder (change files, stores) to run one step again by hand.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Connection } from 'mysql2/promise';
import { sleep } from '../src/core/index.ts';
import { startDevMariadb } from '../src/devdb/index.ts';
import { connectSource } from '../src/capture/source.ts';
import { DuckdbStore, PostgresStore, type HistoryStore } from '../src/store/index.ts';
import { buildQueryHistory } from './query-history.ts';
import { BenchWorkload, freshness, TABLE, untilQueryable } from './workload.ts';
import { fileName, listBucket } from '../src/apply/index.ts';
import { connectStream, NatsNotifier, parseNatsUrl } from '../src/notify/index.ts';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..');
const CLI = join(REPO, 'dist', 'cli', 'main.js');
const quick = process.argv.includes('--quick');

const SIZE = quick
  ? {
      changes: 200_000,
      preload: 50_000,
      snapshot: 1_000_000,
      versions: 1_000_000,
      keys: 100_000,
      steadySeconds: 20,
    }
  : {
      changes: 1_000_000,
      preload: 200_000,
      snapshot: 5_000_000,
      versions: 10_000_000,
      keys: 1_000_000,
      steadySeconds: 60,
    };

const log = (line: string) => console.error(`# ${new Date().toISOString().slice(11, 19)} ${line}`);

// ---- processes, with CPU and peak memory from /proc -------------------------------------------

/** The whole machine's CPU time from /proc/stat, in ticks summed over every core: busy and all. */
async function machineTicks(): Promise<{ busy: number; total: number }> {
  const cpu = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!;
  const ticks = cpu.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total }; // idle and iowait are not busy
}

/**
 * Waits until the machine is quiet: under 10 % of its CPU busy over two seconds in a row, at most
 * `limitSeconds`. The query figures are a second or less each: the work an earlier step left
 * behind (a server writing back its dirty pages, autovacuum) would be measured with them.
 */
async function settle(what: string, limitSeconds = 120): Promise<string> {
  const started = Date.now();
  let quietSeconds = 0;
  let busy = 1;
  while (Date.now() - started < limitSeconds * 1000) {
    const a = await machineTicks();
    await sleep(1000);
    const b = await machineTicks();
    busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    quietSeconds = busy < 0.1 ? quietSeconds + 1 : 0;
    if (quietSeconds >= 2) break;
  }
  const waited = Math.round((Date.now() - started) / 1000);
  const said = `${quietSeconds >= 2 ? 'quiet' : 'still busy'} after ${waited} s (${Math.round(busy * 100)} % of the CPU busy in the last second)`;
  log(`${what}: the machine is ${said}`);
  return said;
}

interface Measured {
  seconds: number;
  cpuPercent: number;
  peakRssMiB: number;
}

/** Starts `tabletime ARGS` (the built CLI) and samples its RSS; `stop()` ends it and reports. */
function startTabletime(args: string[], logFile: string) {
  // TABLETIME_BENCH_PROFILE=DIR: a CPU profile of every process, for `node --cpu-prof` analysis.
  const profile = process.env.TABLETIME_BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.TABLETIME_BENCH_PROFILE, args[0]!)}`]
    : [];
  // TABLETIME_BENCH_NODE_ARGS='--max-old-space-size=128': node flags for every tabletime process.
  const nodeArgs = process.env.TABLETIME_BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...profile, CLI, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // TABLETIME_BENCH_LOG=info keeps every process's log in the work dir (with TABLETIME_BENCH_KEEP).
    env: { ...process.env, TABLETIME_LOG_LEVEL: process.env.TABLETIME_BENCH_LOG ?? 'warn' },
  });
  let errors = '';
  child.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
  const started = process.hrtime.bigint();
  let peakKiB = 0;
  let cpuTicks = 0;
  const sample = async () => {
    try {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+)/.exec(status);
      if (hwm) peakKiB = Math.max(peakKiB, Number(hwm[1]));
      const fields = (await readFile(`/proc/${child.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch {
      // exited
    }
  };
  const timer = setInterval(() => void sample(), 100);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const measure = async (): Promise<Measured> => {
    await sample();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return {
      seconds,
      cpuPercent: Math.round((cpuTicks / 100 / seconds) * 100),
      peakRssMiB: Math.round(peakKiB / 1024),
    };
  };
  const stop = async (): Promise<Measured> => {
    const m = await measure();
    clearInterval(timer);
    child.kill('SIGTERM');
    await exited;
    await writeFile(logFile, errors);
    return m;
  };
  const finished = async (): Promise<Measured & { code: number | null }> => {
    const code = await exited;
    clearInterval(timer);
    const m = await measure();
    await writeFile(logFile, errors);
    if (code !== 0) throw new Error(`tabletime ${args[0]} exited ${code}: ${errors.slice(-2000)}`);
    return { ...m, code };
  };
  return { child, stop, finished, measure, errors: () => errors.slice(-2000) };
}

async function checkpointOf(dataDir: string): Promise<{ logFile: string; logPosition: number } | null> {
  try {
    return JSON.parse(await readFile(join(dataDir, 'capture', 'checkpoint.json'), 'utf8')) as {
      logFile: string;
      logPosition: number;
    };
  } catch {
    return null;
  }
}

function atOrAfter(a: { logFile: string; logPosition: number }, b: { logFile: string; logPosition: number }) {
  return a.logFile > b.logFile || (a.logFile === b.logFile && a.logPosition >= b.logPosition);
}

async function untilCheckpoint(
  dataDir: string,
  target: { logFile: string; logPosition: number } | null,
  process: { child: ChildProcess; errors: () => string },
) {
  for (;;) {
    const cp = await checkpointOf(dataDir);
    if (cp && (!target || atOrAfter(cp, target))) return;
    if (process.child.exitCode !== null)
      throw new Error(`tabletime exited ${process.child.exitCode} early: ${process.errors()}`);
    await sleep(20);
  }
}

async function master(conn: Connection): Promise<{ logFile: string; logPosition: number }> {
  const [rows] = (await conn.query('SHOW MASTER STATUS')) as unknown as [
    { File: string; Position: number }[],
  ];
  return { logFile: rows[0]!.File, logPosition: Number(rows[0]!.Position) };
}

async function duSize(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const e of await readdir(path, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  return total;
}

// ---- the figures -----------------------------------------------------------------------------

interface Figure {
  readonly name: string;
  readonly value: number | null;
  readonly unit: string;
  readonly target?: string;
  readonly met?: boolean;
  readonly ratio?: string;
  readonly note?: string;
}

async function main(): Promise<void> {
  const started = Date.now();
  log(`building dist/ (the benchmark runs the built CLI)`);
  await run('npm', ['run', 'build'], { cwd: REPO });
  const work = await mkdtemp(join(tmpdir(), 'tabletime-bench-'));
  const figures: Figure[] = [];
  const add = (f: Figure) => {
    figures.push(f);
    log(
      `${f.name}: ${f.value ?? '—'} ${f.unit}${f.ratio ? ` (${f.ratio})` : ''}${f.target ? ` target ${f.target}: ${f.met ? 'met' : 'MISSED'}` : ''}`,
    );
  };
  await using db = await startDevMariadb({
    serverArgs: ['--max-allowed-packet=256M', '--innodb-buffer-pool-size=2G'],
  });
  const admin = new pg.Client({
    connectionString: process.env.TABLETIME_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  await admin.connect();
  const pgName = `tabletime_bench_${process.pid}`;
  await admin.query(`CREATE DATABASE ${pgName}`);
  const pgUrl = `postgres://postgres@127.0.0.1:5432/${pgName}`;
  try {
    const conn = await connectSource(db.url);
    await conn.query('CREATE DATABASE bench');
    await conn.query(TABLE);
    // The freshness probe: one row whose seq each steady-load transaction bumps.
    await conn.query('CREATE TABLE bench.tick (id INT PRIMARY KEY, seq INT)');
    await conn.query('INSERT INTO bench.tick VALUES (1, 0)');
    const workload = new BenchWorkload();
    log(`preloading ${SIZE.preload} rows`);
    for (let n = 0; n < SIZE.preload; n += 1000) await workload.insert(conn, 1000);

    // Capture (no snapshot) and run start now, so their checkpoints sit before the backlog.
    const dirC = join(work, 'capture');
    const dirE = join(work, 'run');
    const c0 = startTabletime(
      ['capture', '--source', db.url, '--tables', 'bench.t', '--data-dir', dirC, '--no-snapshot'],
      join(work, 'c0.log'),
    );
    const e0 = startTabletime(
      ['run', '--source', db.url, '--tables', 'bench.t,bench.tick', '--data-dir', dirE],
      join(work, 'e0.log'),
    );
    await untilCheckpoint(dirC, null, c0);
    await untilCheckpoint(dirE, null, e0);
    await untilQueryable(dirE, e0, 60_000, 200);
    await c0.stop();
    await e0.stop();
    const start = await master(conn);

    // 1. Source limit.
    log(`1. source: committing ${SIZE.changes} row changes`);
    let changes = 0;
    let transactions = 0;
    const t1 = process.hrtime.bigint();
    while (changes < SIZE.changes) {
      const size = Math.min(workload.nextSize(), SIZE.changes - changes);
      await conn.query('BEGIN');
      changes += await workload.transaction(conn, size);
      await conn.query('COMMIT');
      transactions++;
    }
    const sourceSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    const end = await master(conn);
    const sourceRate = changes / sourceSeconds;
    add({
      name: 'source commit rate (MariaDB itself)',
      value: Math.round(sourceRate),
      unit: 'rows/s',
      note: `${changes} row changes in ${transactions} transactions`,
    });

    // 2. Decode limit.
    log('2. decode: mariadb-binlog over the same binlog');
    const url = new URL(db.url);
    const common = [
      '--read-from-remote-server',
      `--host=${url.hostname}`,
      `--port=${url.port}`,
      '--user=root',
      `--start-position=${start.logPosition}`,
      '--to-last-log',
    ];
    const t2 = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const p = spawn('mariadb-binlog', [...common, '--verbose', start.logFile], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mariadb-binlog exited ${code}`))));
    });
    const decodeSeconds = Number(process.hrtime.bigint() - t2) / 1e9;
    const decodeRate = changes / decodeSeconds;
    add({ name: 'decode limit: mariadb-binlog --verbose', value: Math.round(decodeRate), unit: 'rows/s' });
    const rawDir = join(work, 'raw');
    await mkdir(rawDir);
    const t3 = process.hrtime.bigint();
    await run('mariadb-binlog', [...common, '--raw', `--result-file=${rawDir}/`, start.logFile], {
      maxBuffer: 1 << 20,
    });
    const rawSeconds = Number(process.hrtime.bigint() - t3) / 1e9;
    const binlogBytes = (await duSize(rawDir)) - start.logPosition;
    add({
      name: 'raw binlog read (no decoding)',
      value: Math.round(binlogBytes / rawSeconds / 1048576),
      unit: 'MiB/s',
      note: `${Math.round(binlogBytes / 1048576)} MiB of binlog = ${Math.round(changes / rawSeconds)} rows/s`,
    });
    await rm(rawDir, { recursive: true, force: true });

    // 3. Capture backlog.
    log('3. capture: reading the backlog into change files');
    const c1 = startTabletime(
      ['capture', '--source', db.url, '--tables', 'bench.t', '--data-dir', dirC],
      join(work, 'c1.log'),
    );
    await untilCheckpoint(dirC, end, c1);
    const cm = await c1.stop();
    const captureRate = changes / cm.seconds;
    add({
      name: 'capture backlog',
      value: Math.round(captureRate),
      unit: 'rows/s',
      target: '≥ 200,000',
      met: captureRate >= 200_000,
      ratio: `${(captureRate / decodeRate).toFixed(2)} × decode limit`,
      note: `CPU ${cm.cpuPercent} %, peak RSS ${cm.peakRssMiB} MiB, ${cm.seconds.toFixed(1)} s (includes start-up)`,
    });

    // 4. Apply backlog, DuckDB and PostgreSQL.
    for (const [kind, extra, target] of [
      ['DuckDB', [], 200_000],
      ['PostgreSQL', ['--store', pgUrl], 100_000],
    ] as const) {
      log(`4. apply into ${kind}`);
      const a = startTabletime(['apply', '--data-dir', dirC, ...extra], join(work, `apply-${kind}.log`));
      const am = await a.finished();
      const rate = changes / am.seconds;
      add({
        name: `apply backlog into ${kind}`,
        value: Math.round(rate),
        unit: 'rows/s',
        target: `≥ ${target.toLocaleString('en')}`,
        met: rate >= target,
        note: `CPU ${am.cpuPercent} %, peak RSS ${am.peakRssMiB} MiB`,
      });
    }
    {
      const duck = await duSize(join(dirC, 'history.duckdb'));
      const pgc = new pg.Client({ connectionString: pgUrl });
      await pgc.connect();
      const size = await pgc.query<{ n: string }>(`SELECT pg_total_relation_size('bench.t__history') AS n`);
      await pgc.end();
      const versions = changes;
      add({
        name: 'storage, DuckDB',
        value: Math.round(duck / versions),
        unit: 'bytes/version',
        note: '12-column table, whole file',
      });
      add({
        name: 'storage, PostgreSQL',
        value: Math.round(Number(size.rows[0]!.n) / versions),
        unit: 'bytes/version',
        note: 'history table with its indexes and TOAST',
      });
    }

    // 4b. Scale-out: N apply workers on one NATS consumer drain the same files into PostgreSQL.
    const oneWorker = { rate: 0 };
    for (const workers of [1, 2, 3]) {
      log(`4b. scale-out: ${workers} apply worker(s) on NATS into PostgreSQL`);
      const r = await scaleOutDrain(admin, join(dirC, 'bucket'), work, workers);
      const rate = changes / r.seconds;
      if (workers === 1) oneWorker.rate = rate;
      add({
        name: `scale-out drain, ${workers} worker${workers > 1 ? 's' : ''} (NATS, PostgreSQL)`,
        value: Math.round(rate),
        unit: 'rows/s',
        ratio: workers > 1 ? `${(rate / oneWorker.rate).toFixed(2)} × one worker` : undefined,
        note: `${r.files} files; workers' CPU ${r.cpuPercent.join(' + ')} %, peak RSS ${Math.max(...r.peakRssMiB)} MiB`,
      });
    }

    // 5. End to end: run drains the backlog; then freshness under steady load.
    log('5. run: draining the backlog into DuckDB');
    const e1 = startTabletime(
      ['run', '--source', db.url, '--tables', 'bench.t,bench.tick', '--data-dir', dirE],
      join(work, 'e1.log'),
    );
    await untilQueryable(dirE, e1, 600_000, 50);
    const em = await e1.measure();
    const drainRate = changes / em.seconds;
    add({
      name: 'end to end: run drains the backlog into DuckDB',
      value: Math.round(drainRate),
      unit: 'rows/s',
      target: '≥ 100,000 and ≥ 1.0 × source',
      met: drainRate >= 100_000 && drainRate >= sourceRate,
      ratio: `${(drainRate / sourceRate).toFixed(2)} × source commit rate`,
      note: `peak RSS ${em.peakRssMiB} MiB`,
    });
    add({
      name: 'peak RSS of run during the drain',
      value: em.peakRssMiB,
      unit: 'MiB',
      target: '≤ 512',
      met: em.peakRssMiB <= 512,
    });

    log(`5. freshness at 5,000 changes/s for ${SIZE.steadySeconds} s`);
    const fresh = await freshness(conn, workload, dirE, SIZE.steadySeconds);
    await e1.stop();
    add({
      name: 'freshness p50',
      value: fresh.p50,
      unit: 'ms',
      note: `${fresh.samples} transactions, ${fresh.rate} changes/s achieved`,
    });
    add({
      name: 'freshness p99',
      value: fresh.p99,
      unit: 'ms',
      target: '≤ 1,000',
      met: fresh.p99 !== null && fresh.p99 <= 1000,
    });
    add({ name: 'freshness max', value: fresh.max, unit: 'ms' });

    // 6. Snapshot of a large table.
    log(`6. snapshot of ${SIZE.snapshot} rows`);
    await conn.query(
      `CREATE TABLE bench.big (id BIGINT PRIMARY KEY, amount DECIMAL(12,2), created DATETIME(6), status VARCHAR(20), name VARCHAR(100), qty INT)`,
    );
    await conn.query(
      `INSERT INTO bench.big SELECT seq, seq % 100000 / 100, '2026-11-30 10:00:00.123456' + INTERVAL seq SECOND, ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'returned'), CONCAT('customer ', seq), seq % 1000 FROM bench.seq_1_to_${SIZE.snapshot}`,
    );
    const dirS = join(work, 'snapshot');
    const s1 = startTabletime(
      ['capture', '--source', db.url, '--tables', 'bench.big', '--data-dir', dirS],
      join(work, 's1.log'),
    );
    await untilCheckpoint(dirS, null, s1);
    const sm = await s1.stop();
    const snapRate = SIZE.snapshot / sm.seconds;
    add({
      name: 'snapshot',
      value: Math.round(snapRate),
      unit: 'rows/s',
      target: '≥ 150,000',
      met: snapRate >= 150_000,
      note: `${SIZE.snapshot} rows, 6 columns, CPU ${sm.cpuPercent} %, peak RSS ${sm.peakRssMiB} MiB`,
    });
    await conn.end();
    // The queries do not use the source: stopped now, its write-back of the snapshot's table and
    // the backlog is not measured with them.
    await db.stop();

    // 7. Queries over a large history.
    for (const kind of ['DuckDB', 'PostgreSQL'] as const) {
      log(`7. queries on ${SIZE.versions} versions over ${SIZE.keys} keys, ${kind}: building the history`);
      const location = kind === 'DuckDB' ? join(work, 'queries.duckdb') : pgUrl;
      const q = await buildQueryHistory(kind, location, SIZE.versions, SIZE.keys);
      // PostgreSQL would otherwise write the generated history's pages back while it is queried.
      if (kind === 'PostgreSQL') await admin.query('CHECKPOINT');
      const quiet = await settle(`7. ${kind}'s queries`);
      const store: HistoryStore =
        kind === 'DuckDB' ? await DuckdbStore.open(location) : await PostgresStore.open(location);
      try {
        const median = async (f: () => Promise<unknown>) => {
          const times: number[] = [];
          for (let i = 0; i < 5; i++) {
            const t = process.hrtime.bigint();
            await f();
            times.push(Number(process.hrtime.bigint() - t) / 1e6);
          }
          return Math.round(times.sort((a, b) => a - b)[2]!);
        };
        const key = { id: BigInt(Math.floor(SIZE.keys / 2)) };
        const versionsOfKey = (await store.history('bench', 'q', key)).length;
        if (versionsOfKey === 0) throw new Error('the synthetic history has no versions for the probe key');
        const current = await median(() => store.countAsOf('bench', 'q', null));
        const asOf = await median(() => store.countAsOf('bench', 'q', q.middle));
        const firstPage = await median(() => store.asOf('bench', 'q', q.middle, { limit: 1000 }));
        const history = await median(() => store.history('bench', 'q', key));
        const diff = await median(() => store.diff('bench', 'q', q.middle, q.middle + 60_000_000));
        add({ name: `${kind}: current, the whole state (count of records)`, value: current, unit: 'ms' });
        add({
          name: `${kind}: as-of mid-history, the whole state (count of records)`,
          value: asOf,
          unit: 'ms',
          target: '≤ 1,000',
          met: asOf <= 1000,
          note: `before ${kind}'s queries the machine was ${quiet}`,
        });
        add({
          name: `${kind}: as-of mid-history, first 1,000 records to the caller`,
          value: firstPage,
          unit: 'ms',
        });
        add({
          name: `${kind}: history of one key (${versionsOfKey} versions)`,
          value: history,
          unit: 'ms',
          target: '≤ 20',
          met: history <= 20,
        });
        add({ name: `${kind}: diff over one minute (60,000 versions)`, value: diff, unit: 'ms' });
      } finally {
        await store.close();
      }
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`);
    await admin.end();
    // TABLETIME_BENCH_KEEP=1 keeps the change files and stores, to profile one step again.
    if (process.env.TABLETIME_BENCH_KEEP) log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }

  const date = new Date().toISOString().slice(0, 10);
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB`;
  const result = {
    date,
    quick,
    machine,
    sizes: SIZE,
    seconds: Math.round((Date.now() - started) / 1000),
    figures,
  };
  await mkdir(join(REPO, 'bench', 'results'), { recursive: true });
  const base = await freeResultsBase(join(REPO, 'bench', 'results', `${date}${quick ? '-quick' : ''}`));
  await writeFile(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    `# tabletime benchmark, ${date}${quick ? ' (--quick)' : ''}`,
    '',
    `Machine: ${machine}. Command: \`npm run bench${quick ? ' -- --quick' : ''}\` (${result.seconds} s).`,
    '',
    '| figure | value | against the limit | target | |',
    '| --- | ---: | --- | --- | --- |',
    ...figures.map(
      (f) =>
        `| ${f.name} | ${f.value === null ? '—' : f.value.toLocaleString('en')} ${f.unit} | ${f.ratio ?? ''} | ${f.target ?? ''} | ${f.target ? (f.met ? 'met' : '**missed**') : ''} |`,
    ),
    '',
    ...figures.filter((f) => f.note).map((f) => `- ${f.name}: ${f.note}`),
    '',
  ].join('\n');
  await writeFile(`${base}.md`, md);
  console.log(md);
  log(`written: ${base}.json and .md`);
}

/**
 * `base`, or `base-2`, `base-3`… when a run of the same day already wrote it: a second run must not
 * overwrite the first's results (they used to be renamed by hand, and one was lost once).
 */
async function freeResultsBase(base: string): Promise<string> {
  const exists = (path: string) =>
    stat(path).then(
      () => true,
      () => false,
    );
  const taken = async (b: string) => (await exists(`${b}.json`)) || (await exists(`${b}.md`));
  if (!(await taken(base))) return base;
  for (let n = 2; ; n++) if (!(await taken(`${base}-${n}`))) return `${base}-${n}`;
}

/** Steady load: 50-row transactions at 100 per second; each also bumps bench.tick.seq. */
/**
 * N `apply --notifications` workers, each with its own data dir, reading the capture's folder as a
 * shared bucket, draining one notification per file into a new PostgreSQL database. Timed from
 * the workers' start until every file is applied. Sweeps are off: the notifications share the work.
 */
async function scaleOutDrain(admin: pg.Client, bucket: string, work: string, workers: number) {
  const db = `tabletime_bench_${process.pid}_w${workers}`;
  await admin.query(`CREATE DATABASE ${db}`);
  const url = `postgres://postgres@127.0.0.1:5432/${db}`;
  const stream = `TTBENCH_${process.pid}_${workers}`;
  const notifications = `${process.env.TABLETIME_BENCH_NATS ?? 'nats://127.0.0.1:4222'}/ttbench.${process.pid}.${workers}?stream=${stream}`;
  const names = (await listBucket(bucket)).map((p) => fileName(bucket, p));
  const notifier = await NatsNotifier.open(parseNatsUrl(notifications));
  try {
    // As capture announces them: name and size (a worker takes about 8 MiB of files at a time).
    const sizes = await Promise.all(names.map(async (n) => (await stat(join(bucket, n))).size));
    await notifier.publish(
      names.map((name, i) => ({
        bucket,
        name,
        database: '',
        table: '',
        schema_key: '',
        events: 0,
        bytes: sizes[i]!,
      })),
    );
    const procs = Array.from({ length: workers }, (_, i) =>
      startTabletime(
        [
          'apply',
          '--data-dir',
          join(work, `worker-${workers}-${i}`),
          '--bucket',
          bucket,
          '--store',
          url,
          '--notifications',
          notifications,
          '--sweep-interval',
          '3600',
        ],
        join(work, `worker-${workers}-${i}.log`),
      ),
    );
    const store = await PostgresStore.open(url);
    try {
      for (;;) {
        await sleep(200);
        const applied = await store.appliedAmong(names).catch(() => new Set<string>());
        if (applied.size === names.length) break;
        for (const p of procs)
          if (p.child.exitCode !== null) throw new Error(`an apply worker exited: ${p.errors()}`);
      }
    } finally {
      await store.close();
    }
    const measured = await Promise.all(procs.map((p) => p.stop()));
    return {
      seconds: Math.max(...measured.map((m) => m.seconds)),
      files: names.length,
      cpuPercent: measured.map((m) => m.cpuPercent),
      peakRssMiB: measured.map((m) => m.peakRssMiB),
    };
  } finally {
    await notifier.close();
    const { nc, jsm } = await connectStream(parseNatsUrl(notifications), 'tabletime-bench');
    await jsm.streams.delete(stream).catch(() => false);
    await nc.close();
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
}

await main();
