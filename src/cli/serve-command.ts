import { resolve } from 'node:path';
import { createApi } from '../http/api.ts';
import { startHttp } from '../http/server.ts';
import { openStore } from '../store/index.ts';
import { createLogger } from './logger.ts';

/**
 * `tabletime serve`: the HTTP API and the page over a store when no `run` holds it (a `run` serves
 * them itself with `--http`). Runs until SIGINT/SIGTERM.
 */
export async function serveCommand(opts: {
  dataDir: string;
  store?: string;
  http?: string;
  tokenFile?: string;
}): Promise<number> {
  const logger = createLogger();
  await using store = await openStore(resolve(opts.dataDir), opts.store, {
    existing: true,
    notice: (m) => logger.info(m),
  });
  await using http = await startHttp(createApi({ store }), {
    listen: opts.http,
    tokenFile: opts.tokenFile,
    logger,
  });
  process.stderr.write(`tabletime: serving ${http.url} (Ctrl-C stops)\n`);
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  return 0;
}
