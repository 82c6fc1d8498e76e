/**
 * How commands reach a running `tabletime run`: HTTP over a unix socket in the data dir
 * (`DIR/run.sock`, owner-only). `query`, `status` and `wait` try it first; when nothing answers
 * (no pipeline, or a socket left by a killed one) they work on the files directly.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { type ErrorKind, TabletimeError } from '../core/index.ts';

export function socketPathOf(dataDir: string): string {
  return join(dataDir, 'run.sock');
}

export interface RunAnswer {
  readonly output: string;
  readonly exitCode: number;
  readonly error?: { code: string; kind?: ErrorKind; message: string };
  readonly data?: unknown;
}

/** Sends one request to the running pipeline; null when none answers. */
export function askRunning(
  dataDir: string,
  path: string,
  body: unknown,
  timeoutMs = 600_000,
): Promise<RunAnswer | null> {
  return new Promise((resolve) => {
    const payload = JSON.stringify(body);
    const req = request(
      {
        socketPath: socketPathOf(dataDir),
        path: `/${path}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text) as RunAnswer);
          } catch {
            resolve(null);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(null));
    req.end(payload);
  });
}

/** The error a running pipeline answered with, as ours again (same code and kind). */
export function answeredError(error: NonNullable<RunAnswer['error']>): TabletimeError {
  return new TabletimeError(error.code, error.kind ?? 'config', error.message);
}
