/**
 * `npm run torture [-- --seed N] [-- --short]`: the fault suite's long run (test/torture/torture.ts).
 * Prints one summary line and exits 1 if anything was lost, duplicated or mismatched; the seed of a
 * failing run reproduces its workload and its fault schedule (the instants depend on timing).
 */
import { runTorture } from '../test/torture/torture.ts';

const args = process.argv.slice(2);
const seedArg = args.indexOf('--seed');
const seed = seedArg >= 0 ? Number(args[seedArg + 1]) : Date.now() % 1_000_000;
const short = args.includes('--short');
const result = await runTorture({
  seed,
  runKills: short ? 6 : 55,
  processKills: short ? 3 : 15,
  mariadbRestarts: short ? 2 : 4,
  postgresRestarts: short ? 1 : 3,
  duplicateDeliveries: short ? 3 : 20,
  preloadRows: short ? 100 : 300,
  log: (line) => console.error(`# ${line}`),
});
for (const p of result.problems.slice(0, 50)) console.log(`PROBLEM ${p}`);
console.log(
  `faults: ${Object.entries(result.faults)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);
console.log(
  `changes ${result.changes} in ${result.transactions} transactions; ${result.checkpoints} recorded checkpoints; ${result.seconds} s`,
);
console.log(result.summary());
process.exitCode = result.lost + result.duplicated + result.mismatched === 0 ? 0 : 1;
