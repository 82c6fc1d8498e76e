/**
 * Starts and stops the throw-away MariaDB of scripts/dev-mariadb.sh from Node (tests, the demo).
 * The shell script is the one implementation; this only calls it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigError } from '../core/index.ts';

const run = promisify(execFile);

/** The repository root (works from src/ through tsx and from dist/ alike). */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEV_MARIADB_SCRIPT = join(repoRoot, 'scripts', 'dev-mariadb.sh');

export interface DevMariadb extends AsyncDisposable {
  /** `mysql://root@127.0.0.1:PORT/` */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The server's folder: datadir, socket, log. */
  readonly dir: string;
  stop(): Promise<void>;
  /** Stops the server cleanly (or with SIGKILL when `kill9`) and starts it again on the same port and data. */
  restart(options?: { kill9?: boolean }): Promise<void>;
}

export interface StartDevMariadbOptions {
  /** The server's folder; default a new temporary one, removed on stop. */
  readonly dir?: string;
  readonly port?: number;
  /** Extra mariadbd options, after ours (they win): e.g. ['--skip-log-bin']. */
  readonly serverArgs?: readonly string[];
}

async function script(args: string[], serverArgs: readonly string[] = []): Promise<string> {
  try {
    const env = { ...process.env, TABLETIME_DEV_MARIADB_ARGS: serverArgs.join(' ') };
    const { stdout } = await run('bash', [DEV_MARIADB_SCRIPT, ...args], { maxBuffer: 1024 * 1024, env });
    return stdout.trim();
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? '').trim();
    throw new ConfigError('DEV_MARIADB', stderr || `dev-mariadb.sh ${args.join(' ')} failed: ${String(err)}`);
  }
}

export async function startDevMariadb(options: StartDevMariadbOptions = {}): Promise<DevMariadb> {
  const owned = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'tabletime-mariadb-')));
  const args = ['start', '--dir', dir];
  if (options.port !== undefined) args.push('--port', String(options.port));
  const out = await script(args, options.serverArgs);
  const url = out.split('\n').at(-1) ?? '';
  const port = Number(new URL(url).port);
  const readPid = async () => Number((await readFile(join(dir, 'mariadbd.pid'), 'utf8')).trim());
  let pid = await readPid();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await script(['stop', '--dir', dir]);
    if (owned) await rm(dir, { recursive: true, force: true });
  };
  const restart = async (opts: { kill9?: boolean } = {}): Promise<void> => {
    if (opts.kill9) {
      process.kill(pid, 'SIGKILL');
      await waitForExit(pid);
    }
    await script(['stop', '--dir', dir]);
    await script(['start', '--dir', dir, '--port', String(port)], options.serverArgs);
    pid = await readPid();
  };
  return {
    url,
    port,
    get pid() {
      return pid;
    },
    dir,
    stop,
    restart,
    [Symbol.asyncDispose]: stop,
  };
}

async function waitForExit(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
