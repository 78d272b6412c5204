/** Deterministic traffic: a seeded PRNG and a Zipf sampler, so every contender gets the same requests. */

/** mulberry32: a small, fast 32-bit PRNG; good enough to pick keys. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Samples key indexes 0..n-1 with P(k) proportional to 1 / (k+1)^s. */
export function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let k = 0; k < n; k++) {
    sum += 1 / (k + 1) ** s
    cdf[k] = sum
  }
  for (let k = 0; k < n; k++) cdf[k] = (cdf[k] as number) / sum
  return () => {
    const u = random()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((cdf[mid] as number) < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** Keys picked uniformly from 0..n-1. */
export function uniform(n: number, random: () => number): () => number {
  return () => Math.floor(random() * n)
}
