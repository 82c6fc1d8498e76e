/**
 * The BigQuery store cannot run here (no emulator installs offline). What can be checked offline is:
 * the types, the DDL, the load job's schema and rows, the MERGE, the views and the parameters it
 * sends, recorded by a client that answers like an empty dataset. The live test runs only with
 * TABLETIME_TEST_BIGQUERY=project/dataset and Google credentials.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { applyFile } from '../src/apply/index.ts';
import { columnFromSqlType } from '../src/core/index.ts';
import { type BigQueryClient, BigQueryStore, bigqueryType } from '../src/store/index.ts';
import { DATASTREAM_FIXTURES } from './support/paths.ts';

interface Recorded {
  queries: { query: string; params?: Record<string, unknown>; types?: Record<string, string> }[];
  jobs: { query: string; params?: Record<string, unknown> }[];
  loads: { dataset: string; table: string; metadata: Record<string, unknown>; content: string }[];
}

function recordingClient(): { client: BigQueryClient; seen: Recorded } {
  const seen: Recorded = { queries: [], jobs: [], loads: [] };
  const client: BigQueryClient = {
    query: (o) => {
      seen.queries.push(o);
      return Promise.resolve([[]]); // an empty dataset: no catalog rows, nothing applied yet
    },
    createQueryJob: (o) => {
      seen.jobs.push(o);
      return Promise.resolve([
        {
          getQueryResults: () => Promise.resolve([]),
          metadata: { statistics: { query: { numDmlAffectedRows: '2' } } },
        },
      ]);
    },
    dataset: (dataset) => ({
      table: (table) => ({
        load: (source, metadata) => {
          seen.loads.push({ dataset, table, metadata, content: readFileSync(source, 'utf8') });
          return Promise.resolve([{}]);
        },
      }),
    }),
  };
  return { client, seen };
}

describe('BigQuery store (offline)', () => {
  it('maps every column kind to a BigQuery type that holds it exactly', () => {
    const t = (sql: string) => bigqueryType(columnFromSqlType('c', sql));
    assert.equal(t('int'), 'INT64');
    assert.equal(t('bigint unsigned'), 'NUMERIC(20, 0)');
    assert.equal(t('decimal(10,2)'), 'NUMERIC(10, 2)');
    assert.equal(t('decimal(65,30)'), 'BIGNUMERIC(65, 30)');
    assert.equal(t('decimal(65,0)'), 'STRING', 'beyond BIGNUMERIC: exact digits as text');
    assert.equal(t('float'), 'FLOAT64');
    assert.equal(t('datetime(6)'), 'DATETIME');
    assert.equal(t('timestamp(6)'), 'TIMESTAMP');
    assert.equal(t('time(6)'), 'STRING');
    assert.equal(t('varbinary(16)'), 'BYTES');
    assert.equal(t("enum('a','b')"), 'STRING');
  });

  it('applies a Datastream file: DDL, a load job of text rows, one MERGE on the version id, views', async () => {
    const { client, seen } = recordingClient();
    await using store = await BigQueryStore.open('bigquery://proj/ds?location=EU', client);
    const r = await applyFile(
      join(DATASTREAM_FIXTURES, 'DataStreamToSpannerEventsIT__mysql-backfill-Users.avro'),
      {
        store,
        bucketDir: '/nonexistent',
        deadLetterDir: '/nonexistent/dl',
      },
    );
    assert.deepEqual([r.events, r.inserted], [2, 2]);

    const ddl = seen.queries.map((q) => q.query.replace(/\s+/g, ' '));
    assert.ok(ddl.includes('CREATE SCHEMA IF NOT EXISTS `proj.ds`'));
    assert.ok(
      ddl.includes(
        'CREATE TABLE IF NOT EXISTS `proj.ds._tabletime__applied_files` ( name STRING, versions INT64, applied_at TIMESTAMP, PRIMARY KEY (name) NOT ENFORCED)',
      ),
    );
    const create = ddl.find((q) => q.startsWith('CREATE TABLE IF NOT EXISTS `proj.ds.l1__Users__history`'))!;
    assert.match(
      create,
      /`id` INT64, `name` STRING, `age` INT64, `subscribed` INT64, `plan` STRING, `startDate` DATETIME, _tt_version_id STRING/,
    );
    assert.match(create, /_tt_commit_ts TIMESTAMP/);
    assert.match(create, /_tt_deleted BOOL/);
    assert.match(create, /PRIMARY KEY \(_tt_version_id\) NOT ENFORCED\)$/);
    assert.ok(
      ddl.some((q) => q.startsWith('CREATE OR REPLACE VIEW `proj.ds.l1__Users` AS SELECT `id`, `name`')),
    );
    assert.ok(
      ddl.some((q) =>
        q.startsWith('CREATE OR REPLACE TABLE FUNCTION `proj.ds.l1__Users__as_of`(_tt_at TIMESTAMP) AS'),
      ),
    );
    assert.ok(
      ddl.some(
        (q) =>
          /MIN\(_tt_commit_ts\) OVER \(PARTITION BY coalesce\(_tt_key, _tt_version_id\) ORDER BY _tt_rank RANGE BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING\)/.test(
            q,
          ) &&
          /DENSE_RANK\(\) OVER \(PARTITION BY coalesce\(_tt_key, _tt_version_id\) ORDER BY _tt_position\) AS _tt_rank/.test(
            q,
          ),
      ),
    );
    assert.ok(
      seen.queries.every((q) => q.query === '' || !/\$\d/.test(q.query)),
      'parameters are named @pN',
    );

    // The load job: every column as STRING, the rows as newline-delimited JSON in the change-file encoding.
    assert.equal(seen.loads.length, 1);
    const load = seen.loads[0]!;
    assert.equal(load.dataset, 'ds');
    assert.equal(load.metadata.sourceFormat, 'NEWLINE_DELIMITED_JSON');
    assert.equal(load.metadata.writeDisposition, 'WRITE_TRUNCATE');
    const fields = (load.metadata.schema as { fields: { name: string; type: string }[] }).fields;
    assert.ok(fields.every((f) => f.type === 'STRING'));
    assert.deepEqual(
      fields.slice(0, 6).map((f) => f.name),
      ['id', 'name', 'age', 'subscribed', 'plan', 'startDate'],
    );
    const rows = load.content.split('\n').map((l) => JSON.parse(l) as Record<string, string | null>);
    assert.deepEqual(
      rows.map((x) => [x.id, x.name, x.age, x.startDate, x._tt_op, x._tt_snapshot]),
      [
        ['1', 'Tester Kumar', '30', '2023-01-01 00:00:00.000000', 'INSERT', 'true'],
        ['2', 'Tester Yadav', '33', '2024-01-01 00:00:00.000000', 'INSERT', 'true'],
      ],
    );

    // One MERGE that inserts only unknown version ids, from the staging table, with typed casts.
    const merge = seen.jobs.map((j) => j.query.replace(/\s+/g, ' ')).find((q) => q.startsWith('MERGE'))!;
    assert.match(
      merge,
      /^MERGE `proj\.ds\.l1__Users__history` T USING \(SELECT CAST\(`id` AS INT64\) AS `id`/,
    );
    assert.match(merge, /SAFE_CAST\(`startDate` AS DATETIME\) AS `startDate`/);
    assert.match(
      merge,
      /FROM `proj\.ds\._tabletime___tt_staging_l1_Users`\) S ON T\._tt_version_id = S\._tt_version_id WHEN NOT MATCHED THEN INSERT/,
    );
    // The applied-file marker comes after the MERGE, with typed parameters.
    const marker = seen.queries.find((q) =>
      q.query.startsWith('INSERT INTO `proj.ds._tabletime__applied_files`'),
    )!;
    assert.equal(
      marker.query,
      'INSERT INTO `proj.ds._tabletime__applied_files` VALUES (@p1, @p2, CURRENT_TIMESTAMP())',
    );
    assert.deepEqual(marker.types, { p1: 'STRING', p2: 'INT64' });
  });

  const live = process.env.TABLETIME_TEST_BIGQUERY;
  it(
    'live: applies and answers on a real BigQuery dataset',
    { skip: live ? false : 'set TABLETIME_TEST_BIGQUERY=project/dataset (and credentials) to run' },
    async () => {
      await using store = await BigQueryStore.open(`bigquery://${live}`);
      for (const f of [
        'DataStreamToSpannerEventsIT__mysql-backfill-Users',
        'DataStreamToSpannerEventsIT__mysql-cdc-Users',
      ]) {
        await applyFile(join(DATASTREAM_FIXTURES, `${f}.avro`), {
          store,
          bucketDir: '/nonexistent',
          deadLetterDir: '/nonexistent/dl',
        });
      }
      assert.deepEqual(
        (await store.asOf('l1', 'Users', null)).map((r) => r.id),
        [1, 3, 4],
      );
    },
  );
});
