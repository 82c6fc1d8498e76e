export * from './value-encoding.ts';
export * from './line-format.ts';
export * from './schema-registry.ts';
export * from './datastream-avro.ts';
export * from './reader.ts';
export * from './writer.ts';
export { publishFile, writeFileDurable, fsyncDir } from './fs-durable.ts';
