/** The development MariaDB: binlog set up as capture needs, an odd time zone, and a clean stop. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { startTestMariadb } from './support/mariadb.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('dev MariaDB', () => {
  it('starts with binlog ROW/FULL/FULL, GTIDs and annotations, in UTC+13, and stops leaving no process', async () => {
    let pid = 0;
    let dir = '';
    {
      await using db = await startTestMariadb();
      pid = db.pid;
      dir = db.dir;
      assert.notEqual(db.port, 3306, 'never the machine MariaDB port');
      assert.match(db.url, /^mysql:\/\/root@127\.0\.0\.1:\d+\/$/);
      const vars = Object.fromEntries(
        (
          await db.query<{ Variable_name: string; Value: string }>(
            `SHOW VARIABLES WHERE Variable_name IN ('log_bin','binlog_format','binlog_row_image','binlog_row_metadata',
             'server_id','binlog_annotate_row_events','system_time_zone','time_zone','character_set_server','gtid_domain_id','port')`,
          )
        ).map((r) => [r.Variable_name, r.Value]),
      );
      assert.equal(vars.log_bin, 'ON');
      assert.equal(vars.binlog_format, 'ROW');
      assert.equal(vars.binlog_row_image, 'FULL');
      assert.equal(vars.binlog_row_metadata, 'FULL');
      assert.equal(vars.binlog_annotate_row_events, 'ON');
      assert.notEqual(vars.server_id, '0');
      assert.equal(vars.gtid_domain_id, '0');
      assert.equal(vars.character_set_server, 'utf8mb4');
      assert.equal(vars.time_zone, 'SYSTEM');
      assert.equal(vars.port, String(db.port));
      const [offset] = await db.query<{ d: string }>('SELECT TIMEDIFF(NOW(), UTC_TIMESTAMP()) AS d');
      assert.equal(offset!.d, '13:00:00', 'the server clock runs in Pacific/Apia (UTC+13)');
      // A write gets a GTID: GTIDs are available.
      await db.query('CREATE DATABASE t');
      await db.query('CREATE TABLE t.x (id INT PRIMARY KEY)');
      await db.query('INSERT INTO t.x VALUES (1)');
      const [gtid] = await db.query<{ g: string }>('SELECT @@gtid_binlog_pos AS g');
      assert.match(gtid!.g, /^0-1-\d+$/);
      assert.ok(alive(pid));
    }
    assert.equal(alive(pid), false, `mariadbd ${pid} still runs after stop`);
    assert.equal(existsSync(dir), false, 'its temporary folder is removed');
  });
});
