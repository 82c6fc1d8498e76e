import { ConfigError } from '../core/index.ts';

/**
 * `--tables db.t1,db.t2,shop.*`: which tables to capture. `*` matches any run of characters in
 * one part; system schemas are never captured.
 */
export function tableFilter(spec: string, exclude?: string): (database: string, table: string) => boolean {
  const patterns = parsePatterns(spec, '--tables');
  if (patterns.length === 0)
    throw new ConfigError('TABLES', '--tables is empty: name at least one table, e.g. --tables shop.orders');
  const excluded = exclude ? parsePatterns(exclude, '--exclude-tables') : [];
  const system = new Set(['mysql', 'information_schema', 'performance_schema', 'sys']);
  const matches = (ps: typeof patterns, database: string, table: string) =>
    ps.some(([d, t]) => d.test(database) && t.test(table));
  return (database, table) =>
    !system.has(database.toLowerCase()) &&
    matches(patterns, database, table) &&
    !matches(excluded, database, table);
}

function parsePatterns(spec: string, flag: string): (readonly [RegExp, RegExp])[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((p) => {
      const dot = p.indexOf('.');
      if (dot <= 0 || dot === p.length - 1) {
        throw new ConfigError(
          'TABLES',
          `'${p}' in ${flag} is not database.table (use db.* for every table of a database)`,
        );
      }
      const toRegex = (part: string) =>
        new RegExp(`^${part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`);
      return [toRegex(p.slice(0, dot)), toRegex(p.slice(dot + 1))] as const;
    });
}

/** The tables `--tables` names exactly (no `*`), as "db.table". */
export function exactTableNames(spec: string): string[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && !s.includes('*'));
}
