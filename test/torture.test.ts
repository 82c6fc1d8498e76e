/**
 * The fault suite's short run (the long one is `npm run torture`): every kind of fault at least
 * once, then 0 lost, 0 duplicated, 0 mismatched. TABLETIME_TEST_SEED replays a failing run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testSeed } from './support/random.ts';
import { runTorture } from './torture/torture.ts';

describe('fault suite (short run)', () => {
  it('loses, doubles and changes nothing under kill -9, restarts, an unreachable store and bad files', async () => {
    const seed = testSeed('torture');
    const result = await runTorture({
      seed,
      runKills: 6,
      processKills: 3,
      mariadbRestarts: 2,
      postgresRestarts: 1,
      duplicateDeliveries: 3,
      preloadRows: 100,
    });
    console.log(`# ${result.summary()}`);
    console.log(
      `# faults: ${Object.entries(result.faults)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    for (const [fault, n] of Object.entries(result.faults))
      assert.ok(n > 0, `fault '${fault}' was never injected`);
    assert.ok(result.checkpoints >= 5, `only ${result.checkpoints} checkpoints recorded`);
    assert.deepEqual(
      { lost: result.lost, duplicated: result.duplicated, mismatched: result.mismatched },
      { lost: 0, duplicated: 0, mismatched: 0 },
      `seed ${seed}:\n${result.problems.slice(0, 20).join('\n')}`,
    );
  });
});
