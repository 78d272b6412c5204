/**
 * XFetch (Vattani, Chierichetti, Lowenstein, PVLDB 2015): each reader independently decides to
 * recompute early with a probability that rises as expiry nears, scaled by how long the last load
 * took (`deltaMs`). With beta = 1 the expected stampede at expiry is about one load.
 * `1 - Math.random()` lies in (0, 1], so the logarithm is finite.
 */
export function xfetchDue(now: number, freshUntilMs: number, deltaMs: number, beta: number): boolean {
  if (deltaMs <= 0 || beta <= 0 || freshUntilMs === Number.POSITIVE_INFINITY) return false
  return now - deltaMs * beta * Math.log(1 - Math.random()) >= freshUntilMs
}
