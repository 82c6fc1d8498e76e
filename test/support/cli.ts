import { type ChildProcess, execFile, spawn } from 'node:child_process';
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
