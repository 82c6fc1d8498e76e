/**
 * Reads a binlog file from disk, event by event, with the same decoder as the live stream. A file
 * cut short or damaged ends in a BinlogFormatError that names the offset, after every event
 * before it: never a crash, never a silent skip.
 */
import { open } from 'node:fs/promises';
import { BinlogFormatError } from './binlog-format-error.ts';
import { BinlogDecoder, type BinlogDecoderOptions, HEADER_SIZE } from './decoder.ts';
import type { BinlogEvent } from './events.ts';

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]); // \xfe 'bin'

export async function* readBinlogFile(
  path: string,
  options?: BinlogDecoderOptions,
): AsyncGenerator<BinlogEvent> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const magic = Buffer.alloc(4);
    const { bytesRead } = await handle.read(magic, 0, 4, 0);
    if (bytesRead < 4 || !magic.equals(MAGIC))
      throw new BinlogFormatError(`${path} is not a binlog file (no magic number)`, 0);
    const decoder = new BinlogDecoder(options);
    let pos = 4;
    const header = Buffer.alloc(HEADER_SIZE);
    while (pos < size) {
      if (size - pos < HEADER_SIZE) {
        throw new BinlogFormatError(
          `${path} ends inside an event header (${size - pos} of ${HEADER_SIZE} bytes)`,
          pos,
        );
      }
      await handle.read(header, 0, HEADER_SIZE, pos);
      const eventSize = header.readUInt32LE(9);
      if (eventSize < HEADER_SIZE)
        throw new BinlogFormatError(`${path} has an event of impossible size ${eventSize}`, pos);
      if (pos + eventSize > size) {
        throw new BinlogFormatError(
          `${path} ends inside an event of ${eventSize} bytes (${size - pos} present)`,
          pos,
        );
      }
      const event = Buffer.alloc(eventSize);
      await handle.read(event, 0, eventSize, pos);
      yield decoder.decode(event, pos);
      pos += eventSize;
    }
  } finally {
    await handle.close();
  }
}
