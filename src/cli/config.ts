/**
 * `--config tabletime.yaml`: everything the flags hold, in one file (docs/tabletime.example.yaml).
 * Validated with zod; every mistake is reported at once, each with its line and path in the file.
 * Secrets stay out of it: the source password comes from TABLETIME_SOURCE_PASSWORD, a file or
 * Secret Manager, the hash key from TABLETIME_HASH_KEY. Flags given on the command line win over
 * the file.
 */
import { readFile } from 'node:fs/promises';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../core/index.ts';

const tablePattern = z
  .string()
  .regex(/^[^.\s]+\.[^.\s]+$/, 'is not database.table (use db.* for every table of a database)');

const columnRules = z
  .object({
    exclude: z.array(z.string().min(1)).optional(),
    hash: z.array(z.string().min(1)).optional(),
  })
  .strict();

export const ConfigSchema = z
  .object({
    source: z
      .object({
        url: z
          .string()
          .regex(/^(mysql|mariadb):\/\//, 'must start with mysql://')
          .refine((u) => {
            try {
              return new URL(u).password === '';
            } catch {
              return false;
            }
          }, 'is not a URL without a password: put the password in TABLETIME_SOURCE_PASSWORD, password_file or password_secret'),
        password_file: z.string().min(1).optional(),
        password_secret: z
          .string()
          .regex(/^projects\/[^/]+\/secrets\/[^/]+(\/versions\/[^/]+)?$/, 'is not projects/P/secrets/S')
          .optional(),
      })
      .strict()
      .optional(),
    tables: z
      .object({
        include: z.array(tablePattern).min(1, 'names no table'),
        exclude: z.array(tablePattern).optional(),
        columns: z.record(tablePattern, columnRules).optional(),
      })
      .strict()
      .optional(),
    data_dir: z.string().min(1).optional(),
    store: z
      .string()
      .regex(
        /^(postgres(ql)?|bigquery|duckdb):/,
        'takes postgres://…, bigquery://project/dataset or duckdb:PATH',
      )
      .optional(),
    bucket: z
      .string()
      .regex(/^(gs:\/\/|file:\/\/|\/)/, 'takes gs://BUCKET[/prefix] or an absolute path')
      .optional(),
    notify: z
      .string()
      .regex(/^nats:\/\//, 'takes nats://host:port/subject')
      .optional(),
    notifications: z
      .string()
      .regex(/^(nats|pubsub):\/\//, 'takes nats://host:port/subject or pubsub://PROJECT/SUBSCRIPTION')
      .optional(),
    sweep_interval_seconds: z.number().positive().optional(),
    http: z
      .object({
        listen: z
          .string()
          .regex(/^.+:\d{1,5}$/, 'is not host:port')
          .optional(),
        token_file: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    capture: z
      .object({
        flush_interval_ms: z.number().int().positive().optional(),
        gzip: z.boolean().optional(),
        file_rotation_mb: z.number().positive().optional(),
        snapshot: z.boolean().optional(),
        snapshot_chunk_rows: z.number().int().positive().optional(),
        server_id: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type TabletimeConfig = z.infer<typeof ConfigSchema>;

/** Reads and checks a config file; all its problems in one error, `file:line: path: problem`. */
export async function loadConfig(path: string): Promise<TabletimeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('CONFIG', `cannot read --config ${path}: ${(err as Error).message}`);
  }
  return parseConfig(text, path);
}

export function parseConfig(text: string, path: string): TabletimeConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map(
      (e) => `${path}:${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`,
    );
    throw new ConfigError('CONFIG', `${path} is not valid YAML: ${problems.join('; ')}`);
  }
  const value: unknown = doc.toJS() ?? {};
  const result = ConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    // The line of the deepest node the path still reaches.
    const at = [...issue.path] as (string | number)[];
    // An unknown key: its own line.
    const lookup = issue.code === 'unrecognized_keys' ? [...at, issue.keys[0]!] : at;
    let line: number | null = null;
    for (let n = lookup.length; n >= 0 && line === null; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(lookup.slice(0, n), true);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range) line = lines.linePos(range[0]).line;
      else if (n > 0 && isMap(doc.getIn(lookup.slice(0, n - 1), true))) {
        const parent = doc.getIn(lookup.slice(0, n - 1), true) as {
          items: { key: { value: unknown; range?: [number] } }[];
        };
        const key = parent.items.find((i) => i.key.value === lookup[n - 1])?.key;
        if (key?.range) line = lines.linePos(key.range[0]).line;
      }
    }
    const where = at.length > 0 ? at.join('.') : '(top level)';
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown ${issue.keys.map((k) => `'${k}'`).join(', ')}`
        : issue.message;
    return `${path}:${line ?? 1}: ${where}: ${message}`;
  });
  throw new ConfigError(
    'CONFIG',
    `${path} has ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.join('; ')}`,
  );
}

/** The file's settings under the names the command-line flags have. */
export function flagsFromConfig(c: TabletimeConfig): Record<string, unknown> {
  const flags: Record<string, unknown> = {
    source: c.source?.url,
    sourcePasswordFile: c.source?.password_file,
    tables: c.tables?.include.join(','),
    excludeTables: c.tables?.exclude?.join(','),
    columns: c.tables?.columns,
    dataDir: c.data_dir,
    store: c.store,
    bucket: c.bucket,
    notify: c.notify,
    notifications: c.notifications,
    sweepInterval: c.sweep_interval_seconds === undefined ? undefined : String(c.sweep_interval_seconds),
    http: c.http?.listen,
    tokenFile: c.http?.token_file,
    flushIntervalMs:
      c.capture?.flush_interval_ms === undefined ? undefined : String(c.capture.flush_interval_ms),
    gzip: c.capture?.gzip,
    fileRotationMb:
      c.capture?.file_rotation_mb === undefined ? undefined : String(c.capture.file_rotation_mb),
    snapshot: c.capture?.snapshot,
    snapshotChunkRows:
      c.capture?.snapshot_chunk_rows === undefined ? undefined : String(c.capture.snapshot_chunk_rows),
    serverId: c.capture?.server_id === undefined ? undefined : String(c.capture.server_id),
  };
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
}

/**
 * Merges a command's options with its `--config` file: a flag given on the command line wins,
 * the file fills the rest. `given(name)` says whether the flag came from the command line.
 */
export async function withConfig<T extends object>(
  opts: T,
  given: (name: string) => boolean,
  required: readonly (keyof T & string)[] = [],
): Promise<T> {
  const merged: Record<string, unknown> = { ...(opts as Record<string, unknown>) };
  const file = (opts as { config?: string }).config;
  if (file) {
    const config = await loadConfig(file);
    if (config.source?.password_secret && !process.env.TABLETIME_SOURCE_PASSWORD_SECRET)
      process.env.TABLETIME_SOURCE_PASSWORD_SECRET = config.source.password_secret;
    for (const [name, value] of Object.entries(flagsFromConfig(config)))
      if (!given(name) || merged[name] === undefined) merged[name] = value;
  }
  const missing = required.filter((r) => merged[r] === undefined);
  if (missing.length > 0)
    throw new ConfigError(
      'USAGE',
      `missing ${missing.map((m) => `--${m.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} (a flag, or the --config file)`,
    );
  return merged as T;
}
