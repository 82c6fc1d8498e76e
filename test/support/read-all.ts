import { readChangeFile, type DeadLetter, type ReadChangeFileOptions } from '../../src/changefile/index.ts';
import type { ChangeEvent } from '../../src/core/index.ts';

/** Reads a whole change file into events and dead letters. */
export async function readAll(
  path: string,
  options: ReadChangeFileOptions = {},
): Promise<{ events: ChangeEvent[]; lines: number[]; deadLetters: DeadLetter[] }> {
  const events: ChangeEvent[] = [];
  const lines: number[] = [];
  const deadLetters: DeadLetter[] = [];
  for await (const item of readChangeFile(path, options)) {
    if (item.kind === 'event') {
      events.push(item.event);
      lines.push(item.line);
    } else deadLetters.push(item.deadLetter);
  }
  return { events, lines, deadLetters };
}
