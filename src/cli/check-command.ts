import { connectSource, preflight, redactUrl, tableFilter } from '../capture/index.ts';
import { resolveSourceUrl } from './source-url.ts';

/**
 * `tabletime check --source URL --tables …`: prints every problem with its fix; exit 0 only when
 * capture can run. `--json` prints the report as JSON.
 */
export async function checkCommand(
  opts: {
    source?: string;
    sourcePasswordFile?: string;
    tables: string;
    excludeTables?: string;
    json?: boolean;
    strictPrivileges?: boolean;
  },
  out: NodeJS.WritableStream,
): Promise<number> {
  const url = await resolveSourceUrl(opts);
  const conn = await connectSource(url);
  try {
    const report = await preflight(conn, tableFilter(opts.tables, opts.excludeTables), {
      strictPrivileges: opts.strictPrivileges === true,
    });
    if (opts.json) {
      out.write(`${JSON.stringify({ source: redactUrl(url), ...report }, null, 2)}\n`);
    } else {
      out.write(`tabletime check: ${redactUrl(url)} (${report.server})\n`);
      const mark = { ok: '  ok   ', warning: '  WARN ', error: '  FAIL ' } as const;
      for (const f of report.findings) {
        out.write(`${mark[f.severity]} ${f.check}: ${f.message}\n`);
        if (f.fix) out.write(`         fix: ${f.fix}\n`);
      }
      const errors = report.findings.filter((f) => f.severity === 'error').length;
      out.write(
        report.ok
          ? 'capture can run.\n'
          : `${errors} problem(s) stop capture; fix them and run check again.\n`,
      );
    }
    return report.ok ? 0 : 1;
  } finally {
    await conn.end();
  }
}
