/**
 * How commands reach a running `tabletime run`: HTTP over a unix socket in the data dir
 * (`DIR/run.sock`, owner-only). `query`, `status` and `wait` try it first; when nothing answers
 * (no pipeline, or a socket left by a killed one) they work on the files directly.
 *
 * A query's answer is sent as it is made, in lines of JSON: `{"o": text}` for each piece of output,
 * then the answer itself (`{"exitCode": …, "error": …}`). The pipeline holds one page of a large
 * answer at a time, not the whole of it twice (rows and text), as a single reply did: a query of
 * 287,205 rows took `run` from 573 to 1,552 MiB that way (docs/performance.md, session 13).
 */
import { type ClientRequest, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type ErrorKind, TabletimeError, TransientError } from '../core/index.ts';

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
    const req = requestRunning(dataDir, path, timeoutMs, (res) => {
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
    });
    req.on('error', () => resolve(null));
    req.end(JSON.stringify(body));
  });
}

/** A POST of `/path` to the pipeline's socket, given up after `timeoutMs` without a byte. */
function requestRunning(
  dataDir: string,
  path: string,
  timeoutMs: number,
  onResponse: (res: IncomingMessage) => void,
): ClientRequest {
  const req = request(
    {
      socketPath: socketPathOf(dataDir),
      path: `/${path}`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      timeout: timeoutMs,
    },
    onResponse,
  );
  req.on('timeout', () => req.destroy(new Error('timeout')));
  return req;
}

/** The error a running pipeline answered with, as ours again (same code and kind). */
export function answeredError(error: NonNullable<RunAnswer['error']>): TabletimeError {
  return new TabletimeError(error.code, error.kind ?? 'config', error.message);
}

/** Output pieces of about this many characters go to the client as one line. */
const FRAME_CHARS = 64 * 1024;

/**
 * The pipeline's side: what a query writes goes to the client in `{"o": text}` lines, and the
 * writer waits while the client reads slowly. When the client goes away, the writer is destroyed,
 * so the query stops at its next page instead of reading the rest of the table.
 */
export class AnswerFrames extends Writable {
  readonly #res: ServerResponse;
  #pending = '';

  constructor(res: ServerResponse) {
    super({ decodeStrings: false });
    this.#res = res;
    res.setHeader('content-type', 'application/x-ndjson');
    res.on('close', () => {
      if (!res.writableFinished) this.destroy();
    });
    this.on('error', () => undefined); // a write after the client left: the query notices and stops
  }

  override _write(chunk: string | Buffer, _encoding: string, done: (err?: Error | null) => void): void {
    this.#pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (this.#pending.length < FRAME_CHARS) done();
    else this.#send(done);
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.#pending) this.#send(done);
    else done();
  }

  #send(done: (err?: Error | null) => void): void {
    const line = `${JSON.stringify({ o: this.#pending })}\n`;
    this.#pending = '';
    if (this.#res.write(line)) done();
    else this.#res.once('drain', () => done());
  }

  /** Sends what is left of the output, then the answer, and ends the reply. */
  async answer(answer: Omit<RunAnswer, 'output'>): Promise<void> {
    if (!this.destroyed) {
      // 'close' too: a client that leaves now destroys this writer, and 'finish' never comes.
      const done = new Promise<void>((resolve) => {
        this.once('finish', resolve);
        this.once('close', resolve);
      });
      this.end();
      await done;
    }
    this.#res.end(`${JSON.stringify(answer)}\n`);
  }
}

/**
 * The client's side of AnswerFrames: writes the output to `out` as it arrives and returns the
 * answer; null when no pipeline answers (then nothing was written, and the caller may read the
 * files itself). A pipeline that stops in the middle of its answer is an error: the output
 * written so far is incomplete, and reading again elsewhere would print part of it twice.
 */
export function streamFromRunning(
  dataDir: string,
  path: string,
  body: unknown,
  out: NodeJS.WritableStream,
  timeoutMs = 600_000,
): Promise<RunAnswer | null> {
  return new Promise((resolve, reject) => {
    let wrote = false;
    let answer: RunAnswer | null = null;
    let settled = false;
    const finish = (failure?: Error) => {
      if (settled) return;
      settled = true;
      out.off('close', readerGone);
      out.off('error', readerGone);
      if (failure) reject(failure);
      else if (answer) resolve(answer);
      else if (!wrote) resolve(null);
      else
        reject(
          new TransientError(
            'RUN_STOPPED',
            'the running pipeline stopped in the middle of its answer, so the output above is incomplete: run the query again',
          ),
        );
    };
    const req = requestRunning(dataDir, path, timeoutMs, (res) => {
      let partial = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          if (!line) continue;
          let frame: { o?: unknown } & Partial<RunAnswer>;
          try {
            frame = JSON.parse(line) as typeof frame;
          } catch {
            res.destroy(new Error('not an answer'));
            return;
          }
          if (typeof frame.o === 'string') {
            wrote = true;
            if (!out.write(frame.o)) {
              res.pause();
              out.once('drain', () => res.resume());
            }
          } else answer = { ...frame, output: frame.output ?? '', exitCode: frame.exitCode ?? 1 };
        }
      });
      res.on('end', () => {
        // An answer of one line without a newline (an error before any output) ends here.
        if (partial && !answer) {
          try {
            const a = JSON.parse(partial) as RunAnswer;
            answer = { ...a, output: a.output ?? '' };
            if (answer.output) {
              out.write(answer.output);
              wrote = true;
            }
          } catch {
            // not an answer: as if none came
          }
        }
        finish();
      });
      res.on('error', () => finish());
      res.on('aborted', () => finish());
    });
    // The reader went away (`| head`): the connection ends, and the pipeline stops its answer.
    const readerGone = () => {
      req.destroy();
      finish(new TransientError('OUTPUT_CLOSED', 'the reader of the answer went away before its end'));
    };
    out.once('close', readerGone);
    out.once('error', readerGone);
    req.on('error', () => finish());
    req.end(JSON.stringify(body));
  });
}
