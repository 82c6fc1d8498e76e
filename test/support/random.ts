/** A small seeded PRNG (mulberry32): the seed of a failing run reproduces it. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from TABLETIME_TEST_SEED, or a new one; printed so a failure can be replayed. */
export function testSeed(label: string): number {
  const seed = process.env.TABLETIME_TEST_SEED
    ? Number(process.env.TABLETIME_TEST_SEED)
    : Date.now() % 1_000_000;
  console.log(`# ${label}: seed ${seed} (TABLETIME_TEST_SEED=${seed} to replay)`);
  return seed;
}
