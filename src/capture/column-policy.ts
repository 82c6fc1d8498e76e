/**
 * Personal data kept out of the history (the config file's `tables.columns`): per table, columns
 * to leave out entirely, and columns to keep only as a keyed hash (HMAC-SHA256 of the value's
 * change-file text, hex), so that equal values stay equal — a customer's orders still group
 * together — while the value itself never reaches a change file, a store or a log. The key comes
 * from TABLETIME_HASH_KEY: a plain hash of an e-mail address is a dictionary lookup away from it.
 * Applied at capture, before anything is written.
 */
import { createHmac } from 'node:crypto';
import { encodeValue } from '../changefile/index.ts';
import {
  type ChangeEvent,
  type ColumnSchema,
  columnFromSqlType,
  ConfigError,
  type Row,
  type TableSchema,
} from '../core/index.ts';

export interface ColumnRules {
  readonly exclude?: readonly string[];
  readonly hash?: readonly string[];
}

/** `database.table` -> its rules. */
export type ColumnPolicySpec = Readonly<Record<string, ColumnRules>>;

const HASHED_TYPE = 'char(64)';

export class ColumnPolicy {
  readonly #rules: ColumnPolicySpec;
  readonly #key: Buffer | null;
  readonly #schemas = new WeakMap<TableSchema, TableSchema>();
  readonly #plans = new WeakMap<TableSchema, { written: TableSchema; hashed: Map<string, ColumnSchema> }>();

  constructor(rules: ColumnPolicySpec, hashKey = process.env.TABLETIME_HASH_KEY) {
    this.#rules = rules;
    const hashing = Object.values(rules).some((r) => (r.hash?.length ?? 0) > 0);
    if (hashing && (!hashKey || hashKey.length < 16))
      throw new ConfigError(
        'HASH_KEY',
        'columns to hash need a secret key of 16 characters or more in TABLETIME_HASH_KEY (keep it: another key gives other hashes)',
      );
    this.#key = hashKey ? Buffer.from(hashKey) : null;
  }

  /** The schema as written: excluded columns gone, hashed ones as char(64). */
  schema(schema: TableSchema): TableSchema {
    const rules = this.#rules[`${schema.database}.${schema.table}`];
    if (!rules) return schema;
    let out = this.#schemas.get(schema);
    if (out) return out;
    const exclude = new Set(rules.exclude ?? []);
    const hash = new Set(rules.hash ?? []);
    const names = new Set(schema.columns.map((c) => c.name));
    for (const n of [...exclude, ...hash])
      if (!names.has(n))
        throw new ConfigError(
          'CONFIG',
          `tables.columns.${schema.database}.${schema.table} names column '${n}', which the table does not have (it has ${[...names].join(', ')})`,
        );
    for (const k of schema.primaryKeys)
      if (exclude.has(k))
        throw new ConfigError(
          'CONFIG',
          `${schema.database}.${schema.table}: the key column '${k}' cannot be excluded (a record needs its key): hash it instead`,
        );
    out = {
      ...schema,
      columns: schema.columns
        .filter((c) => !exclude.has(c.name))
        .map((c): ColumnSchema =>
          hash.has(c.name) ? columnFromSqlType(c.name, HASHED_TYPE, c.nullable) : c,
        ),
    };
    this.#schemas.set(schema, out);
    return out;
  }

  /** The event and schema as written. */
  apply(event: ChangeEvent, schema: TableSchema): { event: ChangeEvent; schema: TableSchema } {
    const rules = this.#rules[`${schema.database}.${schema.table}`];
    if (!rules) return { event, schema };
    const { written, hashed } = this.#plan(schema, rules);
    const row = (r: Row): Row => {
      const out: Row = {};
      for (const c of written.columns) {
        const v = r[c.name];
        if (v === undefined) continue;
        const source = hashed.get(c.name);
        out[c.name] = source ? this.#hash(v, source) : v;
      }
      return out;
    };
    return {
      event: {
        ...event,
        payload: row(event.payload),
        before: event.before ? row(event.before) : event.before,
      },
      schema: written,
    };
  }

  /** Per source schema, once: the schema as written, and the hashed columns as the source has them. */
  #plan(
    schema: TableSchema,
    rules: ColumnRules,
  ): { written: TableSchema; hashed: Map<string, ColumnSchema> } {
    let plan = this.#plans.get(schema);
    if (!plan) {
      const hash = new Set(rules.hash ?? []);
      plan = {
        written: this.schema(schema),
        hashed: new Map(schema.columns.filter((c) => hash.has(c.name)).map((c) => [c.name, c])),
      };
      this.#plans.set(schema, plan);
    }
    return plan;
  }

  #hash(value: Row[string], column: ColumnSchema): Row[string] {
    if (value === null) return null;
    return createHmac('sha256', this.#key!)
      .update(String(encodeValue(value, column)))
      .digest('hex');
  }
}
