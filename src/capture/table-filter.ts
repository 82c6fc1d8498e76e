import { ConfigError } from '../core/index.ts';

/**
 * `--tables db.t1,db.t2,shop.*`: which tables to capture. `*` matches any run of characters in
 * one part; system schemas are never captured.
 */
export function tableFilter(spec: string): (database: string, table: string) => boolean {
  const patterns = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((p) => {
      const dot = p.indexOf('.');
      if (dot <= 0 || dot === p.length - 1) {
        throw new ConfigError(
          'TABLES',
          `'${p}' in --tables is not database.table (use db.* for every table of a database)`,
        );
      }
      const toRegex = (part: string) =>
        new RegExp(`^${part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`);
      return [toRegex(p.slice(0, dot)), toRegex(p.slice(dot + 1))] as const;
    });
  if (patterns.length === 0)
    throw new ConfigError('TABLES', '--tables is empty: name at least one table, e.g. --tables shop.orders');
  const system = new Set(['mysql', 'information_schema', 'performance_schema', 'sys']);
  return (database, table) =>
    !system.has(database.toLowerCase()) && patterns.some(([d, t]) => d.test(database) && t.test(table));
}

/** The tables `--tables` names exactly (no `*`), as "db.table". */
export function exactTableNames(spec: string): string[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && !s.includes('*'));
}
