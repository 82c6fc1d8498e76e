import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create('/tmp/tt/bcopy/history.duckdb');
const c = await db.connect();
const r = await c.runAndReadAll(`SELECT _tt_op, count(*) FROM tt.strkey__history GROUP BY 1 ORDER BY 1`).catch(async (e) => { const t = await c.runAndReadAll(`SELECT table_schema, table_name FROM information_schema.tables`); return t; });
console.log(r.getRows());
