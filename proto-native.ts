import { DuckDBInstance } from '@duckdb/node-api';
import { readdirSync, statSync, rmSync } from 'node:fs';
import { join } from 'node:path';
const root = process.argv[2]!;
const files: string[] = [];
const walk = (d: string) => { for (const f of readdirSync(d)) { const p = join(d, f); if (f === '_tabletime') continue; if (statSync(p).isDirectory()) walk(p); else if (f.endsWith('.jsonl')) files.push(p); } };
walk(root);
files.sort();
rmSync(process.env.DB ?? '/tmp/proto/h.duckdb', { force: true }); rmSync('/tmp/proto/h.duckdb.wal', { force: true });
const inst = await DuckDBInstance.create(process.env.DB ?? '/tmp/proto/h.duckdb');
const c = await inst.connect();
await c.run("SET TimeZone='UTC'"); if (process.env.PRE) await c.run(process.env.PRE); await c.run("SET memory_limit='256MB'");
await c.run(`CREATE TABLE h (id BIGINT, amount DECIMAL(12,2), price DECIMAL(18,6), created TIMESTAMP, updated TIMESTAMPTZ, status VARCHAR, name VARCHAR, note VARCHAR, payload VARCHAR, data BLOB, qty INTEGER, ratio DOUBLE,
 _tt_version_id VARCHAR, _tt_key VARCHAR, _tt_op VARCHAR, _tt_deleted BOOLEAN, _tt_commit_ts TIMESTAMPTZ, _tt_position VARCHAR, _tt_log_file VARCHAR, _tt_log_pos BIGINT, _tt_row_index INTEGER, _tt_gtid VARCHAR, _tt_snapshot BOOLEAN, _tt_ingested_at TIMESTAMPTZ, _tt_file VARCHAR, _tt_raw VARCHAR)`);
const mode = process.argv[3] ?? 'full';
const t0 = performance.now();
let total = 0;
for (let i = 0; i < files.length; i += Number(process.env.STEP ?? 4)) {
  const part = files.slice(i, i + Number(process.env.STEP ?? 4)).map((f) => `'${f}'`).join(',');
  const src = `read_json([${part}], format='newline_delimited', filename=true, columns={uuid:'VARCHAR', read_method:'VARCHAR', schema_key:'VARCHAR', source_timestamp:'VARCHAR',
     source_metadata:'STRUCT("table" VARCHAR, database VARCHAR, primary_keys VARCHAR[], log_file VARCHAR, log_position BIGINT, change_type VARCHAR, gtid VARCHAR, row_index BIGINT, commit_timestamp VARCHAR)',
     payload:'STRUCT(id VARCHAR, amount VARCHAR, price VARCHAR, created VARCHAR, updated VARCHAR, status VARCHAR, name VARCHAR, note VARCHAR, payload VARCHAR, data VARCHAR, qty VARCHAR, ratio VARCHAR)'})`;
  if (mode === 'count') { const r = await c.runAndReadAll(`SELECT count(*) FROM ${src}`); total += Number(r.getRows()[0]![0]); continue; }
  await c.run('BEGIN');
  const r = await c.run(`INSERT INTO h SELECT
     TRY_CAST(p.id AS BIGINT), TRY_CAST(p.amount AS DECIMAL(12,2)), TRY_CAST(p.price AS DECIMAL(18,6)), TRY_CAST(p.created AS TIMESTAMP), TRY_CAST(p.updated AS TIMESTAMPTZ), p.status, p.name, p.note, p.payload, unhex(p.data), TRY_CAST(p.qty AS INTEGER), TRY_CAST(p.ratio AS DOUBLE),
     substr(sha256(m.database || chr(0) || m."table" || chr(0) || pos || chr(0) || m.change_type), 1, 32),
     '["' || p.id || '"]', m.change_type, m.change_type IN ('DELETE','UPDATE-DELETE'), CAST(m.commit_timestamp AS TIMESTAMPTZ), pos, m.log_file, m.log_position, m.row_index, m.gtid, false, now(), filename, NULL
    FROM (SELECT *, source_metadata AS m, payload AS p,
      '1:' || lpad(CAST(CAST(regexp_extract(source_metadata.log_file, '(\\d+)$', 1) AS BIGINT) AS VARCHAR), 10, '0') || ':' || lpad(CAST(source_metadata.log_position AS VARCHAR), 15, '0') || ':' || lpad(CAST(source_metadata.row_index AS VARCHAR), 9, '0') || ':' || CASE WHEN source_metadata.change_type = 'UPDATE-DELETE' THEN '0' ELSE '1' END AS pos
      FROM ${src})`);
  await c.run('COMMIT');
  total += Number(r.rowsChanged);
}
const s = (performance.now() - t0) / 1000;
console.log(mode, files.length, 'files', total, 'rows', s.toFixed(2), 's', Math.round(total / s), 'rows/s');
