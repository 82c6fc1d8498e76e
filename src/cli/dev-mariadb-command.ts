import { spawn } from 'node:child_process';
import { DEV_MARIADB_SCRIPT } from '../devdb/index.ts';
import { ConfigError } from '../core/index.ts';

/** `tabletime dev-mariadb start|stop|status`: runs scripts/dev-mariadb.sh with the same arguments. */
export async function devMariadb(
  action: string,
  opts: { dir: string; port?: string },
  _out: NodeJS.WritableStream,
): Promise<number> {
  if (!['start', 'stop', 'status'].includes(action)) {
    throw new ConfigError('USAGE', `dev-mariadb takes start, stop or status, not '${action}'`);
  }
  const args = [DEV_MARIADB_SCRIPT, action, '--dir', opts.dir];
  if (opts.port !== undefined) args.push('--port', opts.port);
  const child = spawn('bash', args, { stdio: 'inherit' });
  return new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}
