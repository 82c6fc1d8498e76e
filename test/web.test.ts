/**
 * The web page in headless Chromium (Debian's, driven by playwright-core) while `tabletime run
 * --http` runs against a dev MariaDB: find a record by its key and see its timeline with the
 * changed fields highlighted; pick a moment before its deletion and see it in the table as of
 * then; open the differences between two moments. TABLETIME_SCREENSHOTS=DIR saves the three
 * views (docs/screenshots holds the README's).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { freePort, runTabletime, spawnRun, untilRunAnswers } from './support/cli.ts';
import { startTestMariadb } from './support/mariadb.ts';
import { REPO_ROOT } from './support/paths.ts';

const CHROMIUM = process.env.TABLETIME_CHROMIUM ?? '/usr/bin/chromium';

const nextSecond = () => new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 30));
/** A datetime-local value in UTC (the browser below runs in UTC). */
const local = (d: Date) => d.toISOString().slice(0, 19);

describe('web page', () => {
  it('record timeline, the table as of a moment before a deletion, and a diff', async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (CI does)`);
    assert.ok(existsSync(join(REPO_ROOT, 'dist', 'web', 'app.js')), 'the page is not built: npm run build');
    await using db = await startTestMariadb();
    await db.query('CREATE DATABASE shop');
    await db.query(
      'CREATE TABLE shop.orders (id INT PRIMARY KEY, customer VARCHAR(40), status VARCHAR(20), total DECIMAL(10,2))',
    );
    const customers = ['Ana Souza', 'Bruno Lima', 'Carla Dias', 'Davi Rocha', 'Elisa Melo'];
    for (const [i, c] of customers.entries())
      await db.query('INSERT INTO shop.orders VALUES (?, ?, ?, ?)', [i + 1, c, 'new', `${(i + 1) * 10}.00`]);
    const dir = await mkdtemp(join(tmpdir(), 'tt-web-'));
    const port = await freePort();
    const run = spawnRun(db.url, dir, ['--http', `127.0.0.1:${port}`]);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const shots = process.env.TABLETIME_SCREENSHOTS;
    if (shots) await mkdir(shots, { recursive: true });
    try {
      await untilRunAnswers(dir, run.stderr, 100);
      await nextSecond();
      const t0 = new Date();
      await nextSecond();
      await db.query("UPDATE shop.orders SET status = 'paid', total = 31.50 WHERE id = 3");
      await db.query("UPDATE shop.orders SET status = 'shipped' WHERE id = 1");
      await nextSecond();
      const beforeDelete = new Date();
      await nextSecond();
      await db.query('DELETE FROM shop.orders WHERE id = 3');
      await runTabletime(['wait', '--data-dir', dir, '--timeout', '30']);

      const context = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      await page.goto(`http://127.0.0.1:${port}/`);

      // The tables, with their sizes and freshness.
      const row = page.getByRole('row', { name: /shop\.orders/ });
      await row.waitFor();
      assert.match(await row.innerText(), /shop\.orders\s+4\s+8/);
      assert.match(await page.locator('.freshness').innerText(), /Up to date as of/);
      await page.getByRole('link', { name: 'shop.orders' }).click();

      // One record: its timeline, the changed fields highlighted, its deletion.
      await page.getByRole('link', { name: 'One record' }).click();
      await page.getByLabel('id').fill('3');
      await page.keyboard.press('Enter'); // the keyboard alone is enough
      const versions = page.locator('.timeline > li');
      await versions.nth(2).waitFor();
      assert.deepEqual(await versions.locator('.op').allInnerTexts(), ['Created', 'Changed', 'Deleted']);
      const changedFields = await versions.nth(1).locator('.field.changed dt').allInnerTexts();
      assert.deepEqual(changedFields, ['status', 'total']);
      assert.match(await versions.nth(1).locator('.field.changed').first().innerText(), /paid\s+new/);
      assert.match(await versions.nth(2).innerText(), /Deleted\. It held/);
      if (shots) await page.screenshot({ path: join(shots, 'record.png'), fullPage: true });

      // The table as of a moment before the deletion: order 3 is there, paid.
      await page.getByRole('link', { name: 'Table at a moment' }).click();
      await page.getByLabel('Show the table as it was at').fill(local(beforeDelete));
      await page.getByRole('button', { name: 'Show', exact: true }).click();
      await page.getByText(/^As it was at/).waitFor();
      const three = page.getByRole('row', { name: /Carla Dias/ });
      await three.waitFor();
      assert.match(await three.innerText(), /3\s+Carla Dias\s+paid\s+31\.50/);
      assert.equal(await page.getByRole('row').count(), 6); // header + 5 orders
      if (shots) await page.screenshot({ path: join(shots, 'as-of.png'), fullPage: true });

      // Differences since t0: order 1 and 3 changed... and 3 deleted; changed cells highlighted.
      await page.getByRole('link', { name: 'Differences' }).click();
      await page.getByLabel('From').fill(local(t0));
      await page.getByLabel('to', { exact: true }).fill(local(new Date(Date.now() + 60_000)));
      await page.getByRole('button', { name: 'Show differences' }).click();
      await page.getByText(/0 added, 1 deleted, 1 changed/).waitFor();
      const changedRow = page.locator('tr.row-changed');
      assert.match(await changedRow.innerText(), /Ana Souza/);
      assert.deepEqual(await changedRow.locator('td.changed').allInnerTexts(), ['shipped new']);
      assert.match(await page.locator('tr.row-deleted').innerText(), /Carla Dias/);
      if (shots) await page.screenshot({ path: join(shots, 'diff.png'), fullPage: true });

      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await run.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
