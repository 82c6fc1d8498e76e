export { runCapture, bucketDirOf, type CaptureOptions } from './capture.ts';
export { CheckpointStore, type Checkpoint } from './checkpoint.ts';
export { tableFilter } from './table-filter.ts';
export { TransactionAssembler, type CapturedTransaction, type CapturedChange } from './transactions.ts';
export { TableSchemas, sqlTypeOf } from './table-schema.ts';
export { redactUrl } from './source.ts';
export { preflight, type PreflightReport, type PreflightFinding } from './preflight.ts';
export { connectSource } from './source.ts';
export { ddlEffects, type DdlEffect, type DdlRecord } from './ddl.ts';
