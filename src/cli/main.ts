/**
 * The `tabletime` command line. Each subcommand lives in its own file; this one only wires them.
 * Errors of ours print as one line (`tabletime: CODE: message`) and exit 1 (2 for usage);
 * anything else is a bug and prints its stack.
 */
import { Command, CommanderError } from 'commander';
import { TabletimeError } from '../core/index.ts';
import type { CaptureCommandOptions } from './capture-command.ts';
import type { RunCommandOptions } from './run-command.ts';
import type { ApplyCommandOptions } from './apply-command.ts';
import type { QueryOptions } from './query-command.ts';
import type { VerifyCommandOptions } from './verify-command.ts';
import type { withConfig as WithConfig } from './config.ts';

// Each command's module (and the libraries it needs: DuckDB, mysql2, pg, NATS, zod, …) is loaded
// when that command runs: loading every one of them took 0.7 s before any command started.
const withConfig: typeof WithConfig = async (...args) => (await import('./config.ts')).withConfig(...args);

/**
 * Exit codes: 2 for anything the user must fix (usage, setup, a table or source that is not
 * there), 1 for a failure of the work itself (a transient outage that outlasted its retries, a
 * check or verify that found problems, a bug).
 */
function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof TabletimeError) return err.kind === 'config' ? 2 : 1;
  return 1;
}

/** One line, never a stack (add --debug for it). */
function errorLine(err: unknown): string {
  if (err instanceof TabletimeError) return `tabletime: ${err.code}: ${err.message.split('\n')[0]}`;
  const message = err instanceof Error ? err.message : String(err);
  return `tabletime: INTERNAL: ${message.split('\n')[0]} (a bug: run again with --debug for the stack and report it)`;
}

const program = new Command();
program
  .name('tabletime')
  .description('Full, queryable history of MySQL/MariaDB tables from the binary log.')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride()
  .addHelpText('after', '\nAdd --debug to any command to see stack traces with errors.');

program
  .command('demo')
  .description('Run a short story on a throw-away MariaDB and show what tabletime captured (about 10 s)')
  .option('--data-dir <dir>', 'where the demo keeps its bucket and checkpoint', '.dev/demo')
  .option('--keep', 'leave the MariaDB running (stop it with `tabletime dev-mariadb stop --dir DIR`)')
  .option(
    '--source <url>',
    'use your server (in a new database `tabletime_demo`) instead of a throw-away MariaDB',
  )
  .action(async (opts: { keep?: boolean; dataDir: string; source?: string }) => {
    process.exitCode = await (
      await import('./demo.ts')
    ).demo({
      keep: opts.keep === true,
      dataDir: opts.dataDir,
      source: opts.source,
      out: process.stdout,
    });
  });

program
  .command('dev-mariadb')
  .description('Start, stop or show the development MariaDB (binlog ROW/FULL, time zone Pacific/Apia)')
  .argument('<action>', 'start | stop | status')
  .option('--dir <dir>', 'the server folder (datadir, socket, log)', '.dev/mariadb')
  .option('--port <port>', 'the TCP port (default: a free one)')
  .action(async (action: string, opts: { dir: string; port?: string }) => {
    process.exitCode = await (
      await import('./dev-mariadb-command.ts')
    ).devMariadb(action, opts, process.stdout);
  });

program
  .command('run')
  .description(
    'Capture and apply in one process into DIR (bucket, checkpoint, history.duckdb); answers query/status/wait',
  )
  .option('--source <url>', 'mysql://user[:password]@host:port/ (or TABLETIME_SOURCE)')
  .option(
    '--source-password-file <file>',
    'read the password from this file (or TABLETIME_SOURCE_PASSWORD, or TABLETIME_SOURCE_PASSWORD_SECRET=projects/P/secrets/S)',
  )
  .option('--tables <list>', 'tables to capture: db.t1,db.t2,db.*')
  .option('--exclude-tables <list>', 'tables to leave out of --tables: db.tmp_*,…')
  .option('--data-dir <dir>', 'where the bucket, the checkpoint and the history store live')
  .option(
    '--store <url>',
    'history store: postgres://user@host:5432/db (default: DuckDB in DIR/history.duckdb)',
  )
  .option('--flush-interval-ms <ms>', 'how often changes are made durable (default 200)')
  .option('--file-rotation-mb <mb>', 'start a new change file once one holds this much (default 16)')
  .option('--http <host:port>', 'also serve the HTTP API and the web page, e.g. 127.0.0.1:8080')
  .option('--token-file <file>', 'bearer token for the HTTP API (required unless --http is on loopback)')
  .option(
    '--config <file>',
    'settings from a tabletime.yaml (docs/tabletime.example.yaml); flags given here win',
  )
  .action(async (flags: RunCommandOptions, cmd: Command) => {
    const opts = await withConfig(flags, (n: string) => cmd.getOptionValueSource(n) === 'cli', [
      'tables',
      'dataDir',
    ]);
    process.exitCode = await (await import('./run-command.ts')).runCommand(opts);
  });

program
  .command('serve')
  .description('Serve the HTTP API and the web page over a history store no `run` holds')
  .option('--data-dir <dir>', 'the data dir (its DuckDB file), or any with --store')
  .option('--store <url>', 'history store: postgres://… or bigquery://… (default: DuckDB in DIR)')
  .option('--http <host:port>', 'where to listen (default 127.0.0.1:8080)')
  .option('--token-file <file>', 'bearer token (required unless --http is on loopback)')
  .option(
    '--config <file>',
    'settings from a tabletime.yaml (docs/tabletime.example.yaml); flags given here win',
  )
  .action(
    async (flags: { dataDir: string; store?: string; http?: string; tokenFile?: string }, cmd: Command) => {
      const opts = await withConfig(flags, (n: string) => cmd.getOptionValueSource(n) === 'cli', ['dataDir']);
      process.exitCode = await (await import('./serve-command.ts')).serveCommand(opts);
    },
  );

program
  .command('status')
  .description('What a running `tabletime run` has captured and applied, and how far behind it is')
  .requiredOption('--data-dir <dir>', 'the data dir of the running pipeline')
  .option('--json', 'print as JSON')
  .action(async (opts: { dataDir: string; json?: boolean }) => {
    process.exitCode = await (await import('./status-command.ts')).statusCommand(opts, process.stdout);
  });

program
  .command('wait')
  .description('Exit 0 once every change committed at the source before the call is queryable (for scripts)')
  .requiredOption('--data-dir <dir>', 'the data dir of the running pipeline')
  .option('--timeout <seconds>', 'give up after this long (exit 1); default 60')
  .action(async (opts: { dataDir: string; timeout?: string }) => {
    process.exitCode = await (await import('./status-command.ts')).waitCommand(opts);
  });

program
  .command('check')
  .description(
    'Check that the source is set up for capture; lists every problem with its fix (exit 0 only when capture can run)',
  )
  .option('--source <url>', 'mysql://user[:password]@host:port/ (or TABLETIME_SOURCE)')
  .option(
    '--source-password-file <file>',
    'read the password from this file (or TABLETIME_SOURCE_PASSWORD, or TABLETIME_SOURCE_PASSWORD_SECRET=projects/P/secrets/S)',
  )
  .option('--tables <list>', 'tables to capture: db.t1,db.t2,db.*')
  .option('--exclude-tables <list>', 'tables to leave out of --tables: db.tmp_*,…')
  .option('--json', 'print the report as JSON')
  .option('--strict-privileges', 'fail (not just warn) when the user has more privilege than capture needs')
  .option(
    '--config <file>',
    'settings from a tabletime.yaml (docs/tabletime.example.yaml); flags given here win',
  )
  .action(
    async (
      flags: {
        source?: string;
        sourcePasswordFile?: string;
        tables: string;
        json?: boolean;
        strictPrivileges?: boolean;
      },
      cmd: Command,
    ) => {
      const opts = await withConfig(flags, (n: string) => cmd.getOptionValueSource(n) === 'cli', ['tables']);
      process.exitCode = await (await import('./check-command.ts')).checkCommand(opts, process.stdout);
    },
  );

program
  .command('capture')
  .description('Read the source binlog into change files under DIR/bucket (foreground; Ctrl-C stops cleanly)')
  .option('--source <url>', 'mysql://user[:password]@host:port/ (or TABLETIME_SOURCE)')
  .option(
    '--source-password-file <file>',
    'read the password from this file (or TABLETIME_SOURCE_PASSWORD, or TABLETIME_SOURCE_PASSWORD_SECRET=projects/P/secrets/S)',
  )
  .option('--tables <list>', 'tables to capture: db.t1,db.t2,db.*')
  .option('--exclude-tables <list>', 'tables to leave out of --tables: db.tmp_*,…')
  .option('--data-dir <dir>', 'where the bucket and the checkpoint live')
  .option('--gzip', 'gzip the change files')
  .option('--flush-interval-ms <ms>', 'how often changes are made durable (default 200)')
  .option('--file-rotation-mb <mb>', 'start a new change file once one holds this much (default 16)')
  .option('--server-id <id>', 'replica server id (default: derived from --data-dir)')
  .option('--no-snapshot', 'start at the end of the binlog without reading the tables first')
  .option('--notify <url>', 'announce each new file on NATS JetStream: nats://host:port/subject')
  .option(
    '--bucket <url>',
    'also publish the files to a shared bucket: gs://BUCKET[/prefix] or a shared folder (removed locally once there)',
  )
  .option(
    '--snapshot-chunk-rows <n>',
    'rows per snapshot query (default: about 1 MiB of change lines, 100-10000 rows)',
  )
  .option(
    '--config <file>',
    'settings from a tabletime.yaml (docs/tabletime.example.yaml); flags given here win',
  )
  .action(async (flags: CaptureCommandOptions, cmd: Command) => {
    const opts = await withConfig(flags, (n: string) => cmd.getOptionValueSource(n) === 'cli', [
      'tables',
      'dataDir',
    ]);
    process.exitCode = await (await import('./capture-command.ts')).captureCommand(opts);
  });

program
  .command('apply')
  .description(
    'Apply every change file in DIR/bucket not applied yet into the history store (DIR/history.duckdb)',
  )
  .option('--data-dir <dir>', 'the data dir capture writes to')
  .option(
    '--store <url>',
    'history store: postgres://user@host:5432/db (default: DuckDB in DIR/history.duckdb)',
  )
  .option(
    '--retry-dead-letters',
    'apply the dead letters again, once their cause is fixed (exit 1 while some stay bad)',
  )
  .option(
    '--notifications <url>',
    'run as one of N workers on a shared subscription: nats://host:port/subject or pubsub://PROJECT/SUBSCRIPTION (until stopped)',
  )
  .option('--bucket <url>', 'read the files from a shared bucket: gs://BUCKET[/prefix] or a shared folder')
  .option(
    '--sweep-interval <seconds>',
    'with --notifications: how often to apply files that stayed unapplied that long (default 60)',
  )
  .option(
    '--config <file>',
    'settings from a tabletime.yaml (docs/tabletime.example.yaml); flags given here win',
  )
  .action(async (flags: ApplyCommandOptions, cmd: Command) => {
    const opts = await withConfig(flags, (n: string) => cmd.getOptionValueSource(n) === 'cli', ['dataDir']);
    process.exitCode = await (await import('./apply-command.ts')).applyCommand(opts, process.stdout);
  });

program
  .command('query')
  .description(
    'Ask the history: tables | current T | as-of T --at TIME|--at-position POS | history T [--key col=value] | diff T --from T1 --to T2',
  )
  .argument('<what>', 'tables, current, as-of, history or diff')
  .argument('[table]', 'database.table')
  .requiredOption('--data-dir <dir>', 'the data dir holding history.duckdb')
  .option(
    '--store <url>',
    'history store: postgres://user@host:5432/db (default: DuckDB in DIR/history.duckdb)',
  )
  .option('--at <time>', 'for as-of: an ISO-8601 time (zone-less = UTC)')
  .option(
    '--at-position <pos>',
    'for as-of: right after a transaction, by binlog position (mysql-bin.000003:4567) or GTID',
  )
  .option('--from <time>', 'for diff: the earlier time')
  .option('--to <time>', 'for diff: the later time')
  .option('--key <col=value,...>', 'for history: one record')
  .option('--format <format>', 'table (default), jsonl or csv')
  .action(async (what: string, table: string | undefined, opts: QueryOptions) => {
    process.exitCode = await (
      await import('./query-command.ts')
    ).queryCommand(what, table, opts, process.stdout);
  });

program
  .command('verify')
  .description(
    'Compare the history with the live source, chunk by chunk at exact binlog positions, while writes go on (exit 1 on a mismatch)',
  )
  .option('--source <url>', 'mysql://user[:password]@host:port/ (or TABLETIME_SOURCE)')
  .option(
    '--source-password-file <file>',
    'read the password from this file (or TABLETIME_SOURCE_PASSWORD, or TABLETIME_SOURCE_PASSWORD_SECRET=projects/P/secrets/S)',
  )
  .option('--data-dir <dir>', 'the data dir of the pipeline (capture checkpoint, bucket, history)')
  .option(
    '--store <url>',
    'history store: postgres://user@host:5432/db (default: DuckDB in DIR/history.duckdb, or the running `run`)',
  )
  .option('--tables <list>', 'tables to compare: db.t1,db.* (default: every table with a history)')
  .option('--chunk-rows <n>', 'records per chunk (default 2000)')
  .option('--timeout <seconds>', 'how long to wait for apply to reach a chunk (default 60)')
  .option(
    '--config <file>',
    'settings from a tabletime.yaml (docs/tabletime.example.yaml); flags given here win',
  )
  .action(async (flags: VerifyCommandOptions, cmd: Command) => {
    const opts = await withConfig(flags, (n: string) => cmd.getOptionValueSource(n) === 'cli', ['dataDir']);
    process.exitCode = await (await import('./verify-command.ts')).verifyCommand(opts, process.stdout);
  });

program
  .command('inspect')
  .description(
    "Print the events of change files (ours or Google Datastream's, JSON or Avro), one JSON object a line",
  )
  .argument('<files...>', 'change files')
  .action(async (files: string[]) => {
    process.exitCode = await (await import('./inspect.ts')).inspect(files, process.stdout, process.stderr);
  });

// Output read by something that stopped reading (`tabletime query … | head`): the rest is not
// wanted, so stop quietly, as other command-line tools do, instead of reporting a bug.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

// `--debug` (anywhere) or TABLETIME_DEBUG=1: errors print their stack too.
const debug = process.argv.includes('--debug') || process.env.TABLETIME_DEBUG === '1';
try {
  await program.parseAsync(process.argv.filter((a) => a !== '--debug'));
} catch (err) {
  process.exitCode = exitCodeOf(err);
  if (!(err instanceof CommanderError)) {
    process.stderr.write(`${errorLine(err)}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  }
}
