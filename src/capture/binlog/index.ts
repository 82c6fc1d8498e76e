export * from './events.ts';
export * from './column-types.ts';
export { BinlogDecoder, type BinlogDecoderOptions, HEADER_SIZE, readHeader } from './decoder.ts';
export { BinlogFormatError } from './binlog-format-error.ts';
export { readBinlogFile } from './binlog-file.ts';
export { decodeMysqlJson } from './mysql-json.ts';
export { decodeDecimal } from './decimal.ts';
export { streamBinlog, type BinlogStreamOptions, type StreamedEvent } from './binlog-stream.ts';
