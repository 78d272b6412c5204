import { ReplyError } from 'ioredis'
import { type Breaker, type BreakerOption, breakerFrom } from '../breaker.ts'
import type { Coordinator, KeyLock, LockSettings } from '../coordination.ts'
import { type Duration, positiveMs } from '../duration.ts'
import { birthPosition, decodeEntry, type Entry, encodeEntry } from '../entry.ts'
import { CorralConfigError, NotACounterError, StoreUnavailableError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { Serializer } from '../serializer.ts'
import type {
  Announcement,
  Begun,
  EntryWithTagTimes,
  FencedWrite,
  FenceToken,
  Receipt,
  Store,
  StoreContext,
  StoreFactory,
} from '../stores/store.ts'
import { lastTagList } from '../tag-lists.ts'
import { withStoreTimeout } from '../timers.ts'
import { DEFAULT_CHUNK, eachGroup, groupsFor } from './batch.ts'
import { packEntries } from './batch-entries.ts'
import { Bus } from './bus.ts'
import { createOwnedClient, isReady, type RedisClient, whenReady } from './client.ts'
import { RedisClock } from './clock.ts'
import { entryKey, fenceKey, generationKey, redisKeys, tagKey } from './keys.ts'
import { RedisLock } from './lock.ts'
import { ReadFlight, TaggedReadFlight } from './read-flight.ts'
import { COMMIT, COMMIT_MANY, DELETE, INCREMENT, INVALIDATE_TAG, SET } from './scripts.ts'
import { type Arg, CHUNK_ARGS, CommandSender, LuaScript } from './sender.ts'
import { WriteBatch } from './write-batch.ts'

export interface RedisStoreOptions {
  /**
   * A client you own: corral never closes it. Give it `protocol: 2`. Without a `commandTimeout`,
   * corral times each command itself (a stall of your event loop does not count); with one,
   * ioredis's timer rules, and a loop blocked longer than it fails the commands waiting meanwhile.
   */
  client?: RedisClient
  /** Or a URL: corral opens a fail-fast client and closes it on `cache.close()`. */
  url?: string
  /** How long one store command may take before the cache steps aside. Default 500 ms. */
  timeout?: Duration
  /**
   * After `failures` failed commands in a row, stop sending commands for `cooldown` (then probe
   * with one), so a slow or dead Redis does not cost every request the timeout.
   * Default { failures: 3, cooldown: '1s' }; false turns it off.
   */
  breaker?: BreakerOption
  /**
   * Keys per command when a batch (`wrapMany`, `warm`) is read or written; a few such commands are
   * in flight at once. Default 1,000: one command of 1 KiB values stays far below the timeout.
   */
  chunk?: number
}

/** The scripts as ioredis commands: keys first (the generation key only off Cluster), then ARGV. */
interface CorralCommands {
  corralInvalidateTag(...keysAndArgs: Arg[]): Promise<[number, number]>
  corralSet(...keysAndArgs: Arg[]): Promise<[number, number]>
  corralDelete(...keysAndArgs: Arg[]): Promise<[number, number]>
  corralIncrement(entry: string, by: number, px: number): Promise<number>
}

/** The write scripts a miss and a batch send, by way of the store's CommandSender. */
const COMMIT_SCRIPT = new LuaScript(COMMIT)
const COMMIT_MANY_SCRIPT = new LuaScript(COMMIT_MANY)

/** Entries on Redis (standalone or Cluster) through ioredis, with fenced writes in Lua. */
export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly client: RedisClient
  /** The cache's bus and a Redlock lock over it (coordination.ts). */
  readonly coordinator: Coordinator
  readonly #bus: Bus
  readonly #owned: boolean
  readonly #serializer: Serializer
  readonly #timeoutMs: number
  readonly #chunk: number
  readonly #clock = new RedisClock()
  #askingTime = false
  /** The circuit breaker in front of the commands, unless turned off. */
  get breaker(): Breaker | undefined {
    return this.#breaker
  }

  /** False while the circuit breaker keeps commands away from Redis: others using this Redis should too. */
  get healthy(): boolean {
    return this.#breaker === undefined || this.#breaker.state === 'closed'
  }

  /** Keys per command when a batch is read or written (the `chunk` option). */
  get chunk(): number {
    return this.#chunk
  }

  /** How long one command may take (the `timeout` option). */
  get timeoutMs(): number {
    return this.#timeoutMs
  }
  /**
   * A client of yours without a `commandTimeout` may queue commands forever, so its commands get
   * the store's own timer (timers.ts `withStoreTimeout`). corral's own clients time every command with
   * their CommandWatch; with a `commandTimeout` of yours, ioredis's timer rules.
   */
  readonly #needsOwnTimer: boolean
  /** Reads and commits go out through it: on such a client of yours, timed by one watch. */
  readonly #sender: CommandSender
  readonly #commands: CorralCommands
  /** This cache's namespace's write generation (see src/generation.ts). */
  readonly #generationKey: string
  /** Only the very first connect is waited for; after that a disconnected Redis fails at once. */
  #connectedOnce = false
  readonly #breaker: Breaker | undefined
  readonly #logger: Logger
  readonly #onReady = () => this.#breaker?.probeNow()
  /** Commands Redis has answered so far: a count, not a clock, so a hit reads no clock for it. */
  #answers = 0
  /** One wait shared by every command sent before the first connect (one listener, not one each). */
  #firstConnect: Promise<boolean> | undefined
  /** Concurrent reads of one key share one command (read-flight.ts): `get`, tagged `get`, `begin`, tagged `begin`. */
  readonly #reads = new ReadFlight<Entry | undefined>()
  readonly #taggedReads = new TaggedReadFlight<EntryWithTagTimes>()
  readonly #begins = new ReadFlight<Begun>()
  readonly #taggedBegins = new TaggedReadFlight<Begun>()
  /** Redis key names of a tag list's times, remembered for the last list (tag-lists.ts). */
  readonly #tagKeys = lastTagList(tagKey)
  /** This tick's commands leave the socket together (write-batch.ts). */
  readonly #writes: WriteBatch

  constructor(options: RedisStoreOptions, context: StoreContext) {
    if (!options.client === !options.url) {
      throw new CorralConfigError('store', options, 'redisStore needs exactly one of `client` or `url`')
    }
    this.#timeoutMs = positiveMs('store.timeout', options.timeout, 500)
    this.#chunk = options.chunk ?? DEFAULT_CHUNK
    if (!Number.isInteger(this.#chunk) || this.#chunk < 1) {
      throw new CorralConfigError('store.chunk', options.chunk, 'must be a whole number >= 1')
    }
    this.#owned = !options.client
    this.client = options.client ?? createOwnedClient(options.url as string, this.#timeoutMs)
    this.#writes = new WriteBatch(this.client)
    this.#needsOwnTimer =
      !this.#owned &&
      typeof (this.client.options as { commandTimeout?: unknown } | undefined)?.commandTimeout !== 'number'
    this.#sender = new CommandSender(this.client, this.#needsOwnTimer ? this.#timeoutMs : undefined)
    this.#serializer = context.serializer
    this.#logger = context.logger
    this.#breaker = breakerFrom(options.breaker)
    // An owned client reconnects by itself; its errors are already surfaced per command.
    if (this.#owned) this.client.on('error', () => {})
    // Back after an outage: probe at once rather than after a cooldown that doubled meanwhile.
    this.client.on('ready', this.#onReady)
    this.#generationKey = generationKey(context.namespace ?? '')
    // Off Cluster, each write script moves the namespace's generation too (one more key); on a
    // Cluster that key lives in another slot, so the store moves it with a command of its own.
    const withGeneration = this.client.isCluster ? 0 : 1
    this.client.defineCommand('corralSet', { numberOfKeys: 2 + withGeneration, lua: SET })
    this.client.defineCommand('corralDelete', { numberOfKeys: 2 + withGeneration, lua: DELETE })
    this.client.defineCommand('corralIncrement', { numberOfKeys: 1, lua: INCREMENT })
    this.client.defineCommand('corralInvalidateTag', { numberOfKeys: 1 + withGeneration, lua: INVALIDATE_TAG })
    this.#commands = this.client as unknown as CorralCommands
    this.#bus = new Bus(this.client, context.channelName, context.logger, {
      healthy: () => this.healthy,
      timeoutMs: this.#timeoutMs,
    })
    const bus = this.#bus
    // Another process wrote, deleted or invalidated: reads starting now must not join older ones.
    bus.onOthers((message) => {
      if (message.kind === 'ready') this.#forgetReads(message.key)
      else if (message.kind === 'drop') for (const key of message.keys) this.#forgetReads(key)
      else if (message.kind === 'tags') this.#forgetTaggedReads()
    })
    this.coordinator = { crossProcess: true, channel: bus, lock: (settings) => this.#lock(settings) }
  }

  #lock(settings: LockSettings): KeyLock {
    return new RedisLock({
      // `lock.clients` were checked to be ioredis clients when the options were resolved.
      clients: (settings.clients as RedisClient[] | undefined) ?? [this.client],
      ttlMs: settings.ttlMs,
      waitMs: settings.waitMs,
      attemptTimeoutMs: this.#timeoutMs,
      storeHealthy: () => this.healthy,
      bus: this.#bus,
      metrics: settings.metrics,
      logger: settings.logger,
      chunk: this.#chunk,
      // A holder may have written before the decision: reads after it must not join older ones.
      decided: (key) => this.#forgetReads(key),
    })
  }

  /** The entry; concurrent reads of one key share one GET. */
  get(key: string): Promise<Entry | undefined> {
    return this.#reads.join(key, () => this.#getOnce(key))
  }

  /**
   * The entry and its tags' times in one round trip: one MGET on a single Redis (a tag's key may
   * live in any slot, so a Cluster gets one GET per key, sent back to back). Shared like `get`.
   */
  getWithTagTimes(key: string, tags: readonly string[]): Promise<EntryWithTagTimes> {
    if (tags.length === 0) return this.get(key).then((entry) => ({ entry, tagTimesUs: [] }))
    return this.#taggedReads.join(key, tags, async () => {
      const names = withTagKeys([entryKey(key)], this.#tagKeys(tags))
      const raws: (Buffer | null)[] = await (this.client.isCluster
        ? this.#run(() => Promise.all(names.map((name) => this.client.getBuffer(name))))
        : this.#call('mget', names))
      const raw = raws[0]
      return {
        entry: raw ? decodeEntry(raw, this.#serializer) : undefined,
        tagTimesUs: tagTimesFrom(raws, 1),
      }
    })
  }

  async #getOnce(key: string): Promise<Entry | undefined> {
    const raw = await this.#call<Buffer | null>('get', [entryKey(key)])
    return raw ? decodeEntry(raw, this.#serializer) : undefined
  }

  /** A write or delete of `key` begins (here or elsewhere): later reads send their own. */
  #forgetReads(key: string): void {
    this.#reads.forget(key)
    this.#taggedReads.forget(key)
    this.#begins.forget(key)
    this.#taggedBegins.forget(key)
  }

  /** A tag was invalidated (here or elsewhere): later reads of tag times send their own. */
  #forgetTaggedReads(): void {
    this.#taggedReads.clear()
    this.#taggedBegins.clear()
  }

  /**
   * Entries of many keys: one MGET per chunk (per slot on a Cluster, which refuses MGET across
   * slots), a few at a time; each reply is decoded while the next is on its way.
   */
  async getMany(keys: readonly string[]): Promise<(Entry | undefined)[]> {
    if (keys.length === 0) return []
    const entries = new Array<Entry | undefined>(keys.length)
    const serializer = this.#serializer
    const nameOf = (i: number) => entryKey(keys[i] as string)
    await eachGroup(groupsFor(this.client, keys.length, nameOf, this.#chunk), async (group) => {
      // Named as the command is sent: no name outlives its command.
      const raws = await this.#call<(Buffer | null)[]>('mget', group.map(nameOf))
      for (let j = 0; j < group.length; j++) {
        const raw = raws[j]
        entries[group[j] as number] = raw ? decodeEntry(raw, serializer) : undefined
      }
    })
    return entries
  }

  /**
   * The entry and its fence in one plain MGET (one slot: they share a hash tag): a load's begin
   * costs no script, and a read that finds nothing has begun the load already. The fence is not
   * created here; an absent fence reads as token 0, which any later write moves past. With
   * `tags`, their times ride in the same MGET on a single Redis (on a Cluster a tag's key may
   * live in any slot: one GET per tag, sent back to back). Concurrent begins of a key share one.
   */
  begin(key: string, tags?: readonly string[]): Promise<Begun> {
    if (!tags || tags.length === 0) return this.#begins.join(key, () => this.#beginOnce(key, []))
    return this.#taggedBegins.join(key, tags, () => this.#beginOnce(key, tags))
  }

  #beginOnce(key: string, tags: readonly string[]): Promise<Begun> {
    const entry = entryKey(key)
    const fence = fenceKey(entry)
    // Sent together: learning the clock costs the first read no wait.
    this.#learnClock()
    if (tags.length === 0) return this.#call<(Buffer | null)[]>('mget', [entry, fence]).then(this.#begunFrom)
    const names = this.#tagKeys(tags)
    const read: Promise<(Buffer | null)[]> = this.client.isCluster
      ? this.#run(() =>
          Promise.all([
            this.client.mgetBuffer(entry, fence),
            ...names.map((name) => this.client.getBuffer(name).then((raw) => [raw])),
          ]).then((parts) => parts.flat()),
        )
      : this.#call('mget', withTagKeys([entry, fence], names))
    return read.then(this.#taggedBegunFrom)
  }

  /** What an MGET of entry and fence tells a load that begins. */
  readonly #begunFrom = (raws: (Buffer | null)[]): Begun => this.#begun(raws[0] ?? null, raws[1] ?? null)

  /** What an MGET of entry, fence and tags' times tells a load that begins. */
  readonly #taggedBegunFrom = (raws: (Buffer | null)[]): Begun =>
    this.#begun(raws[0] ?? null, raws[1] ?? null, tagTimesFrom(raws, 2))

  /** `begin` for many keys: one MGET of entries and fences per chunk (per slot on a Cluster), a few chunks at a time. */
  async beginMany(keys: readonly string[]): Promise<Begun[]> {
    if (keys.length === 0) return []
    this.#learnClock()
    const begun = new Array<Begun>(keys.length)
    const serializer = this.#serializer
    const nameOf = (i: number) => entryKey(keys[i] as string)
    await eachGroup(groupsFor(this.client, keys.length, nameOf, this.#chunk), async (group) => {
      const asked = new Array<string>(2 * group.length)
      for (let j = 0; j < group.length; j++) {
        const entry = nameOf(group[j] as number)
        asked[2 * j] = entry
        asked[2 * j + 1] = fenceKey(entry)
      }
      const raws = await this.#call<(Buffer | null)[]>('mget', asked)
      // One reading of the clock for the chunk: its loads all began with this reply.
      const nowUs = this.#clock.nowMicros()
      for (let j = 0; j < group.length; j++) {
        const raw = raws[2 * j]
        const fence = raws[2 * j + 1]
        begun[group[j] as number] = {
          entry: raw ? decodeEntry(raw, serializer) : undefined,
          token: fence ? Number(fence.toString('latin1')) || 0 : 0,
          nowUs,
        }
      }
    })
    return begun
  }

  /**
   * One load's fenced write, its announcement published from the same script. Off Cluster, one
   * COMMIT call (a batch's script without what a batch needs); on a Cluster, as a batch of one.
   */
  commit(
    key: string,
    entry: Entry,
    payload: string | Buffer,
    ttlMs: number,
    token: FenceToken,
    announce?: Announcement,
  ): Promise<Receipt | undefined> {
    if (this.client.isCluster) return this.#commitGroup([{ key, entry, payload, ttlMs, token }], announce).then(first)
    if (this.#reading()) this.#forgetReads(key)
    const name = entryKey(key)
    return this.#script<[number, number, number]>(
      COMMIT_SCRIPT,
      [name, fenceKey(name), this.#generationKey],
      [announce?.channel ?? '', announce?.message ?? '', String(token), px(ttlMs), encodeEntry(entry, payload)],
    ).then(this.#committed)
  }

  /** COMMIT's reply as a receipt. */
  readonly #committed = (reply: [number, number, number]): Receipt | undefined => {
    this.#clock.observe(Number(reply[0]))
    if (Number(reply[2]) !== 1) return undefined
    const generation = Number(reply[1])
    return { generation: generation > 0 ? generation : undefined }
  }

  /** Whether any read is in flight (a write must then make later reads of its key send their own). */
  #reading(): boolean {
    return this.#reads.size + this.#taggedReads.size + this.#begins.size + this.#taggedBegins.size > 0
  }

  /** Fenced writes of a batch: one script call per chunk (per slot on a Cluster), a few at a time. */
  async commitMany(
    writes: readonly FencedWrite[],
    announce?: (keys: string[]) => Announcement,
  ): Promise<(Receipt | undefined)[]> {
    const receipts = new Array<Receipt | undefined>(writes.length)
    await eachGroup(
      groupsFor(
        this.client,
        writes.length,
        (i) => entryKey((writes[i] as FencedWrite).key),
        this.#chunk,
        (i) => (writes[i] as FencedWrite).payload.length,
      ),
      async (group) => {
        const part = group.map((i) => writes[i] as FencedWrite)
        const landed = await this.#commitGroup(part, announce?.(part.map((w) => w.key)))
        group.forEach((i, j) => {
          receipts[i] = landed[j]
        })
      },
    )
    return receipts
  }

  /**
   * One COMMIT_MANY call: the writes that land move the namespace's generation (one step each)
   * and the announcement carries the generations, all inside the script. On a Cluster the
   * generation lives in another slot: it is moved, and the announcement published, after.
   */
  async #commitGroup(
    writes: readonly FencedWrite[],
    announce: Announcement | undefined,
  ): Promise<(Receipt | undefined)[]> {
    const cluster = this.client.isCluster
    const keys = new Array<string>(2 * writes.length + (cluster ? 0 : 1))
    let meta = ''
    // A cold batch's keys mostly share token (0), ttl and length: one text for a run of them.
    let lastToken: FenceToken | undefined
    let lastTtl = -1
    let lastLength = -1
    let item = ''
    const packed = packEntries(writes)
    // Nothing to forget while no read is in flight (a batch's usual case: thousands of keys).
    const reading = this.#reading()
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i] as FencedWrite
      if (reading) this.#forgetReads(w.key)
      const entry = entryKey(w.key)
      keys[2 * i] = entry
      keys[2 * i + 1] = fenceKey(entry)
      const length = packed.lengths[i] as number
      if (w.token !== lastToken || w.ttlMs !== lastTtl || length !== lastLength) {
        lastToken = w.token
        lastTtl = w.ttlMs
        lastLength = length
        item = `${w.token} ${px(w.ttlMs)} ${length} `
      }
      meta += item
    }
    if (!cluster) keys[keys.length - 1] = this.#generationKey
    const reply = await this.#script<number[]>(COMMIT_MANY_SCRIPT, keys, [
      cluster ? '' : (announce?.channel ?? ''),
      cluster ? '' : (announce?.message ?? ''),
      meta,
      packed.bytes,
    ])
    this.#clock.observe(Number(reply[0]))
    const landed = writes.map((_, i) => Number(reply[i + 2]) === 1)
    const count = landed.filter(Boolean).length
    let first = Number(reply[1])
    if (count > 0 && cluster) {
      first = Number(await this.#run(() => this.client.incrby(this.#generationKey, count))) - count + 1
      if (announce) await this.#bus.publishRaw(withGenerations(announce.message, first, count))
    }
    let next = first
    return landed.map((ok) => (ok ? { generation: first > 0 ? next++ : undefined } : undefined))
  }

  #begun(raw: Buffer | null, fence: Buffer | null, tagTimesUs?: number[]): Begun {
    // Every field in the literal, tag times too: one object shape for tagged and untagged begins.
    return {
      entry: raw ? decodeEntry(raw, this.#serializer) : undefined,
      token: fence ? Number(fence.toString('latin1')) || 0 : 0,
      nowUs: this.#clock.nowMicros(),
      tagTimesUs,
    }
  }

  /**
   * Asks Redis its time once (sent just before the read that needs it, so the read waits for
   * nothing), so entries begun before any commit are born on Redis's clock too. Not counted by
   * the breaker: a failure here only leaves the local clock standing in.
   */
  #learnClock(): void {
    if (this.#clock.known || this.#askingTime || !isReady(this.client)) return
    this.#askingTime = true
    this.client.time().then(
      ([seconds, micros]) => {
        this.#clock.observe(Number(seconds) * 1_000_000 + Number(micros))
        this.#askingTime = false
      },
      () => {
        this.#askingTime = false
      },
    )
  }

  async set(key: string, entry: Entry, payload: string | Buffer, ttlMs: number): Promise<Receipt> {
    this.#forgetReads(key)
    // The script writes Redis's time where the entry's birth time goes (see SET).
    const at = birthPosition(entry)
    const encoded = encodeEntry(at > 0 ? { ...entry, createdAtUs: 0 } : entry, payload)
    const [generation, born] = await this.#run(() =>
      this.#commands.corralSet(...this.#writeKeys(key), encoded, px(ttlMs), at),
    )
    this.#clock.observe(Number(born))
    return { generation: await this.#moved(generation), ...(at > 0 ? { createdAtUs: Number(born) } : {}) }
  }

  async delete(key: string): Promise<Receipt> {
    this.#forgetReads(key)
    const [, generation] = await this.#run(() => this.#commands.corralDelete(...this.#writeKeys(key)))
    return { generation: await this.#moved(generation) }
  }

  async generation(): Promise<number> {
    return Number(await this.#run(() => this.client.get(this.#generationKey))) || 0
  }

  /** An entry's keys for a write script, and the generation's where the script can move it too. */
  #writeKeys(key: string): string[] {
    const k = redisKeys(key)
    return this.client.isCluster ? [k.entry, k.fence] : [k.entry, k.fence, this.#generationKey]
  }

  /** The generation a write moved to: from its script, or (Cluster) moved now by a command of its own. */
  async #moved(fromScript: number): Promise<number> {
    if (Number(fromScript) > 0) return Number(fromScript)
    return Number(await this.#run(() => this.client.incrby(this.#generationKey, 1)))
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    this.#forgetReads(key)
    try {
      return await this.#run(() => this.#commands.corralIncrement(redisKeys(key).entry, by, px(ttlMs)))
    } catch (error) {
      if (String((error as Error).message).includes('CORRAL_NOT_A_COUNTER')) throw new NotACounterError(key)
      throw error
    }
  }

  async tagTimes(tags: readonly string[]): Promise<number[]> {
    if (tags.length === 0) return []
    const names = tags.map(tagKey)
    const raws = await this.#run(() =>
      this.client.isCluster ? Promise.all(names.map((name) => this.client.get(name))) : this.client.mget(...names),
    )
    return raws.map((raw) => Number(raw ?? 0) || 0)
  }

  async invalidateTags(tags: readonly string[]): Promise<{ atUs: number } & Receipt> {
    this.#forgetTaggedReads()
    // One generation per call: only the first tag's script moves it.
    const results = await this.#run(() =>
      Promise.all(
        tags.map((tag, i) =>
          this.client.isCluster
            ? this.#commands.corralInvalidateTag(tagKey(tag), 0)
            : this.#commands.corralInvalidateTag(tagKey(tag), this.#generationKey, i === 0 ? 1 : 0),
        ),
      ),
    )
    const atUs = Math.max(0, ...results.map(([time]) => Number(time)))
    this.#clock.observe(atUs)
    return { atUs, generation: await this.#moved(Number(results[0]?.[1] ?? 0)) }
  }

  async close(): Promise<void> {
    this.client.off('ready', this.#onReady)
    this.#sender.stop()
    await this.#bus.close()
    if (this.#owned) this.client.disconnect()
  }

  #waitFirstConnect(): Promise<boolean> {
    this.#firstConnect ??= whenReady(this.client, this.#timeoutMs).finally(() => {
      // Waited for once: from now on a disconnected Redis fails at once, even if it never came.
      this.#connectedOnce = true
      this.#firstConnect = undefined
    })
    return this.#firstConnect
  }

  /**
   * Runs one command only when Redis can answer it in time; otherwise fails at once. No async
   * layers on the way (a hit goes through here): the command is sent in this tick, and its
   * promise is the caller's after one `then`.
   */
  #run<T>(command: () => Promise<T>, watched = false, big = false): Promise<T> {
    const pass = this.#breaker ? this.#breaker.allow() : 'closed'
    if (!pass) return Promise.reject(new StoreUnavailableError('redis circuit breaker is open'))
    const answersBefore = this.#answers
    const sent = isReady(this.client) ? this.#send(command, watched, big) : this.#afterConnect(command, watched, big)
    return sent.then(
      (result) => {
        this.#answers++
        if (this.#breaker?.success(pass)) this.#logger.warn('redis answers again; circuit breaker closed')
        return result
      },
      (error: unknown) => {
        // A reply error (a script's refusal, a wrong type) means Redis is up and answering.
        if (error instanceof ReplyError) {
          this.#answers++
          this.#breaker?.success(pass)
        } else if (this.#unreachable(error, answersBefore) ? this.#breaker?.trip(pass) : this.#breaker?.failure(pass)) {
          this.#logger.warn('redis keeps failing; circuit breaker open', { error: String(error) })
        }
        throw error
      },
    )
  }

  /**
   * True when `error` cost the whole timeout and Redis answered nothing else meanwhile: Redis is
   * out of reach (down, paused, blackholed), not just slow on one command. One of those opens the
   * breaker at once, so the next steps of the same request (lock, load, write, release, publish)
   * do not pay the timeout again.
   */
  #unreachable(error: unknown, answersBefore: number): boolean {
    return spentTheTimeout(error) && this.#answers === answersBefore
  }

  /** Only the very first connect is waited for; after that a disconnected Redis fails at once. */
  async #afterConnect<T>(command: () => Promise<T>, watched: boolean, big: boolean): Promise<T> {
    if (this.#connectedOnce || !(await this.#waitFirstConnect())) {
      throw new StoreUnavailableError(`redis is not connected (status ${this.client.status})`)
    }
    return this.#send(command, watched, big)
  }

  /** One read or commit through the sender (`#run`'s rules; its time kept by the sender's watch where it keeps one). */
  #call<T>(name: string, args: Arg[]): Promise<T> {
    return this.#run(() => this.#sender.send<T>(name, args, true), true, args.length >= CHUNK_ARGS)
  }

  /** A write script through the sender, as `#call`. */
  #script<T>(script: LuaScript, keys: readonly string[], args: readonly Arg[]): Promise<T> {
    return this.#run(() => this.#sender.script<T>(script, keys, args), true, keys.length >= CHUNK_ARGS)
  }

  #send<T>(command: () => Promise<T>, watched: boolean, big: boolean): Promise<T> {
    this.#connectedOnce = true
    this.#writes.hold(big)
    let sent: Promise<T>
    try {
      sent = command()
    } catch (error) {
      return Promise.reject(error)
    }
    this.#writes.sent()
    if (!this.#needsOwnTimer || watched) return sent
    return withStoreTimeout(sent, this.#timeoutMs, this.#timedOut)
  }

  /** A command's timeout: one function for the store, not a closure per command. */
  readonly #timedOut = (): never => {
    throw new StoreUnavailableError(`redis did not answer within ${this.#timeoutMs} ms`)
  }
}

/** A failure that cost the caller the whole store timeout: no answer in time, or no connection after waiting for one. */
function spentTheTimeout(error: unknown): boolean {
  const message = String((error as Error)?.message)
  return /did not answer within|Command timed out|is not connected/.test(message)
}

/**
 * A message as a write's announcement carries it (JSON of an object), with the generations
 * `first` .. `first + count - 1` added: what COMMIT_MANY does inside the script.
 */
function withGenerations(message: string, first: number, count: number): string {
  const gens = Array.from({ length: count }, (_, i) => first + i)
  return `${message.slice(0, -1)},"gens":[${gens.join(',')}]}`
}

/** Redis PX argument: whole milliseconds, 0 for no expiry. */
function px(ttlMs: number): number {
  return Number.isFinite(ttlMs) ? Math.max(1, Math.ceil(ttlMs)) : 0
}

/** A store on Redis: `redisStore({ client })` with your ioredis client, or `redisStore({ url })`. */
export function redisStore(options: RedisStoreOptions): StoreFactory {
  return { kind: 'redis', create: (context) => new RedisStore(options, context) }
}

/** The one receipt of a batch of one. */
function first(receipts: (Receipt | undefined)[]): Receipt | undefined {
  return receipts[0]
}

/** A tag's invalidation time (µs) as stored; 0 when it was never invalidated. */
function tagTime(raw: Buffer | null | undefined): number {
  return raw ? Number(raw.toString('latin1')) || 0 : 0
}

/** `names` with the tag keys after them; indexed, as spreading the (frozen) tag keys allocated an iterator per read. */
function withTagKeys(names: string[], tagKeys: readonly string[]): string[] {
  for (let i = 0; i < tagKeys.length; i++) names.push(tagKeys[i] as string)
  return names
}

/** The tag times that follow the first `from` replies of a read. */
function tagTimesFrom(raws: readonly (Buffer | null)[], from: number): number[] {
  const times = new Array<number>(raws.length - from)
  for (let i = from; i < raws.length; i++) times[i - from] = tagTime(raws[i])
  return times
}
