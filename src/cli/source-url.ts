import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/index.ts';
import { readSecret } from './secret.ts';

/**
 * The source URL from `--source`, or the TABLETIME_SOURCE environment variable; a password may
 * also come from TABLETIME_SOURCE_PASSWORD, a file (`--source-password-file`) or Google Secret
 * Manager (TABLETIME_SOURCE_PASSWORD_SECRET=projects/P/secrets/S: src/cli/secret.ts), so it need not
 * sit in the shell history. The URL is never printed with its password.
 */
export async function resolveSourceUrl(opts: {
  source?: string;
  sourcePasswordFile?: string;
}): Promise<string> {
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
  const secret = process.env.TABLETIME_SOURCE_PASSWORD_SECRET;
  const password = opts.sourcePasswordFile
    ? readFileSync(opts.sourcePasswordFile, 'utf8').replace(/\r?\n$/, '')
    : (process.env.TABLETIME_SOURCE_PASSWORD ??
      (secret && !url.password ? await readSecret(secret) : undefined));
  if (password !== undefined && !url.password) url.password = encodeURIComponent(password);
  return url.toString();
}
