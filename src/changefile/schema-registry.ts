import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { columnFromSqlType, type ColumnSchema, InputError, type TableSchema } from '../core/index.ts';
import { writeFileDurable } from './fs-durable.ts';

/** Where tabletime keeps its own files inside a bucket; Datastream consumers never look there. */
export const META_DIR = '_tabletime';

/**
 * The schema key of a table schema: 40 hex digits (sha1, like Datastream's) of its canonical JSON.
 * The same columns, types and key give the same key; any change gives a new one.
 */
export function schemaKey(schema: TableSchema): string {
  const canonical = JSON.stringify({
    database: schema.database,
    table: schema.table,
    primaryKeys: schema.primaryKeys,
    columns: schema.columns.map((c) => [c.name, c.sqlType, c.nullable ?? true]),
  });
  return createHash('sha1').update(canonical).digest('hex');
}

interface StoredSchema {
  database: string;
  table: string;
  primary_keys: string[];
  columns: { name: string; type: string; nullable: boolean }[];
}

function toStored(schema: TableSchema): StoredSchema {
  return {
    database: schema.database,
    table: schema.table,
    primary_keys: [...schema.primaryKeys],
    columns: schema.columns.map((c) => ({ name: c.name, type: c.sqlType, nullable: c.nullable ?? true })),
  };
}

export function schemaFromStored(stored: StoredSchema): TableSchema {
  const columns: ColumnSchema[] = stored.columns.map((c) => columnFromSqlType(c.name, c.type, c.nullable));
  return { database: stored.database, table: stored.table, primaryKeys: stored.primary_keys, columns };
}

/**
 * The schema of every `schema_key` our writer used, one small JSON file each under
 * `<bucket>/_tabletime/schemas/<key>.json`, written durably before any change file that names it
 * becomes visible. JSON change lines carry no types; this is how a reader knows that a column is
 * DECIMAL(65,30) or BINARY(16) and reads its values back exactly.
 */
export class SchemaRegistry {
  readonly #dir: string;
  readonly #cache = new Map<string, TableSchema | null>();

  constructor(bucketDir: string) {
    this.#dir = join(bucketDir, META_DIR, 'schemas');
  }

  /** Stores a schema (once per key) and returns its key. */
  async put(schema: TableSchema): Promise<string> {
    const key = schemaKey(schema);
    if (this.#cache.get(key)) return key;
    const path = join(this.#dir, `${key}.json`);
    const tmp = join(this.#dir, `.${key}.${randomBytes(4).toString('hex')}.tmp`);
    await writeFileDurable(path, `${JSON.stringify(toStored(schema), null, 1)}\n`, tmp);
    this.#cache.set(key, schema);
    return key;
  }

  /** The schema stored under `key`, or undefined when this bucket has none (e.g. Datastream's own files). */
  async get(key: string): Promise<TableSchema | undefined> {
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    if (!/^[0-9a-f]{40}$/.test(key)) return undefined;
    let text: string;
    try {
      text = await readFile(join(this.#dir, `${key}.json`), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#cache.set(key, null);
        return undefined;
      }
      throw err;
    }
    let schema: TableSchema;
    try {
      schema = schemaFromStored(JSON.parse(text) as StoredSchema);
    } catch (err) {
      throw new InputError(
        'SCHEMA_FILE',
        `schema file for ${key} in ${this.#dir} is unreadable: ${String(err)}`,
      );
    }
    this.#cache.set(key, schema);
    return schema;
  }
}
