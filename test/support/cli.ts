import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './paths.ts';

const CLI = ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts')];
const execFileAsync = promisify(execFile);

/** Runs `tabletime ARGS…` from the sources and waits; rejects (with code, stdout, stderr) on a non-zero exit. */
export function runTabletime(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(process.execPath, [...CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
  });
}

/** Starts `tabletime ARGS…` as a process of its own (stderr piped) for tests that signal or kill it. */
export function spawnTabletime(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [...CLI, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
}

/**
 * Waits until a `tabletime run` on `dataDir` answers (it starts in about a second) and everything
 * committed so far is queryable; returns `wait`'s output. `stderr` tells why, if it never answers.
 */
export async function untilRunAnswers(dataDir: string, stderr: () => string, tries: number): Promise<string> {
  for (let i = 0; i < tries; i++) {
    try {
      return (await runTabletime(['wait', '--data-dir', dataDir, '--timeout', '30'])).stdout;
    } catch (err) {
      if (!/NOT_RUNNING/.test((err as { stderr?: string }).stderr ?? '')) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`run never answered: ${stderr()}`);
}

/** A free TCP port on 127.0.0.1 (for a process of our own to listen on). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** `tabletime run` on every table of `shop`, with `extra` flags; its stderr is collected. */
export function spawnRun(
  source: string,
  dataDir: string,
  extra: string[] = [],
): { child: ChildProcess; stderr: () => string; stop: () => Promise<void> } {
  let stderr = '';
  const child = spawnTabletime([
    'run',
    '--source',
    source,
    '--tables',
    'shop.*',
    '--data-dir',
    dataDir,
    ...extra,
  ]);
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return { child, stderr: () => stderr, stop };
}
