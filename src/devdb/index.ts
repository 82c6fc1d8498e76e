export * from './dev-mariadb.ts';
