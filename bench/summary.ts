/**
 * The one table that puts the miss path, the fill and Redis hits side by side: for each piece of
 * work, the raw baseline, the best peer and corral, all from the same run.
 */

import { FILL_KEYS, type fill } from './fill.ts'
import { COLD_KEYS, type missPath } from './miss-path.ts'
import type { redisHits } from './redis-hits.ts'
import { fmtMb, fmtMs, fmtOps, fmtRatio, fmtUs, table } from './support.ts'

export function summary(
  miss: Awaited<ReturnType<typeof missPath>>,
  filled: Awaited<ReturnType<typeof fill>>,
  hits: Awaited<ReturnType<typeof redisHits>>,
): string[] {
  const count = (id: string) => {
    const sent = miss.commands.get(id) ?? []
    return `${sent.length} (${sent.join(', ')})`
  }
  const ms = (id: string) => fmtMs(miss.rounds.median(id))
  const t = (id: string) => fmtMs(filled.time.median(id))
  const h = (id: string) => (filled.heap.has(id) ? fmtMb(filled.heap.median(id)) : 'n/a')
  const hr = (id: string) => (filled.heap.has(id) ? fmtRatio(filled.heap.ratio(id, 'lru')) : 'n/a')
  const ops = (id: string) => fmtOps(hits.rounds.median(id))
  const perMiss = (id: string) => fmtUs((filled.time.median(id) * 1000) / FILL_KEYS)
  const keys = (n: number) => n.toLocaleString('en')
  return table(
    ['work', 'raw / limit', 'best peer', 'corral'],
    ['l', 'r', 'r', 'r'],
    [
      [
        'Redis commands per single-key miss',
        `naive cache-aside: ${count('naive')}`,
        `cache-manager ${count('cacheManager')}; bentocache ${count('bento')}`,
        `${count('corral')}; L1: ${count('corralL1')}; \`lock: true\`: ${count('corralLock')}`,
      ],
      [
        `${keys(COLD_KEYS)} cold keys through a loop of \`wrap\`, 64 at a time (ms)`,
        `naive ${ms('naive')} (auto-pipelined ${ms('naivePipelined')})`,
        `cache-manager ${ms('cacheManager')}; bentocache ${ms('bento')}`,
        `${ms('corral')} (${fmtRatio(miss.rounds.ratio('corral', 'naive'))} naive); auto-pipelined client ${ms('corralPipelined')} (${fmtRatio(miss.rounds.ratio('corralPipelined', 'naive'))}); L1 ${ms('corralL1')}`,
      ],
      [
        `fill ${keys(FILL_KEYS)} keys into the memory tier (ms)`,
        `lru-cache ${t('lru')}`,
        `cache-manager ${t('cacheManager')}; bentocache ${t('bentoMemory')}`,
        `memoryStore ${t('corralMemory')} (${perMiss('corralMemory')} µs a miss; ${fmtRatio(filled.time.ratio('corralMemory', 'lru'))} lru-cache)`,
      ],
      [
        'same into L1 + Redis + bus (ms)',
        '—',
        `bentocache ${t('bentoTiered')}`,
        `${t('corralTiered')} (${fmtRatio(filled.time.ratio('corralTiered', 'bentoTiered'))} bentocache)`,
      ],
      [
        `heap growth for ${keys(FILL_KEYS)} x 200 B values`,
        `lru-cache ${h('lru')}`,
        `cache-manager ${h('cacheManager')}; bentocache ${h('bentoMemory')}`,
        `memoryStore ${h('corralMemory')} (${hr('corralMemory')} lru); L1 + Redis ${h('corralTiered')} (bentocache ${h('bentoTiered')})`,
      ],
      [
        'Redis hits, 64 callers, distinct keys (ops/s)',
        `raw GET + parse ${ops('raw')} (auto-pipelined ${ops('rawPipelined')})`,
        `cache-manager ${ops('cacheManager')}`,
        `${ops('corral')} (${fmtRatio(hits.rounds.ratio('corral', 'raw'))} raw); auto-pipelined client ${ops('corralPipelined')} (${fmtRatio(hits.rounds.ratio('corralPipelined', 'raw'))})`,
      ],
      [
        'Redis hit with 2 tags, 64 callers (1 caller)',
        '—',
        '—',
        `${fmtRatio(hits.rounds.ratio('tagged', 'corral'))} an untagged hit (${fmtRatio(hits.rounds.ratio('tagged1', 'corral1'))})`,
      ],
    ],
  )
}
