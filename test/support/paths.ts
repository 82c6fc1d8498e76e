import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The project's shared folder, beside the checkout (as in CI): fixtures are read there, in place. */
export const SHARED = resolve(REPO_ROOT, '..', 'shared');
export const DATASTREAM_FIXTURES = join(SHARED, 'datastream-fixtures');
export const BINLOG_FIXTURES = join(SHARED, 'mysql-binlog-fixtures');
