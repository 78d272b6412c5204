import type { Redis } from 'ioredis'
import { until } from './barrier.ts'

/** Subscribers, summed over every channel whose name contains `namespace`. */
async function subscribers(raw: Redis, namespace: string): Promise<number> {
  const channels = (await raw.pubsub('CHANNELS', `*${namespace}*`)) as string[]
  if (channels.length === 0) return 0
  const counts = (await raw.pubsub('NUMSUB', ...channels)) as (string | number)[]
  let total = 0
  for (let i = 1; i < counts.length; i += 2) total += Number(counts[i])
  return total
}

/** Waits until `count` connections listen on the cache channels of `namespace` (Redis says so). */
export function subscribed(raw: Redis, namespace: string, count: number): Promise<void> {
  return until(`${count} subscribers on ${namespace}`, async () => (await subscribers(raw, namespace)) >= count)
}
