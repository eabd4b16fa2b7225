// Seeded randomness for the scheduler. Placement visits agents in a random order (Borg's relaxed
// randomization) but must give the same answer for the same seed, in the master, in `muster job
// plan` and in the simulator alike, so nothing here reads Math.random or the clock.

/**
 * mulberry32 is a small, fast 32-bit generator (Tommy Ettinger's), good enough for shuffles and
 * the same on every platform: numbers in [0, 1) from a 32-bit seed. A seed that is not a finite
 * number counts as 0.
 */
export function mulberry32(seed: number): () => number {
  let a = Number.isFinite(seed) ? seed >>> 0 : 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** randomBelow draws an integer in [0, n) from random; n ≥ 1. */
export function randomBelow(n: number, random: () => number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/** permutation is 0..n-1 in a random order (Fisher–Yates), as a compact typed array. */
export function permutation(n: number, random: () => number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = randomBelow(i + 1, random);
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}
