/**
 * The fault suite's workload: three tables (one with every column type, one with a composite key,
 * one with a text key), and a seeded stream of transactions — inserts, updates, key changes,
 * deletes, multi-statement transactions, rollbacks, one TRUNCATE, one ALTER TABLE ADD COLUMN,
 * one key widened from INT to BIGINT and one composite key's INT part widened the same way —
 * that counts the versions each committed transaction must produce.
 */
import type { Connection } from 'mysql2/promise';

export const DATABASE = 'tt';

export const TABLES = ['all_types', 'composite', 'strkey'] as const;
export type TableName = (typeof TABLES)[number];

export const CREATE = [
  // yr comes before the numeric columns: the binlog's signedness bits count YEAR (find 14).
  `CREATE TABLE tt.all_types (
     id INT PRIMARY KEY, yr YEAR, v BIGINT NOT NULL, ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT,
     bu BIGINT UNSIGNED, de DECIMAL(30,8), fl FLOAT, dbl DOUBLE, bt BIT(7), da DATE, dt DATETIME(6),
     ts TIMESTAMP(3) NULL, tm TIME(2), ch CHAR(5), vc VARCHAR(100), tx TEXT, bl BLOB,
     bn BINARY(4), vb VARBINARY(20), en ENUM('a','b','c'), st SET('x','y','z'), js JSON)`,
  // n is an INT until the run widens it to BIGINT (a composite key's part changing type).
  `CREATE TABLE tt.composite (region VARCHAR(8), n INT, v BIGINT NOT NULL, note VARCHAR(50),
     PRIMARY KEY (region, n))`,
  `CREATE TABLE tt.strkey (code VARCHAR(20) PRIMARY KEY, v BIGINT NOT NULL, amount DECIMAL(12,2))`,
];

type Params = unknown[];

export class TortureWorkload {
  readonly #random: () => number;
  /** Keys present at the source, per table (as SQL parameter lists, by their text). */
  #keys: Record<TableName, Map<string, Params>> = {
    all_types: new Map(),
    composite: new Map(),
    strkey: new Map(),
  };
  #next = 1;
  #counter = 0;
  /** Versions the committed transactions must have produced, per table. */
  readonly versions: Record<TableName, number> = { all_types: 0, composite: 0, strkey: 0 };
  /** Committed row changes (a key change counts 2: a tombstone and a new record). */
  changes = 0;
  transactions = 0;
  rollbacks = 0;
  truncated = false;
  altered = false;
  widened = false;
  compositeWidened = false;

  constructor(random: () => number) {
    this.#random = random;
  }

  #int(lo: number, hi: number): number {
    return lo + Math.floor(this.#random() * (hi - lo + 1));
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#random() * items.length)]!;
  }

  #bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.#int(0, 255)));
  }

  /** Values for every non-key column of a table. */
  #values(table: TableName): Record<string, unknown> {
    const v = ++this.#counter;
    const maybe = <T>(x: T): T | null => (this.#random() < 0.1 ? null : x);
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    if (table === 'all_types')
      return {
        v,
        ti: maybe(this.#int(-128, 127)),
        si: maybe(this.#int(0, 65535)),
        mi: maybe(this.#int(-8388608, 8388607)),
        bu: maybe(
          `${this.#int(0, 17)}${String(this.#int(0, 1e9)).padStart(9, '0')}${this.#int(100000000, 999999999)}`,
        ),
        de: maybe(
          `${this.#random() < 0.5 ? '-' : ''}${this.#int(0, 1e9)}${this.#int(0, 1e9)}.${pad(this.#int(0, 99999999), 8)}`,
        ),
        fl: maybe(Math.round((this.#random() - 0.5) * 20000) / 8),
        dbl: maybe((this.#random() - 0.5) * 1e12),
        bt: maybe(this.#int(0, 127)),
        da: maybe(`${this.#int(1000, 9999)}-${pad(this.#int(1, 12))}-${pad(this.#int(1, 28))}`),
        dt: maybe(
          `${this.#int(1970, 2100)}-${pad(this.#int(1, 12))}-${pad(this.#int(1, 28))} ${pad(this.#int(0, 23))}:${pad(this.#int(0, 59))}:${pad(this.#int(0, 59))}.${pad(this.#int(0, 999999), 6)}`,
        ),
        ts: maybe(
          `${this.#int(1971, 2037)}-${pad(this.#int(1, 12))}-${pad(this.#int(1, 28))} ${pad(this.#int(0, 23))}:${pad(this.#int(0, 59))}:${pad(this.#int(0, 59))}.${pad(this.#int(0, 999), 3)}`,
        ),
        tm: maybe(
          `${this.#random() < 0.3 ? '-' : ''}${this.#int(0, 837)}:${pad(this.#int(0, 59))}:${pad(this.#int(0, 59))}.${pad(this.#int(0, 99))}`,
        ),
        yr: maybe(this.#int(1901, 2155)),
        ch: maybe(this.#pick(['', 'a', 'abcde', 'ñé'])),
        vc: maybe(
          `vc ${v} ${this.#pick(['', "it's", 'quote " here', '日本', 'emoji 🎉', 'tab\tand\nnewline'])}`,
        ),
        tx: maybe('x'.repeat(this.#int(0, 300))),
        bl: maybe(this.#bytes(this.#int(0, 40))),
        bn: maybe(this.#bytes(4)),
        vb: maybe(this.#bytes(this.#int(0, 20))),
        en: maybe(this.#pick(['a', 'b', 'c'])),
        st: maybe(this.#pick(['', 'x', 'x,z', 'x,y,z'])),
        js: maybe(JSON.stringify({ n: v, s: this.#pick(['a', 'é', '"q"']), list: [1, 2.5, null, true] })),
      };
    if (table === 'composite')
      return {
        v,
        note: maybe(`note ${v}`),
        ...(this.altered ? { extra: maybe(`extra ${v}`) } : {}),
      };
    return { v, amount: maybe(`${this.#int(-99999, 99999)}.${pad(this.#int(0, 99))}`) };
  }

  #newKey(table: TableName): Record<string, unknown> {
    const n = this.#next++;
    if (table === 'all_types') return { id: n };
    if (table === 'composite')
      return { region: this.#pick(['eu', 'us', 'apac', "o'k"]), n: 2_000_000_000 + n };
    return { code: `k-${n}` };
  }

  static #keyColumns(table: TableName): string[] {
    return table === 'all_types' ? ['id'] : table === 'composite' ? ['region', 'n'] : ['code'];
  }

  /** Rows to load before capture starts (they arrive as snapshot versions). */
  async preload(conn: Connection, perTable: number): Promise<void> {
    for (const table of TABLES) {
      for (let i = 0; i < perTable; i++) await this.#insert(conn, table, this.#keys);
      this.versions[table] += perTable;
    }
  }

  async #insert(
    conn: Connection,
    table: TableName,
    keys: Record<TableName, Map<string, Params>>,
  ): Promise<void> {
    const key = this.#newKey(table);
    const row = { ...key, ...this.#values(table) };
    const cols = Object.keys(row);
    await conn.query(
      `INSERT INTO tt.${table} (${cols.map((c) => `\`${c}\``).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
      Object.values(row),
    );
    const params = TortureWorkload.#keyColumns(table).map((c) => key[c]);
    keys[table].set(JSON.stringify(params), params);
  }

  /** One statement of a transaction; returns the versions it produces. */
  async #statement(
    conn: Connection,
    keys: Record<TableName, Map<string, Params>>,
  ): Promise<[TableName, number]> {
    const table = this.#pick(TABLES);
    const present = [...keys[table].entries()];
    const r = this.#random();
    const where = TortureWorkload.#keyColumns(table)
      .map((c) => `\`${c}\` = ?`)
      .join(' AND ');
    if (present.length === 0 || r < (present.length > 300 ? 0.1 : 0.35)) {
      await this.#insert(conn, table, keys);
      return [table, 1];
    }
    const [text, params] = this.#pick(present);
    if (r < 0.75) {
      const values = this.#values(table);
      const cols = Object.keys(values);
      await conn.query(
        `UPDATE tt.${table} SET ${cols.map((c) => `\`${c}\` = ?`).join(', ')} WHERE ${where}`,
        [...Object.values(values), ...params],
      );
      return [table, 1];
    }
    if (r < 0.87) {
      // A key change: the old key's tombstone and the new key's first version.
      const key = this.#newKey(table);
      const cols = Object.keys(key);
      await conn.query(
        `UPDATE tt.${table} SET ${cols.map((c) => `\`${c}\` = ?`).join(', ')} WHERE ${where}`,
        [...Object.values(key), ...params],
      );
      keys[table].delete(text);
      const next = TortureWorkload.#keyColumns(table).map((c) => key[c]);
      keys[table].set(JSON.stringify(next), next);
      return [table, 2];
    }
    await conn.query(`DELETE FROM tt.${table} WHERE ${where}`, params);
    keys[table].delete(text);
    return [table, 1];
  }

  /**
   * One transaction: mostly a single autocommitted statement, sometimes several in BEGIN…COMMIT,
   * sometimes rolled back (no trace), once a TRUNCATE, once a key widened to BIGINT, once a
   * composite key's part widened, and once an ALTER TABLE ADD COLUMN. Each DDL statement runs
   * through `ddl` (the fault suite keeps its source reader out of the way meanwhile).
   */
  async transaction(
    conn: Connection,
    progress: number,
    ddl: <T>(statement: () => Promise<T>) => Promise<T> = (s) => s(),
  ): Promise<void> {
    if (!this.truncated && progress >= 0.4) {
      this.truncated = true;
      const rows = this.#keys.strkey.size;
      await ddl(() => conn.query('TRUNCATE TABLE tt.strkey'));
      // Every record present becomes a tombstone.
      this.versions.strkey += rows;
      this.changes += rows;
      this.#keys.strkey = new Map();
      this.transactions++;
      return;
    }
    if (!this.widened && progress >= 0.5) {
      // The key widened from INT to BIGINT (rows unchanged): every record must keep one key.
      await ddl(() => conn.query('ALTER TABLE tt.all_types MODIFY id BIGINT NOT NULL'));
      this.widened = true;
      return;
    }
    if (!this.compositeWidened && progress >= 0.55) {
      // A composite key's INT part widened to BIGINT: its records must keep one key too.
      await ddl(() => conn.query('ALTER TABLE tt.composite MODIFY n BIGINT NOT NULL'));
      this.compositeWidened = true;
      return;
    }
    if (!this.altered && progress >= 0.6) {
      // A nullable column without a default: no row changes at the source, none in the history.
      await ddl(() => conn.query('ALTER TABLE tt.composite ADD COLUMN extra VARCHAR(30) NULL'));
      this.altered = true;
      return;
    }
    const r = this.#random();
    if (r < 0.7) {
      const [table, n] = await this.#statement(conn, this.#keys);
      this.versions[table] += n;
      this.changes += n;
      this.transactions++;
      return;
    }
    const keys = {
      all_types: new Map(this.#keys.all_types),
      composite: new Map(this.#keys.composite),
      strkey: new Map(this.#keys.strkey),
    };
    const counted: [TableName, number][] = [];
    await conn.query('BEGIN');
    try {
      for (let i = this.#int(2, 6); i > 0; i--) counted.push(await this.#statement(conn, keys));
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    if (r < 0.9) {
      await conn.query('COMMIT');
      this.#keys = keys;
      for (const [table, n] of counted) {
        this.versions[table] += n;
        this.changes += n;
      }
      this.transactions++;
    } else {
      await conn.query('ROLLBACK');
      this.rollbacks++;
    }
  }
}
