/**
 * DuckDB reading our own change files itself (docs/history-tables.md, "How DuckDB loads our own
 * change files"; docs/performance.md, "Session 4"): `read_json` over the files, with the value
 * checks, the typed values, the position key, the record key and the version id written as SQL.
 * It must store exactly what the JavaScript reader (src/changefile) and SqlHistoryStore#load
 * store, to the bit: so it takes only what it can prove it reads the same way — binlog changes and
 * snapshot rows of our own JSON files, with the table's schema in the registry — and every row
 * carries a guard. A row the guard does not pass (a value of an unexpected type, a zero date, a
 * key it cannot spell canonically, …) fails the whole statement with `error()`; the transaction
 * rolls back, and apply offers the batch again in halves until the file that holds the row is
 * read in JavaScript, which stores the row or files it as a dead letter with its reason. Falling
 * back is always safe, only slower.
 */
import { CHANGE_TYPES, type ColumnSchema, reservedColumn, type TableSchema } from '../core/index.ts';
import { castIn, duckdbType, ident } from './duckdb-types.ts';

/** A SQL string literal. */
export const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Our own JSON change files: `tt_<position>_<id>.jsonl` (not gzip: DuckDB reads those, the checks below do not). */
export const NATIVE_FILE = /(?:^|\/)tt_[^/]+\.jsonl$/;

const fileList = (paths: readonly string[]) => `[${paths.map(lit).join(', ')}]`;

/**
 * JSON that DuckDB's reader accepts and JSON.parse does not: a trailing comma, NaN and Infinity.
 * Files with these spellings (even inside a string, where they are harmless) are left to the
 * JavaScript reader, which files such lines as dead letters. Not caught here: a trailing comma
 * followed by a space, and other spellings of NaN and infinity (`nan`, `inf`); those only matter
 * in fields tabletime does not read, since the guards check the JSON type of every field it does.
 */
export function lenientJsonSql(paths: readonly string[]): string {
  const marks = [',}', ',]', 'NaN', 'Infinity'];
  return `SELECT filename FROM read_text(${fileList(paths)})
    WHERE ${marks.map((m) => `contains(content, ${lit(m)})`).join(' OR ')}`;
}

/** A line's binlog position as the store keeps it: 0 for a snapshot (backfill) row. */
const LOG_POS = `CASE WHEN contains(read_method->>'$', 'backfill') THEN 0 ELSE TRY_CAST(m.log_position->>'$' AS BIGINT) END`;

/**
 * One row per file and envelope: its schema key, table, read method and key columns (with their
 * JSON types), the number of lines and the binlog position range. Cheap: DuckDB skips the payloads.
 */

export function prescanSql(paths: readonly string[]): string {
  return `SELECT filename AS file,
      json_type(schema_key) AS key_type, schema_key->>'$' AS schema_key,
      json_type(m.database) AS db_type, m.database->>'$' AS db,
      json_type(m."table") AS table_type, m."table"->>'$' AS tbl,
      json_type(read_method) AS method_type, read_method->>'$' AS read_method,
      CAST(m.primary_keys AS VARCHAR) AS primary_keys,
      count(*) AS n,
      min(${LOG_POS}) AS lo,
      max(${LOG_POS}) AS hi
    FROM (SELECT filename, schema_key, read_method, source_metadata AS m
            FROM read_json(${fileList(paths)}, format = 'newline_delimited', filename = true,
              columns = {schema_key: 'JSON', read_method: 'JSON',
                         source_metadata: 'STRUCT(database JSON, "table" JSON, primary_keys JSON, log_position JSON)'}))
    GROUP BY ALL`;
}

export interface PrescanRow {
  file: string;
  key_type: string | null;
  schema_key: string | null;
  db_type: string | null;
  db: string | null;
  table_type: string | null;
  tbl: string | null;
  method_type: string | null;
  read_method: string | null;
  primary_keys: string | null;
  n: number;
  lo: number | null;
  hi: number | null;
}

/** Why one prescan row cannot take the native path, or null when it can. */
export function prescanRefusal(row: PrescanRow, schema: TableSchema | undefined): string | null {
  if (row.key_type !== 'VARCHAR' || row.db_type !== 'VARCHAR' || row.table_type !== 'VARCHAR')
    return 'a line without a text schema_key, database or table';
  if (row.method_type !== 'VARCHAR' || row.read_method === null) return 'a line without a read_method';
  if (!schema) return `schema ${row.schema_key} is not in the registry`;
  // Its lines are dead letters, which the JavaScript reader files (RESERVED_COLUMN).
  if (reservedColumn(schema) !== undefined) return 'a column named _tt_…';
  if (schema.database !== row.db || schema.table !== row.tbl) return 'schema_key of another table';
  if (row.primary_keys !== JSON.stringify(schema.primaryKeys)) return 'primary_keys differ from the schema';
  if (row.lo === null || row.hi === null) return 'a line without a numeric log_position';
  return null;
}

/** Kinds whose change-file text is stored as it is when the history column is text. */
const TEXT_KINDS = new Set(['date', 'datetime', 'timestamp', 'time', 'enum', 'set', 'json', 'string']);
/**
 * Whole-number kinds read into a history column that is text (the column's type changed, INT to
 * BIGINT say): the text is the canonical digits JavaScript writes (String of the number), which
 * a guard checks ('007' would be stored as 7 by JavaScript, so such a line is not read here).
 */
const DIGIT_KINDS = new Set(['int', 'year', 'bigint']);

/** A whole number's JSON text in the canonical digits JavaScript writes ('007' and '-0' fail). */
const canonicalDigits = (raw: string) => `regexp_full_match(${raw}, '"?(0|-?[1-9][0-9]*)"?')`;

/**
 * Why a table's batch cannot take the native path given its history columns, or null. A column
 * whose history type differs from the file's (a type change made it text) is taken only when the
 * value's text is stored unchanged either way.
 */
export function columnsRefusal(schema: TableSchema, history: readonly ColumnSchema[]): string | null {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  for (const h of history) {
    const c = byName.get(h.name);
    if (!c) continue;
    if (c.kind === 'decimal' && duckdbType(c) === 'VARCHAR') return `${c.name}: DECIMAL wider than 38 digits`;
    if (
      duckdbType(h) !== duckdbType(c) &&
      !(duckdbType(h) === 'VARCHAR' && (TEXT_KINDS.has(c.kind) || DIGIT_KINDS.has(c.kind)))
    )
      return `${c.name}: its history column changed type`;
  }
  for (const k of schema.primaryKeys) {
    const c = byName.get(k);
    if (!c || c.kind === 'decimal' || c.kind === 'float' || c.kind === 'double')
      return `key column ${k}: no canonical text for its kind`;
  }
  return null;
}

const INT = `('UBIGINT', 'BIGINT')`;

/**
 * How one payload value is read: `raw` is its JSON text as DuckDB holds it (NULL for null or
 * absent), `guard` is true when it reads as JavaScript reads it, `text` is its change-file text.
 * Checking the JSON text itself ("12" or 12, "abc") spares parsing every value a second time.
 */
function payloadValue(c: ColumnSchema, raw: string, json: string): { guard: string; text: string } {
  const unquoted = `trim(${raw}, '"')`;
  const match = (re: string) => `regexp_full_match(${raw}, '${re}')`;
  let guard: string;
  let text = unquoted;
  switch (c.kind) {
    case 'int':
    case 'year':
      guard = `${match('"?-?[0-9]+"?')} AND abs(TRY_CAST(${unquoted} AS HUGEINT)) <= 9007199254740991`;
      break;
    case 'bigint':
    case 'bit':
      guard = match('"?-?[0-9]+"?');
      break;
    case 'float':
    case 'double': {
      const d = `TRY_CAST(${unquoted} AS DOUBLE)`;
      // JavaScript keeps no negative zero (String(-0) is '0'), and rejects what is not finite.
      guard =
        `${match('"?-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?"?')} AND isfinite(${d})` +
        ` AND NOT (${d} = 0 AND starts_with(${unquoted}, '-'))` +
        (c.kind === 'float' ? ` AND abs(${d}) <= 3.4028234663852886e38` : '');
      break;
    }
    case 'decimal': {
      const scale = c.scale ?? 0;
      guard = match(`"-?[0-9]+${scale > 0 ? `(\\.[0-9]{1,${scale}})?` : ''}"`);
      break;
    }
    case 'binary':
      guard = match('"([0-9a-fA-F]{2})*"');
      break;
    case 'date':
    case 'datetime':
    case 'timestamp':
      // No escapes (so the text is what is between the quotes), and no zero date: those also go
      // to `_tt_raw`, which is the JavaScript path's business.
      guard =
        `starts_with(${raw}, '"') AND NOT contains(${raw}, '\\')` +
        ` AND NOT regexp_matches(${raw}, '^"0000|^"[0-9]{4}-00|^"[0-9]{4}-[0-9]{2}-00')`;
      break;
    case 'time':
    case 'enum':
    case 'set':
    case 'json':
    case 'string':
      guard = `starts_with(${raw}, '"')`;
      text = `(${json}->>'$')`;
      break;
  }
  return { guard: `(${raw} IS NULL OR (${guard}))`, text };
}

/**
 * A key column's part of `_tt_key` (JSON.stringify of its change-file value), its part of a
 * snapshot row's version id (src/core/version-id.ts: 'n' and the digits of a number, 's' and a
 * text, 'x' and hex bytes, U+0001 for null), and its guard.
 */
function keyPart(c: ColumnSchema, raw: string, asText = false): { text: string; id: string; guard: string } {
  const unquoted = `trim(${raw}, '"')`;
  const part = (text: string, id: string, guard = 'true') => ({
    text: `CASE WHEN ${raw} IS NULL THEN 'null' ELSE ${text} END`,
    id: `CASE WHEN ${raw} IS NULL THEN chr(1) ELSE ${id} END`,
    guard: `(${raw} IS NULL OR (${guard}))`,
  });
  switch (c.kind) {
    case 'int':
    case 'year':
    case 'bigint':
    case 'bit': {
      // Canonical digits only ('007' is a fine value, but JavaScript would key it as 7).
      const guard = canonicalDigits(raw);
      // A number, but a string where the history's key column is text (history-columns.ts textKey).
      return (c.kind === 'int' || c.kind === 'year') && !asText
        ? part(unquoted, `'n' || ${unquoted}`, guard)
        : part(`'"' || ${unquoted} || '"'`, `'n' || ${unquoted}`, guard);
    }
    case 'binary':
      return part(`'"' || lower(${unquoted}) || '"'`, `'x' || lower(${unquoted})`);
    case 'decimal':
    case 'float':
    case 'double':
      // No canonical text here (columnsRefusal keeps such keys out): never passes.
      return { text: 'NULL', id: 'NULL', guard: 'false' };
    case 'date':
    case 'datetime':
    case 'timestamp':
    case 'time':
    case 'enum':
    case 'set':
    case 'json':
    case 'string':
      // A JSON string without escapes is what JSON.stringify writes for its text: no quote,
      // backslash or control character inside.
      return part(raw, `'s' || ${unquoted}`, `NOT contains(${raw}, '\\')`);
  }
}

/**
 * The SELECT that reads one table's files and yields the history columns (`columns` then the
 * metadata, as SqlHistoryStore#load stages them), each row guarded. `prefixLength`: the length of
 * the bucket directory with its separator, which `_tt_file` leaves out.
 */
export function nativeSelect(
  paths: readonly string[],
  schema: TableSchema,
  history: readonly ColumnSchema[],
  prefixLength: number,
): string {
  const byName = new Map(schema.columns.map((c) => [c.name, c]));
  // Layer by layer: the columns of read_json; the envelope's fields and each payload value's JSON
  // text (v0, v1, …); the guard and the position key; the history columns.
  const slot = new Map(schema.columns.map((c, i) => [c.name, `v${i}`]));
  const values = new Map(
    schema.columns.map((c) => [c.name, payloadValue(c, slot.get(c.name)!, `p[${lit(c.name)}]`)]),
  );
  const guards: string[] = [
    `json_type(uuid) IS NULL OR json_type(uuid) IN ('VARCHAR', 'NULL')`,
    `json_type(stream_name) IS NULL OR json_type(stream_name) IN ('VARCHAR', 'NULL')`,
    ...['source_timestamp', 'read_timestamp'].map(
      (f) =>
        `json_type(${f}) IN ${INT} OR (json_type(${f}) = 'VARCHAR' AND regexp_full_match(${f}->>'$', ` +
        `'-?[0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?)?(Z|[+-]00:?00)?'))`,
    ),
    `m IS NOT NULL`,
    `json_type(m.change_type) = 'VARCHAR' AND ct IN (${CHANGE_TYPES.map(lit).join(', ')})`,
    // A snapshot row's binlog coordinates are not read (JavaScript keeps '' and 0).
    `snap OR (json_type(m.log_file) = 'VARCHAR' AND regexp_full_match(lf, '.*\\.[0-9]{1,10}'))`,
    `snap OR (json_type(m.log_position) IN ${INT} AND lp BETWEEN 0 AND 999999999999999)`,
    `json_type(m.row_index) IN ${INT} AND ri BETWEEN 0 AND CASE WHEN snap THEN 999999999999 ELSE 999999999 END`,
    `NOT snap OR m.snapshot_id IS NULL OR json_type(m.snapshot_id) IN ('VARCHAR', 'NULL')`,
    `json_type(m.commit_timestamp) = 'VARCHAR' AND regexp_full_match(cts, '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z') AND TRY_CAST(cts AS TIMESTAMPTZ) IS NOT NULL`,
    `pb IS NULL OR json_type(pb) = 'NULL'`,
    `p IS NOT NULL AND list_has_all([${schema.columns.map((c) => lit(c.name)).join(', ')}]::VARCHAR[], map_keys(p))`,
    ...[...values.values()].map((v) => v.guard),
  ];
  for (const h of history) {
    const c = byName.get(h.name);
    if (c && duckdbType(h) === 'VARCHAR' && DIGIT_KINDS.has(c.kind)) {
      const raw = slot.get(c.name)!;
      guards.push(`${raw} IS NULL OR ${canonicalDigits(raw)}`);
    }
  }
  // A key column whose history column is text is spelled as a string (textKey).
  const keyParts = schema.primaryKeys.map((k) =>
    keyPart(
      byName.get(k)!,
      slot.get(k)!,
      history.some((h) => h.name === k && duckdbType(h) === 'VARCHAR'),
    ),
  );
  guards.push(...keyParts.map((k) => k.guard));
  const key =
    schema.primaryKeys.length === 0
      ? 'NULL'
      : `'[' || ${keyParts.map((k) => k.text).join(` || ',' || `)} || ']'`;
  // src/core/position.ts positionKey, and src/core/version-id.ts versionId.
  const pos =
    `CASE WHEN snap THEN '0:' || lpad(CAST(ri AS VARCHAR), 12, '0') ELSE ` +
    `'1:' || lpad(CAST(TRY_CAST(regexp_extract(lf, '\\.([0-9]+)$', 1) AS BIGINT) AS VARCHAR), 10, '0')` +
    ` || ':' || lpad(CAST(lp AS VARCHAR), 15, '0') || ':' || lpad(CAST(ri AS VARCHAR), 9, '0')` +
    ` || ':' || CASE WHEN ct = 'UPDATE-DELETE' THEN '0' ELSE '1' END END`;
  const table = `${lit(schema.database)} || chr(0) || ${lit(schema.table)} || chr(0)`;
  const snapshotIdentity =
    `'snapshot' || chr(0) || CASE WHEN json_type(m.snapshot_id) = 'VARCHAR' THEN m.snapshot_id->>'$' ELSE '' END` +
    (schema.primaryKeys.length === 0
      ? ` || chr(0) || '#' || CAST(ri AS VARCHAR)`
      : keyParts.map((k) => ` || chr(0) || ${k.id}`).join(''));
  const versionId = `substr(sha256(${table} || CASE WHEN snap THEN ${snapshotIdentity} ELSE pos || chr(0) || ct END), 1, 32)`;
  const typed = history.map((h) => {
    const c = byName.get(h.name);
    const name = ident(h.name);
    if (!c) return `CAST(NULL AS ${duckdbType(h)}) AS ${name}`;
    // JavaScript rounds a FLOAT's text to a double, then to 32 bits (Math.fround): the same two steps.
    const { text } = values.get(h.name)!;
    if (c.kind === 'float' && h.kind === 'float')
      return `CAST(TRY_CAST(${text} AS DOUBLE) AS FLOAT) AS ${name}`;
    return `${castIn(h, text)} AS ${name}`;
  });
  const meta = [
    `CASE WHEN ok THEN ${versionId} ELSE error('line not read natively in ' || filename) END AS _tt_version_id`,
    `${key} AS _tt_key`,
    `ct AS _tt_op`,
    `ct IN ('DELETE', 'UPDATE-DELETE') AS _tt_deleted`,
    `CAST(cts AS TIMESTAMPTZ) AS _tt_commit_ts`,
    `pos AS _tt_position`,
    `CASE WHEN snap THEN '' ELSE lf END AS _tt_log_file`,
    `CASE WHEN snap THEN 0 ELSE lp END AS _tt_log_pos`,
    `CAST(ri AS INTEGER) AS _tt_row_index`,
    `CASE WHEN json_type(m.gtid) = 'VARCHAR' THEN m.gtid->>'$' END AS _tt_gtid`,
    `snap AS _tt_snapshot`,
    `now() AS _tt_ingested_at`,
    `substr(filename, ${prefixLength + 1}) AS _tt_file`,
    `CAST(NULL AS VARCHAR) AS _tt_raw`,
  ];
  const read = `read_json(${fileList(paths)}, format = 'newline_delimited', filename = true,
      columns = {uuid: 'JSON', read_method: 'JSON', stream_name: 'JSON', source_timestamp: 'JSON', read_timestamp: 'JSON',
                 source_metadata: 'STRUCT(log_file JSON, log_position JSON, row_index JSON, change_type JSON, commit_timestamp JSON, gtid JSON, snapshot_id JSON)',
                 payload: 'MAP(VARCHAR, JSON)', payload_before: 'JSON'})`;
  return `SELECT ${[...typed, ...meta].join(',\n      ')}
    FROM (SELECT *, ${pos} AS pos, coalesce(${guards.map((g) => `(${g})`).join(' AND ')}, false) AS ok
            FROM (SELECT *, source_metadata AS m, payload AS p, payload_before AS pb,
                         contains(read_method->>'$', 'backfill') AS snap,
                         source_metadata.change_type->>'$' AS ct, source_metadata.log_file->>'$' AS lf,
                         TRY_CAST(source_metadata.log_position->>'$' AS BIGINT) AS lp,
                         TRY_CAST(source_metadata.row_index->>'$' AS BIGINT) AS ri,
                         source_metadata.commit_timestamp->>'$' AS cts,
                         ${schema.columns.map((c) => `CAST(payload[${lit(c.name)}] AS VARCHAR) AS ${slot.get(c.name)}`).join(', ')}
                    FROM ${read}))`;
}
