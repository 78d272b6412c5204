import { channel } from 'node:diagnostics_channel'
import type { WrapResult } from './engine/types.ts'
import type { RefreshReason, StaleReason, StoreOp } from './metrics.ts'

/**
 * corral's events on `node:diagnostics_channel`, for tracers and loggers that subscribe without
 * corral depending on them (as undici and fastify do). Every publisher checks `hasSubscribers`
 * before it builds a message, so with no subscriber an event costs one property read.
 *
 * Messages carry the cache's name and the key as given to `wrap` (without the namespace). Keys can
 * hold personal data (an e-mail address in `user:ada@example.com`): they are handed only to
 * subscribers in this process, never to metrics, and a subscriber that exports them decides
 * whether it should (see docs/events.md).
 */
export const channels = {
  /** A wrap answered from the cache: `HitEvent`. */
  hit: channel('corral:hit'),
  /** A wrap found nothing servable and joins or starts a load: `MissEvent`. */
  miss: channel('corral:miss'),
  /** A wrap answered with a stale value: `StaleEvent`. */
  stale: channel('corral:stale'),
  /** A loader call begins (after waiting for an origin slot): `LoadEvent`. */
  loadStart: channel('corral:load:start'),
  /** The same `LoadEvent` object, with the outcome filled in. */
  loadEnd: channel('corral:load:end'),
  /** A loader or store failure: `ErrorEvent`. */
  error: channel('corral:error'),
  /** A cross-process lock decided who loads: `LockEvent`. */
  lock: channel('corral:lock'),
  /** A refresh started (early, stale or manual): `RefreshEvent`. */
  refresh: channel('corral:refresh'),
} as const

/** Names of the channels, for `subscribe(name, fn)`. */
export const CHANNEL_NAMES = Object.fromEntries(Object.entries(channels).map(([k, c]) => [k, c.name])) as Record<
  keyof typeof channels,
  string
>

export interface HitEvent {
  cache: string
  key: string
  result: Extract<WrapResult, 'hit' | 'negative_hit'>
  /** 'memory': answered without awaiting (memory store or L1); 'store': after a store read. */
  from: 'memory' | 'store'
}

export interface MissEvent {
  cache: string
  key: string
  /** True when a load for the key already ran in this process and this caller joins it. */
  coalesced: boolean
}

export interface StaleEvent {
  cache: string
  key: string
  reason: StaleReason
}

/** Published at start and, the same object with `outcome` and `durationMs` set, at end. */
export interface LoadEvent {
  cache: string
  /** The key, or for a batch (`wrapMany`, `warm`) undefined and `keys` set. */
  key: string | undefined
  keys?: readonly string[]
  outcome?: 'success' | 'error' | 'timeout'
  durationMs?: number
  error?: unknown
  /** Free for subscribers: a tracer keeps its span here between start and end. */
  [slot: symbol]: unknown
}

export interface ErrorEvent {
  cache: string
  source: 'loader' | 'store'
  /** The key, when the failure concerns one (loader errors always do). */
  key?: string
  /** The store operation that failed, for `source: 'store'`. */
  op?: StoreOp
  error: unknown
}

export interface LockEvent {
  cache: string
  key: string
  /**
   * 'acquired': this process loads; 'loaded_elsewhere': another process loaded it and this one
   * reads its value; 'failed_elsewhere': another process's load failed; 'timeout': waited
   * `lock.wait` in vain; 'skipped': a refresh left to the process that holds the lock.
   */
  outcome: 'acquired' | 'loaded_elsewhere' | 'failed_elsewhere' | 'timeout' | 'skipped'
  /** From asking for the lock to this outcome. */
  waitedMs: number
}

export interface RefreshEvent {
  cache: string
  key: string
  reason: RefreshReason
}
