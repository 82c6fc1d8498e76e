#!/usr/bin/env node
// The `tabletime` command. The TypeScript sources are compiled to dist/ by `npm ci` (the `prepare`
// script); a checkout that skipped it gets told how to fix that instead of a stack trace.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error(
    'tabletime: dist/ is missing; run `npm ci` (or `npm run build`) in the tabletime folder first',
  );
  process.exit(1);
}
await import(main.href);
