/** How many rows each snapshot page asks for (src/capture/snapshot.ts pageRows). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pageRows, SNAPSHOT_PAGE_BYTES } from './snapshot.ts';

describe('snapshot pages', () => {
  it('hold about SNAPSHOT_PAGE_BYTES of lines, between 100 and 10,000 rows; a given size is kept', () => {
    assert.equal(pageRows(undefined, 0, 0), 1_000, 'before any row is written');
    // The bench's 6-column table writes lines of about 730 bytes: pages of about 1,400 rows.
    assert.equal(pageRows(undefined, 730 * 5_000, 5_000), Math.round(SNAPSHOT_PAGE_BYTES / 730));
    assert.equal(pageRows(undefined, 50 * 1_000, 1_000), 10_000, 'narrow rows: at most 10,000');
    assert.equal(pageRows(undefined, 100_000 * 10, 10), 100, 'wide rows: at least 100');
    assert.equal(pageRows(2_000, 730 * 5_000, 5_000), 2_000, '--snapshot-chunk-rows');
  });
});
