import { createConnection } from 'mysql2/promise';
import { startDevMariadb } from '../devdb/index.ts';

/**
 * `tabletime demo`. For now (capture and apply are not built yet) it starts the development
 * MariaDB, shows that its binlog is set up the way capture needs, and says what the full demo will
 * do. Later issues make it run the pipeline end to end.
 */
export async function demo(opts: { keep: boolean; out: NodeJS.WritableStream }): Promise<number> {
  const say = (line: string) => opts.out.write(`${line}\n`);
  say('tabletime demo: starting a throw-away MariaDB with its binary log on…');
  const db = await startDevMariadb(opts.keep ? { dir: '.dev/demo-mariadb' } : {});
  try {
    const conn = await createConnection(`${db.url}?multipleStatements=false`);
    try {
      const [rows] = await conn.query(
        `SELECT @@version AS version, @@log_bin AS log_bin, @@binlog_format AS format,
                @@binlog_row_image AS image, @@binlog_row_metadata AS metadata,
                @@system_time_zone AS tz`,
      );
      const v = (rows as Record<string, unknown>[])[0] ?? {};
      say(`  source:   ${db.url}  (MariaDB ${String(v.version)}, pid ${db.pid})`);
      say(
        `  binlog:   log_bin=${String(v.log_bin)} format=${String(v.format)} row_image=${String(v.image)} ` +
          `row_metadata=${String(v.metadata)}, server time zone UTC${String(v.tz)}`,
      );
    } finally {
      await conn.end();
    }
    say('');
    say('What the full demo does (being built; see docs/):');
    say('  1. create a sample table and write inserts, updates, key changes and deletes to it;');
    say('  2. capture: read the binlog into Datastream-compatible change files under .dev/demo/bucket/;');
    say('  3. apply: turn every change into a version in an embedded DuckDB history store;');
    say(
      '  4. query: the history of one record, the table as of a past moment, and what changed between two.',
    );
    say('');
    say("Available now: `npx tabletime inspect FILE` reads change files (ours or Google Datastream's).");
    if (opts.keep) {
      say(`The server keeps running; stop it with: npx tabletime dev-mariadb stop --dir ${db.dir}`);
    }
  } finally {
    if (!opts.keep) await db.stop();
  }
  return 0;
}
