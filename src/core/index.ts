export * from './errors.ts';
export * from './column-types.ts';
export * from './values.ts';
export * from './position.ts';
export * from './change-event.ts';
export * from './version-id.ts';
export * from './backoff.ts';
export * from './fault-points.ts';
