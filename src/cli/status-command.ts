import { resolve } from 'node:path';
import { ConfigError } from '../core/index.ts';
import { positiveSecondsMs } from './numbers.ts';
import type { StatusReport } from './run-command.ts';
import { answeredError, askRunning } from './run-socket.ts';

/** `tabletime status --data-dir DIR [--json]`: what a running `tabletime run` reports. */
export async function statusCommand(
  opts: { dataDir: string; json?: boolean },
  out: NodeJS.WritableStream,
): Promise<number> {
  const answer = await askRunning(resolve(opts.dataDir), 'status', {}, 30_000);
  if (!answer) {
    throw new ConfigError(
      'NOT_RUNNING',
      `no \`tabletime run\` answers on ${resolve(opts.dataDir)}: start one (status is reported by the running pipeline)`,
    );
  }
  if (answer.error) throw answeredError(answer.error);
  const s = answer.data as StatusReport;
  if (opts.json) {
    out.write(`${JSON.stringify(s, null, 2)}\n`);
    return 0;
  }
  const pos = (p: { logFile: string; logPosition: number } | null) =>
    p ? `${p.logFile}:${p.logPosition}` : 'unknown';
  out.write(`captured up to   ${pos(s.captured)}${s.captured?.gtid ? ` (GTID ${s.captured.gtid})` : ''}\n`);
  out.write(
    `source is at     ${pos(s.source)}${s.behindBytes !== null ? ` (${s.behindBytes} bytes of binlog behind)` : ''}\n`,
  );
  out.write(`lag              ${s.lagSeconds === null ? 'unknown' : `${s.lagSeconds} s`}\n`);
  out.write(`files to apply   ${s.filesPending} (${s.eventsPending} changes)\n`);
  out.write(`dead letters     ${s.deadLetters}\n`);
  if (s.storeError) out.write(`store            unreachable (apply waits for it): ${s.storeError}\n`);
  for (const t of s.tables) out.write(`${`${t.database}.${t.table}`.padEnd(30)} ${t.versions} versions\n`);
  return 0;
}

/** `tabletime wait --data-dir DIR [--timeout S]`: 0 once every change committed before the call is queryable. */
export async function waitCommand(opts: { dataDir: string; timeout?: string }): Promise<number> {
  const timeoutMs = positiveSecondsMs(opts.timeout, '--timeout') ?? 60_000;
  const answer = await askRunning(resolve(opts.dataDir), 'wait', { timeoutMs }, timeoutMs + 10_000);
  if (!answer)
    throw new ConfigError('NOT_RUNNING', `no \`tabletime run\` answers on ${resolve(opts.dataDir)}`);
  if (answer.error) throw answeredError(answer.error);
  if (answer.exitCode !== 0)
    process.stderr.write(`tabletime: TIMEOUT: not everything was queryable after ${timeoutMs / 1000} s\n`);
  return answer.exitCode;
}
