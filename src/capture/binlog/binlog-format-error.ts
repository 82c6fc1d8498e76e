import { InputError } from '../../core/index.ts';

/** Bytes that are not a valid binlog event, with where they are. */
export class BinlogFormatError extends InputError {
  readonly offset: number;
  constructor(message: string, offset: number, options?: { cause?: unknown }) {
    super('BINLOG_FORMAT', `${message} (at offset ${offset})`, options);
    this.offset = offset;
  }
}
