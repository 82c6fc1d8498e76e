/**
 * How a query's answer travels from a running `tabletime run` to the command that asked: in
 * pieces as it is made, at the pace the asker reads, and never half of it silently.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { sleep, type TabletimeError } from '../core/index.ts';
import { AnswerFrames, socketPathOf, streamFromRunning } from './run-socket.ts';

/** A pipeline's socket in a new data dir, answering every request with `answer`. */
async function pipeline(answer: (res: ServerResponse) => Promise<void>) {
  const dataDir = await mkdtemp(join(tmpdir(), 'tt-socket-'));
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => void answer(res));
  });
  await new Promise<void>((r) => server.listen(socketPathOf(dataDir), r));
  return {
    dataDir,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A reader that takes each piece after `delayMs`, keeping what it got. */
function slowReader(delayMs: number) {
  const got: string[] = [];
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, done) {
      got.push(chunk.toString());
      setTimeout(done, delayMs);
    },
  });
  return { out, got };
}

const line = (i: number) => `${String(i).padStart(6, '0')} ${'x'.repeat(90)}\n`;

describe('answers from a running pipeline', () => {
  it('a large answer arrives whole, in order and in pieces, the pipeline waiting for a slow reader', async () => {
    let waits = 0;
    await using p = await pipeline(async (res) => {
      const out = new AnswerFrames(res);
      for (let i = 0; i < 5_000; i++) {
        out.write(line(i));
        if (out.writableNeedDrain) {
          waits++;
          await new Promise((r) => out.once('drain', r));
        }
      }
      await out.answer({ exitCode: 0 });
    });
    const { out, got } = slowReader(1);
    const answer = await streamFromRunning(p.dataDir, 'query', {}, out);
    assert.equal(answer?.exitCode, 0);
    assert.equal(got.join(''), Array.from({ length: 5_000 }, (_, i) => line(i)).join(''));
    assert.ok(got.length >= 5, `${got.length} pieces`);
    assert.ok(waits > 0, 'the pipeline waited for the reader');
  });

  it('an error after part of the answer is returned with the part written', async () => {
    await using p = await pipeline(async (res) => {
      const out = new AnswerFrames(res);
      out.write('first line\n');
      await out.answer({ exitCode: 1, error: { code: 'STORE', kind: 'config', message: 'no such table' } });
    });
    const { out, got } = slowReader(0);
    const answer = await streamFromRunning(p.dataDir, 'query', {}, out);
    assert.deepEqual(answer?.error, { code: 'STORE', kind: 'config', message: 'no such table' });
    assert.equal(got.join(''), 'first line\n');
  });

  it('a pipeline that stops in the middle of its answer is an error, not an answer', async () => {
    await using p = await pipeline(async (res) => {
      const out = new AnswerFrames(res);
      for (let i = 0; i < 2_000; i++) out.write(line(i));
      await sleep(50);
      res.socket!.destroy(); // killed before its answer ends
    });
    const { out, got } = slowReader(0);
    await assert.rejects(streamFromRunning(p.dataDir, 'query', {}, out), (err: TabletimeError) => {
      assert.equal(err.code, 'RUN_STOPPED');
      assert.match(err.message, /incomplete: run the query again/);
      return true;
    });
    assert.ok(got.join('').startsWith(line(0)), 'what came before is written');
  });

  it('no pipeline: null, and nothing written', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tt-socket-'));
    try {
      const { out, got } = slowReader(0);
      assert.equal(await streamFromRunning(dataDir, 'query', {}, out), null);
      assert.deepEqual(got, []);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('when the reader goes away, the pipeline stops writing its answer', async () => {
    let written = 0;
    let stopped: () => void;
    const done = new Promise<void>((r) => (stopped = r));
    await using p = await pipeline(async (res) => {
      const out = new AnswerFrames(res);
      while (!out.destroyed && written < 1_000_000) {
        out.write(line(written++));
        if (out.writableNeedDrain) await new Promise((r) => setTimeout(r, 5));
      }
      stopped();
    });
    const { out } = slowReader(0);
    const asked = streamFromRunning(p.dataDir, 'query', {}, out);
    await sleep(200);
    out.destroy(); // the asker's output closed (`| head`)
    const ended = await Promise.race([
      asked.then(
        () => 'answered',
        (err: TabletimeError) => err.code,
      ),
      sleep(5_000).then(() => 'no end'),
    ]);
    assert.equal(ended, 'OUTPUT_CLOSED');
    const pipelineSide = await Promise.race([
      done.then(() => 'stopped'),
      sleep(5_000).then(() => 'still writing'),
    ]);
    assert.equal(pipelineSide, 'stopped', `after ${written} lines`);
  });
});
