// The seeded random numbers of this repository's child processes (plain JavaScript, run by node
// without a build step): mulberry32, the generator of src/testing/sim/prng.ts, so that a seed
// printed by a test replays the same run.
/** A function giving numbers in [0, 1), the same sequence for the same `seed` (taken as a u32). */
export function seededRandom(seed) {
  let state = Number(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
