export * from './bucket.ts';
export * from './sync.ts';
