/**
 * `tabletime check`: everything capture needs from the source, checked at once. Every problem is
 * reported (not just the first), each with the exact statement or setting that fixes it.
 * Errors stop capture; warnings say what will happen.
 */
import type { Connection } from 'mysql2/promise';
import { RESERVED_PREFIX } from '../core/index.ts';
import { ident } from './select-values.ts';
import { selectedTables } from './snapshot.ts';

export interface PreflightFinding {
  readonly severity: 'error' | 'warning' | 'ok';
  readonly check: string;
  readonly message: string;
  /** What to do; empty for 'ok'. */
  readonly fix: string;
}

export interface PreflightReport {
  readonly server: string;
  readonly findings: readonly PreflightFinding[];
  readonly tables: readonly string[];
  /** True when capture can run (no error). */
  readonly ok: boolean;
}

async function variables(conn: Connection): Promise<Map<string, string>> {
  const [rows] = (await conn.query(
    `SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata',
      'binlog_row_value_options', 'binlog_transaction_compression', 'log_bin_compress', 'server_id', 'version',
      'binlog_expire_logs_seconds', 'expire_logs_days', 'gtid_mode', 'binlog_checksum')`,
  )) as unknown as [{ Variable_name: string; Value: string }[]];
  return new Map(rows.map((r) => [r.Variable_name.toLowerCase(), String(r.Value)]));
}

async function grants(conn: Connection): Promise<string[]> {
  const [rows] = (await conn.query('SHOW GRANTS')) as unknown as [Record<string, string>[]];
  return rows.map((r) => String(Object.values(r)[0]).toUpperCase());
}

function hasGlobal(grantLines: readonly string[], ...privileges: string[]): boolean {
  return grantLines.some(
    (g) => / ON \*\.\* /.test(g) && (g.includes('ALL PRIVILEGES') || privileges.some((p) => g.includes(p))),
  );
}

/** Privileges capture never uses: writing, administering, or handing out rights. */
const EXCESS = [
  'ALL PRIVILEGES',
  'SUPER',
  'INSERT',
  'UPDATE',
  'DELETE',
  'CREATE',
  'DROP',
  'ALTER',
  'INDEX',
  'GRANT OPTION',
  'FILE',
  'SHUTDOWN',
  'CREATE USER',
  'EXECUTE',
  'TRIGGER',
  'EVENT',
];

/** The privileges a user holds beyond what capture needs, from SHOW GRANTS lines. */
export function excessPrivileges(grantLines: readonly string[]): string[] {
  const found = new Set<string>();
  for (const g of grantLines) {
    const m = /^GRANT (.+?) ON /.exec(g);
    const privileges = (m?.[1] ?? '').split(',').map((p) => p.trim());
    for (const p of privileges) if (EXCESS.includes(p)) found.add(p);
    if (/ WITH GRANT OPTION/.test(g)) found.add('GRANT OPTION');
  }
  return [...found];
}

export async function preflight(
  conn: Connection,
  include: (database: string, table: string) => boolean,
  options: { strictPrivileges?: boolean } = {},
): Promise<PreflightReport> {
  const findings: PreflightFinding[] = [];
  const add = (severity: PreflightFinding['severity'], check: string, message: string, fix = '') =>
    findings.push({ severity, check, message, fix });
  const v = await variables(conn);
  const version = v.get('version') ?? '?';
  const mariadb = /mariadb/i.test(version);
  const [major = 0, minor = 0] = version.split(/[.-]/).map((n) => Number.parseInt(n, 10));
  const server = `${mariadb ? 'MariaDB' : 'MySQL'} ${version}`;
  const restart = 'in the server configuration ([mysqld] section), then restart the server';

  if (mariadb ? major < 10 || (major === 10 && minor < 5) : major < 8) {
    add(
      'error',
      'version',
      `${server} is too old: binlog_row_metadata=FULL needs MariaDB 10.5+ or MySQL 8.0+`,
      'upgrade the server',
    );
  } else add('ok', 'version', server);

  const logBin = (v.get('log_bin') ?? 'OFF').toUpperCase();
  if (logBin !== 'ON' && logBin !== '1') {
    add(
      'error',
      'log_bin',
      'the binary log is off: there is nothing to capture',
      `set log_bin=ON (and server_id) ${restart}`,
    );
  } else add('ok', 'log_bin', 'the binary log is on');

  const expect = (name: string, wanted: string, why: string) => {
    const value = (v.get(name) ?? '').toUpperCase();
    if (value !== wanted) {
      add(
        'error',
        name,
        `${name} is ${value || 'not set'}: ${why}`,
        `SET GLOBAL ${name} = '${wanted}'; and set ${name}=${wanted} ${restart}`,
      );
    } else add('ok', name, `${name} = ${wanted}`);
  };
  expect(
    'binlog_format',
    'ROW',
    'capture reads row images; STATEMENT or MIXED logs SQL text instead of rows',
  );
  expect(
    'binlog_row_image',
    'FULL',
    'with MINIMAL or NOBLOB images, updates and deletes lack column values and history would be incomplete',
  );
  expect(
    'binlog_row_metadata',
    'FULL',
    'without it the binlog has no column names, so rows written before an ALTER TABLE cannot be decoded by column name',
  );

  const serverId = Number(v.get('server_id') ?? 0);
  if (serverId === 0)
    add(
      'error',
      'server_id',
      'server_id is 0: the server refuses replication clients',
      `set server_id to a non-zero number ${restart}`,
    );

  const partial = (v.get('binlog_row_value_options') ?? '').toUpperCase();
  if (partial.includes('PARTIAL_JSON')) {
    add(
      'error',
      'binlog_row_value_options',
      'PARTIAL_JSON logs JSON updates as diffs, which tabletime refuses to guess from',
      "SET GLOBAL binlog_row_value_options = '';",
    );
  }
  if ((v.get('binlog_transaction_compression') ?? 'OFF').toUpperCase() === 'ON') {
    add('ok', 'binlog_transaction_compression', 'compressed transactions (zstd) are read');
  }
  if ((v.get('log_bin_compress') ?? 'OFF').toUpperCase() === 'ON') {
    add(
      'error',
      'log_bin_compress',
      "MariaDB's compressed binlog events are not read by tabletime",
      'SET GLOBAL log_bin_compress = OFF;',
    );
  }
  const expireSeconds =
    Number(v.get('binlog_expire_logs_seconds') ?? 0) || Number(v.get('expire_logs_days') ?? 0) * 86_400;
  if (expireSeconds > 0 && expireSeconds < 86_400) {
    add(
      'warning',
      'binlog retention',
      `binlogs are kept ${Math.round(expireSeconds / 3600)} h: capture stopped longer than that must start over with a new snapshot`,
      'SET GLOBAL binlog_expire_logs_seconds = 604800; (7 days)',
    );
  }

  // Privileges: what the capture user can actually do, where that can be tried without side effects.
  const g = await grants(conn);
  if (!hasGlobal(g, 'REPLICATION SLAVE', 'REPLICATION REPLICA')) {
    add(
      'error',
      'privileges',
      'the user lacks REPLICATION SLAVE: it cannot read the binlog',
      'GRANT REPLICATION SLAVE ON *.* TO <capture user>;',
    );
  }
  const excess = excessPrivileges(g);
  if (excess.length > 0) {
    add(
      options.strictPrivileges ? 'error' : 'warning',
      'privileges',
      `the user has more privilege than capture needs (${excess.join(', ')}): a leaked capture password could change or destroy data`,
      `capture with a user that has only REPLICATION SLAVE, ${mariadb ? 'BINLOG MONITOR' : 'REPLICATION CLIENT'}${mariadb ? '' : ', RELOAD'} and SELECT on the captured tables (--strict-privileges makes this an error)`,
    );
  }
  try {
    await conn.query(mariadb ? 'SHOW MASTER STATUS' : 'SHOW BINARY LOG STATUS');
  } catch {
    add(
      'error',
      'privileges',
      `the user lacks ${mariadb ? 'BINLOG MONITOR (REPLICATION CLIENT)' : 'REPLICATION CLIENT'}: it cannot read the binlog position`,
      `GRANT ${mariadb ? 'BINLOG MONITOR' : 'REPLICATION CLIENT'} ON *.* TO <capture user>;`,
    );
  }

  const tables = await selectedTables(conn, include);
  if (tables.length === 0) {
    add(
      'error',
      'tables',
      'no table matches --tables (or the user cannot see them)',
      'check the names: --tables database.table, database.*',
    );
  }
  const [keyless] = (await conn.query(
    `SELECT t.TABLE_SCHEMA AS db, t.TABLE_NAME AS t, t.TABLE_TYPE AS type,
            SUM(k.CONSTRAINT_NAME = 'PRIMARY') AS pk
       FROM information_schema.TABLES t
       LEFT JOIN information_schema.KEY_COLUMN_USAGE k
         ON k.TABLE_SCHEMA = t.TABLE_SCHEMA AND k.TABLE_NAME = t.TABLE_NAME AND k.CONSTRAINT_NAME = 'PRIMARY'
      GROUP BY t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE`,
  )) as unknown as [{ db: string; t: string; type: string; pk: number | string | null }[]];
  const info = new Map(keyless.map((r) => [`${r.db}.${r.t}`, r]));
  // The columns reservedColumn refuses (its prefix, in any case), for every table at once.
  const [reserved] = (await conn.query(
    `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS t, MIN(COLUMN_NAME) AS c FROM information_schema.COLUMNS
      WHERE LOWER(COLUMN_NAME) LIKE ? GROUP BY TABLE_SCHEMA, TABLE_NAME`,
    [`${RESERVED_PREFIX.replaceAll('_', '\\_')}%`],
  )) as unknown as [{ db: string; t: string; c: string }[]];
  const reservedIn = new Map(reserved.map((r) => [`${r.db}.${r.t}`, r.c]));
  for (const { database, table } of tables) {
    const name = `${database}.${table}`;
    try {
      await conn.query(`SELECT 1 FROM ${ident(database)}.${ident(table)} LIMIT 0`);
    } catch {
      add(
        'error',
        'privileges',
        `the user cannot SELECT from ${name}: the snapshot cannot read it`,
        `GRANT SELECT ON ${ident(database)}.${ident(table)} TO <capture user>;`,
      );
    }
    const row = info.get(name);
    if (row && Number(row.pk ?? 0) === 0) {
      add(
        'warning',
        'primary key',
        `${name} has no primary key: every change is kept, but versions cannot be tied to a record, so "history of a key" and as-of by key are not available for it`,
        `ALTER TABLE ${ident(database)}.${ident(table)} ADD PRIMARY KEY (...);`,
      );
    }
    const column = reservedIn.get(name);
    if (column !== undefined) {
      add(
        'warning',
        'column names',
        `${name} has a column named ${column}: names starting with _tt_ are tabletime's own in the history, so apply would file each of its changes as a dead letter`,
        `rename the column, or leave ${name} out (--exclude-tables ${name})`,
      );
    }
    if (
      row?.type === 'SYSTEM VERSIONED' ||
      tables.find((t) => `${t.database}.${t.table}` === name)?.systemVersioned
    ) {
      add(
        'error',
        'system versioning',
        `${name} is system-versioned: each UPDATE is logged with an extra INSERT of the history row, which would become a false version`,
        `leave ${name} out of --tables (its history is in the table itself: FOR SYSTEM_TIME)`,
      );
    }
  }
  if (tables.length > 0)
    add(
      'ok',
      'tables',
      `${tables.length} table(s) to capture: ${tables.map((t) => `${t.database}.${t.table}`).join(', ')}`,
    );
  return {
    server,
    findings,
    tables: tables.map((t) => `${t.database}.${t.table}`),
    ok: !findings.some((f) => f.severity === 'error'),
  };
}
