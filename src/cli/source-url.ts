import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/index.ts';

/**
 * The source URL from `--source`, or the TABLETIME_SOURCE environment variable; a password may
 * also come from TABLETIME_SOURCE_PASSWORD or a file (`--source-password-file`), so it need not
 * sit in the shell history. The URL is never printed with its password.
 */
export function resolveSourceUrl(opts: { source?: string; sourcePasswordFile?: string }): string {
  const raw = opts.source ?? process.env.TABLETIME_SOURCE;
  if (!raw) {
    throw new ConfigError(
      'SOURCE',
      'no source: pass --source mysql://user@host:3306/ (or set TABLETIME_SOURCE)',
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('SOURCE', 'the source is not a URL: write it as mysql://user:password@host:3306/');
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw new ConfigError('SOURCE', `the source URL must start with mysql:// (got ${url.protocol}//)`);
  }
  url.protocol = 'mysql:';
  const password = opts.sourcePasswordFile
    ? readFileSync(opts.sourcePasswordFile, 'utf8').replace(/\r?\n$/, '')
    : process.env.TABLETIME_SOURCE_PASSWORD;
  if (password !== undefined && !url.password) url.password = encodeURIComponent(password);
  return url.toString();
}
