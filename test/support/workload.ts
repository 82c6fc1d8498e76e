import type { Connection } from 'mysql2/promise';

/** What the workload expects capture to see: one entry a version, in commit order. */
export type ExpectedChange = [changeType: string, id: number, v: number];

/**
 * A random workload over `db.table (id INT PRIMARY KEY, v INT)`, driven by `random`, that keeps a
 * model of the table and records every change it commits: inserts, updates, key changes, deletes,
 * multi-statement transactions and rolled-back ones (which must leave no trace).
 */
export class Workload {
  readonly expected: ExpectedChange[] = [];
  readonly #rows = new Map<number, number>();
  #nextId = 1;
  #counter = 0;
  readonly #random: () => number;
  readonly #table: string;

  constructor(random: () => number, table: string) {
    this.#random = random;
    this.#table = table;
  }

  #pick(): number | undefined {
    const ids = [...this.#rows.keys()];
    return ids[Math.floor(this.#random() * ids.length)];
  }

  async #one(conn: Connection, log: ExpectedChange[], model: Map<number, number>): Promise<void> {
    const r = this.#random();
    const v = ++this.#counter;
    const existing = [...model.keys()];
    const id = existing[Math.floor(this.#random() * existing.length)];
    if (r < 0.4 || id === undefined) {
      const newId = this.#nextId++;
      await conn.query(`INSERT INTO ${this.#table} VALUES (?, ?)`, [newId, v]);
      model.set(newId, v);
      log.push(['INSERT', newId, v]);
    } else if (r < 0.75) {
      await conn.query(`UPDATE ${this.#table} SET v = ? WHERE id = ?`, [v, id]);
      model.set(id, v);
      log.push(['UPDATE-INSERT', id, v]);
    } else if (r < 0.85) {
      const newId = this.#nextId++;
      const old = model.get(id)!;
      await conn.query(`UPDATE ${this.#table} SET id = ? WHERE id = ?`, [newId, id]);
      model.delete(id);
      model.set(newId, old);
      log.push(['UPDATE-DELETE', id, old], ['UPDATE-INSERT', newId, old]);
    } else {
      const old = model.get(id)!;
      await conn.query(`DELETE FROM ${this.#table} WHERE id = ?`, [id]);
      model.delete(id);
      log.push(['DELETE', id, old]);
    }
  }

  /** Inserts `n` rows before capture starts: they are in the model, not in `expected`. Returns them. */
  async preload(conn: Connection, n: number): Promise<Map<number, number>> {
    const values: number[][] = [];
    for (let i = 0; i < n; i++) {
      const id = this.#nextId++;
      const v = ++this.#counter;
      values.push([id, v]);
      this.#rows.set(id, v);
    }
    for (let i = 0; i < values.length; i += 1000) {
      await conn.query(`INSERT INTO ${this.#table} VALUES ?`, [values.slice(i, i + 1000)]);
    }
    return new Map(this.#rows);
  }

  /** The table's state after `preload` and the first `k` expected changes. */
  stateAfter(initial: ReadonlyMap<number, number>, k: number): Map<number, number> {
    const state = new Map(initial);
    for (const [type, id, v] of this.expected.slice(0, k)) {
      if (type === 'DELETE' || type === 'UPDATE-DELETE') state.delete(id);
      else state.set(id, v);
    }
    return state;
  }

  /** Runs `transactions` transactions of 1–4 statements; about one in ten is rolled back. */
  async run(conn: Connection, transactions: number): Promise<void> {
    for (let t = 0; t < transactions; t++) {
      const statements = 1 + Math.floor(this.#random() * 4);
      const rollback = this.#random() < 0.1;
      const model = new Map(this.#rows);
      const log: ExpectedChange[] = [];
      await conn.query('BEGIN');
      for (let s = 0; s < statements; s++) await this.#one(conn, log, model);
      if (rollback) {
        await conn.query('ROLLBACK');
        continue;
      }
      await conn.query('COMMIT');
      this.#rows.clear();
      for (const [k, val] of model) this.#rows.set(k, val);
      this.expected.push(...log);
    }
    void this.#pick;
  }
}
