import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '../harness/barrier.ts'
import { makeCertificates } from '../harness/certificates.ts'
import { spawnWorker } from '../harness/child.ts'
import { freePort } from '../harness/ports.ts'
import { killAndWait, spawnTracked, type Tracked, trackDir, untrackDir } from '../harness/procs.ts'
import { startMonitor } from '../harness/redis-monitor.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'
import { sleep } from '../harness/stores.ts'
import { useRedis } from '../harness/use-redis.ts'
import {
  type Cache,
  type CacheOptions,
  CorralError,
  createCache,
  type Logger,
  memoryStore,
  redisStore,
  StoreUnavailableError,
} from '../src/index.ts'
import * as scripts from '../src/redis/scripts.ts'

/**
 * Security: Redis with a password and a least-privilege ACL user, Redis over TLS,
 * tenants isolated by namespace, no KEYS/FLUSH and no user data in Lua, hostile keys stored
 * exactly, and what someone who can write to Redis can and cannot do. docs/security.md sums it up.
 */

const _run = promisify(execFile)
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server'
const SRC = new URL('../src/', import.meta.url).pathname

/**
 * Every command corral sends, found by running its traffic under `-@all` plus this list and
 * taking one away at a time: each one removed makes some operation fail. Inside Lua: get, set,
 * del, exists, pttl, pexpire, persist, incrby, time. Outside: get, mget (reads, tag times),
 * eval/evalsha (fenced writes, Redlock), pttl (lock wait), publish/subscribe (the bus).
 */
const MINIMAL_ACL = [
  '+get',
  '+mget',
  '+set',
  '+del',
  '+exists',
  '+pttl',
  '+pexpire',
  '+persist',
  '+incrby',
  '+time',
  '+eval',
  '+evalsha',
  '+publish',
  '+subscribe',
]

/** A logger that keeps what it was told, so "no warning" can be asserted. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    warn: (message, details) => void lines.push(`warn ${message} ${JSON.stringify(details ?? {})}`),
    error: (message, details) => void lines.push(`error ${message} ${JSON.stringify(details ?? {})}`),
  }
}

/** Every operation corral has, on two caches that share a store, with the results a caller sees. */
async function traffic(a: Cache, b: Cache) {
  const loads = { herd: 0 }
  const herdLoader = async () => {
    loads.herd += 1
    await sleep(150)
    return 'herd-value'
  }
  const seen: Record<string, unknown> = {}
  seen.wrap = await a.wrap('user:1', () => ({ id: 1 }), { tags: ['org:1'] })
  seen.wrapHit = await b.wrap('user:1', () => ({ id: 'not loaded' }), { tags: ['org:1'] })
  await a.set('user:2', { id: 2 }, { tags: ['org:1'], ttl: '1m', grace: '1h' })
  seen.setThenGet = await b.get('user:2')
  await a.set('forever', 'x', { ttl: Number.POSITIVE_INFINITY })
  await a.set('forever', 'y', { ttl: Number.POSITIVE_INFINITY })
  seen.forever = await b.get('forever')
  await b.invalidateTags(['org:1'])
  seen.afterTags = [await a.get('user:1'), await a.get('user:2')]
  seen.counter = [await a.increment('hits', 2, { ttl: '1m' }), await b.increment('hits', 3)]
  await a.delete('hits')
  seen.deleted = await b.get('hits')
  seen.many = await b.wrapMany(['m1', 'm2'], async (keys) => Object.fromEntries(keys.map((k) => [k, k.toUpperCase()])))
  seen.herd = await Promise.all([
    ...Array.from({ length: 5 }, () => a.wrap('herd', herdLoader)),
    ...Array.from({ length: 5 }, () => b.wrap('herd', herdLoader)),
  ])
  seen.herdLoads = loads.herd
  return seen
}

const EXPECTED_TRAFFIC = {
  wrap: { id: 1 },
  wrapHit: { id: 1 },
  setThenGet: { id: 2 },
  forever: 'y',
  afterTags: [undefined, undefined],
  counter: [2, 5],
  deleted: undefined,
  many: ['M1', 'M2'],
  herd: Array(10).fill('herd-value'),
  herdLoads: 1,
}

describe('Redis with requirepass and a least-privilege ACL user', () => {
  let server: RedisServer
  let admin: Redis
  const aclUrl = () => `redis://corral:secret@127.0.0.1:${server.port}`
  const aclLog = async () =>
    ((await admin.call('ACL', 'LOG')) as unknown[][]).map((entry) => {
      const e: Record<string, unknown> = {}
      for (let i = 0; i < entry.length; i += 2) e[String(entry[i])] = entry[i + 1]
      return e
    })

  beforeAll(async () => {
    server = await startRedis()
    admin = new Redis({ port: server.port, protocol: 2 })
    // Set after start: startRedis's readiness probe is an unauthenticated PING, which
    // `--requirepass` on the command line would refuse. The effect is the same.
    await admin.config('SET', 'requirepass', 'adminpw')
    await admin.call('ACL', 'SETUSER', 'corral', 'reset', 'on', '>secret', '~*', '&*', '-@all', ...MINIMAL_ACL)
    // One tenant's user: its keys all start with `{tenant-a:` and its channel with `corral:tenant-a:`.
    await admin.call(
      'ACL',
      'SETUSER',
      'tenant-a',
      'reset',
      'on',
      '>a-secret',
      '~{tenant-a:*',
      '&corral:tenant-a:*',
      '-@all',
      ...MINIMAL_ACL,
    )
  })
  afterAll(async () => {
    admin?.disconnect()
    await server?.stop()
  })

  it('runs every operation under the minimal ACL, through a URL and through a passed-in client', async () => {
    await admin.call('ACL', 'LOG', 'RESET')
    const logger = recordingLogger()
    const client = new Redis(aclUrl(), { protocol: 2, commandTimeout: 1_000 })
    const common: CacheOptions = { namespace: 'acl', l1: { maxEntries: 100 }, lock: true, logger }
    const a = createCache({ ...common, store: redisStore({ url: aclUrl() }) })
    const b = createCache({ ...common, store: redisStore({ client }) })
    try {
      expect(await traffic(a, b)).toStrictEqual(EXPECTED_TRAFFIC)
    } finally {
      await a.close()
      await b.close()
      client.disconnect()
    }
    expect(logger.lines).toEqual([])
    // ioredis's ready check asks for INFO and carries on without it; nothing else was refused.
    const refused = (await aclLog()).filter((e) => e.object !== 'info')
    expect(refused).toEqual([])
  })

  it("a tenant's ACL (~{tenant-a:* &corral:tenant-a:*) confines it: another namespace is out of reach, the cache steps aside", async () => {
    const logger = recordingLogger()
    const tenantUrl = `redis://tenant-a:a-secret@127.0.0.1:${server.port}`
    const own = createCache({ store: redisStore({ url: tenantUrl }), namespace: 'tenant-a', lock: true, logger })
    const other = createCache({ store: redisStore({ url: aclUrl() }), namespace: 'tenant-b', logger: false })
    // Tenant A's credentials pointed at tenant B's namespace (a bug, or a hostile tenant).
    const trespasser = createCache({
      store: redisStore({ url: tenantUrl }),
      namespace: 'tenant-b',
      logger: false,
    })
    try {
      expect(await own.wrap('k', () => 'a', { tags: ['t'] })).toBe('a')
      await own.invalidateTags(['t'])
      expect(await own.increment('n')).toBe(1)
      expect(logger.lines).toEqual([])

      await other.set('k', 'b')
      expect(await trespasser.get('k')).toBeUndefined()
      expect(await trespasser.wrap('k', () => 'loaded instead')).toBe('loaded instead')
      await expect(trespasser.set('k', 'overwritten')).rejects.toThrow()
      await expect(trespasser.delete('k')).rejects.toThrow()
      await expect(trespasser.invalidateTags(['t'])).rejects.toThrow()
      expect(await other.get('k')).toBe('b')
      const denied = (await aclLog()).filter((e) => e.username === 'tenant-a' && e.object !== 'info')
      expect(denied.length).toBeGreaterThan(0)
      expect(new Set(denied.map((e) => e.reason))).toEqual(new Set(['key']))
    } finally {
      await Promise.all([own.close(), other.close(), trespasser.close()])
    }
  })

  it('a wrong or missing password: wrap answers from the loader, explicit writes reject with StoreUnavailableError', async () => {
    const port = server.port
    const client = new Redis(`redis://corral:wrong@127.0.0.1:${port}`, { protocol: 2, commandTimeout: 200 })
    client.on('error', () => {}) // the user's client: its errors are the user's to hear
    const stores = {
      'wrong password (url)': redisStore({ url: `redis://corral:wrong@127.0.0.1:${port}`, timeout: 200 }),
      'no password (url)': redisStore({ url: `redis://127.0.0.1:${port}`, timeout: 200 }),
      'wrong password (client)': redisStore({ client, timeout: 200 }),
    }
    try {
      for (const [label, store] of Object.entries(stores)) {
        const cache = createCache({ store, namespace: 'pw', lock: true, l1: { maxEntries: 10 }, logger: false })
        try {
          const started = performance.now()
          expect(await cache.wrap('k', () => `loader ${label}`), label).toBe(`loader ${label}`)
          expect(await cache.wrap('k2', () => 2), label).toBe(2)
          expect(await cache.get('k'), label).toBeUndefined()
          expect(performance.now() - started, label).toBeLessThan(5_000)
          const writes = [
            () => cache.set('k', 1),
            () => cache.delete('k'),
            () => cache.increment('n'),
            () => cache.invalidateTags(['t']),
          ]
          for (const write of writes) {
            const error = await write().then(
              () => undefined,
              (e: unknown) => e,
            )
            expect(error, label).toBeInstanceOf(StoreUnavailableError)
            expect(error, label).toBeInstanceOf(CorralError)
          }
        } finally {
          await cache.close()
        }
      }
    } finally {
      client.disconnect()
    }
  })
})

/** Undoes the C-style escaping MONITOR applies to arguments (\\n, \\", \\xHH...), which ioredis passes on as is. */
function unrepr(text: string): string {
  const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '"': '"', '\\': '\\' }
  return text.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, c: string) =>
    c.length === 3 ? String.fromCharCode(Number.parseInt(c.slice(1), 16)) : (simple[c] ?? c),
  )
}

/** One PING over TLS; true on +PONG. */
function tlsPing(port: number, ca: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('error', () => done(false))
    socket.once('secureConnect', () => socket.write('PING\r\n'))
    socket.once('data', (data: Buffer) => done(data.toString().startsWith('+PONG')))
  })
}

describe('Redis over TLS (a throwaway CA made with openssl)', () => {
  let dir: string
  let ca: Buffer
  let caFile: string
  let port: number
  let proc: Tracked
  const tlsClient = (extra: object = {}) =>
    new Redis({ host: '127.0.0.1', port, tls: { ca }, protocol: 2, commandTimeout: 1_000, ...extra })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-tls-'))
    trackDir(dir)
    ;({ ca, caFile } = await makeCertificates(dir))
    port = await freePort()
    // TLS only: `--port 0` turns the plaintext listener off.
    proc = spawnTracked(
      REDIS_SERVER,
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        join(dir, 'server.crt'),
        '--tls-key-file',
        join(dir, 'server.key'),
        '--tls-ca-cert-file',
        caFile,
        '--tls-auth-clients',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { cwd: dir },
    )
    const deadline = Date.now() + 5_000
    while (!(await tlsPing(port, ca))) {
      if (Date.now() > deadline || proc.child.exitCode !== null) {
        throw new Error(`redis-server did not answer over TLS on ${port}:\n${proc.tail()}`)
      }
      await sleep(50)
    }
  })
  afterAll(async () => {
    if (proc) await killAndWait(proc, 'SIGKILL')
    if (dir) {
      await rm(dir, { recursive: true, force: true })
      untrackDir(dir)
    }
  })

  it('runs wrap/set/tags/increment/lock traffic over TLS with passed-in clients', async () => {
    const clients = [tlsClient(), tlsClient()]
    const logger = recordingLogger()
    const common: CacheOptions = { namespace: 'tls', l1: { maxEntries: 100 }, lock: true, logger }
    const a = createCache({ ...common, store: redisStore({ client: clients[0] as Redis }) })
    const b = createCache({ ...common, store: redisStore({ client: clients[1] as Redis }) })
    try {
      expect(await traffic(a, b)).toStrictEqual(EXPECTED_TRAFFIC)
      expect(logger.lines).toEqual([])
    } finally {
      await a.close()
      await b.close()
      for (const c of clients) c.disconnect()
    }
  })

  it('a client that does not trust the CA, or speaks plaintext, never gets through: the cache steps aside', async () => {
    const untrusting = new Redis({
      host: '127.0.0.1',
      port,
      tls: {},
      protocol: 2,
      commandTimeout: 300,
      maxRetriesPerRequest: 0,
    })
    const plaintext = new Redis({ host: '127.0.0.1', port, protocol: 2, commandTimeout: 300, maxRetriesPerRequest: 0 })
    for (const client of [untrusting, plaintext]) client.on('error', () => {})
    try {
      for (const client of [untrusting, plaintext]) {
        const cache = createCache({ store: redisStore({ client, timeout: 300 }), namespace: 'tls-no', logger: false })
        try {
          expect(await cache.wrap('k', () => 'from loader')).toBe('from loader')
          await expect(cache.set('k', 1)).rejects.toBeInstanceOf(StoreUnavailableError)
        } finally {
          await cache.close()
        }
      }
    } finally {
      untrusting.disconnect()
      plaintext.disconnect()
    }
  })

  it('rediss:// URLs (clients corral owns) take no CA option: the CA goes in through NODE_EXTRA_CA_CERTS', async () => {
    const worker = new URL('./fixtures/tls-url-worker.ts', import.meta.url).pathname
    const url = `rediss://127.0.0.1:${port}`
    type Outcome = { ok?: unknown; error?: string; corral?: boolean }
    type Report = { loaded: Outcome; set: Outcome; got: Outcome; counted: Outcome }
    const trusted = spawnWorker<Report>(worker, [], { REDIS_URL: url, NODE_EXTRA_CA_CERTS: caFile })
    const untrusted = spawnWorker<Report>(worker, [], { REDIS_URL: url, NODE_EXTRA_CA_CERTS: '' })
    const [good, bad] = await Promise.all([
      trusted.waitFor((m) => 'loaded' in m, 20_000),
      untrusted.waitFor((m) => 'loaded' in m, 20_000),
    ])
    expect(good.set).toEqual({ ok: 'done' })
    expect(good.got).toEqual({ ok: { via: 'rediss://' } })
    expect(good.counted).toEqual({ ok: 1 })
    expect(String(good.loaded.ok)).toMatch(/^loader-/)
    // Without the CA the TLS handshake fails: wrap still answers, writes fail typed.
    expect(String(bad.loaded.ok)).toMatch(/^loader-/)
    expect(bad.set).toEqual({ error: 'StoreUnavailableError', corral: true })
    expect(bad.got).toEqual({ ok: undefined })
    // What the trusted process wrote is really on the TLS server.
    const client = tlsClient()
    const reader = createCache({ store: redisStore({ client }), namespace: 'tls-url', logger: false })
    try {
      expect(await reader.get('written')).toEqual({ via: 'rediss://' })
    } finally {
      await reader.close()
      client.disconnect()
    }
    await Promise.all([trusted.exited, untrusted.exited])
  })
})

describe('one Redis, several tenants', () => {
  const redis = useRedis()

  it('namespaces isolate tenants: same key and tag names, and A cannot read, delete or invalidate B', async () => {
    const make = (namespace: string) =>
      createCache({
        store: redisStore({ url: redis.server.url }),
        namespace,
        l1: { maxEntries: 100 },
        lock: true,
        logger: false,
      })
    const a = make('tenant-a')
    const b = make('tenant-b')
    try {
      await b.set('user:1', 'B', { tags: ['org:1'] })
      expect(await b.wrap('user:2', () => 'B2', { tags: ['org:1'] })).toBe('B2')
      expect(await b.increment('visits', 5)).toBe(5)

      expect(await a.get('user:1')).toBeUndefined()
      expect(await a.wrap('user:1', () => 'A', { tags: ['org:1'] })).toBe('A')
      expect(await a.increment('visits')).toBe(1)
      await a.delete('user:2')
      await a.invalidateTags(['org:1'])
      expect(await a.get('user:1')).toBeUndefined() // A's own entry is invalidated...

      expect(await b.get('user:1')).toBe('B') // ...B's are not
      expect(await b.get('user:2')).toBe('B2')
      expect(await b.wrap('user:2', () => 'reloaded')).toBe('B2')
      expect(await b.increment('visits')).toBe(6)
      expect(await b.wrapMany(['user:1', 'user:2'], () => ({}))).toEqual(['B', 'B2'])
      // And the data sits under each tenant's own prefix.
      expect(await redis.raw.exists('{tenant-a:user:1}', '{tenant-b:user:1}', '{tenant-b:user:2}')).toBe(3)
      expect(await redis.raw.exists('{tenant-a:org:1}:tag', '{tenant-b:org:1}:tag')).toBe(1)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('sends no KEYS, SCAN, FLUSHALL or FLUSHDB, and the source has none', async () => {
    const files = (await readdir(SRC, { recursive: true })).filter((f) => f.endsWith('.ts'))
    expect(files.length).toBeGreaterThan(10)
    const patterns = [
      /flush_?(all|db)/i,
      /(call|pcall|Command|sendCommand)\(\s*['"`](keys|scan|flushall|flushdb)['"`]/i,
      /(?<!Object|entries|map|Map|record|options)\.(keys|scan|scanStream|scanBuffer|flushall|flushdb)(Buffer)?\(/,
    ]
    // The patterns do catch what they are for.
    for (const sample of ["redis.call('KEYS', '*')", 'client.keys(prefix + "*")', 'await this.client.flushdb()']) {
      expect(
        patterns.some((pattern) => pattern.test(sample)),
        sample,
      ).toBe(true)
    }
    const offences: string[] = []
    for (const file of files) {
      const text = await readFile(join(SRC, file), 'utf8')
      for (const pattern of patterns) {
        const match = pattern.exec(text)
        if (match) offences.push(`${file}: ${match[0]}`)
      }
    }
    expect(offences).toEqual([])
  })

  it('Lua scripts are constants: the same scripts for every namespace, key and value, with user data only in KEYS/ARGV', async () => {
    const texts = Object.entries(scripts as Record<string, unknown>).filter(
      (e): e is [string, string] => typeof e[1] === 'string',
    )
    expect(texts.map(([name]) => name).sort()).toEqual(
      ['COMMIT', 'COMMIT_MANY', 'DELETE', 'INCREMENT', 'INVALIDATE_TAG', 'SET'].sort(),
    )
    const sha1 = (text: string) => createHash('sha1').update(text).digest('hex')
    const corralShas = new Set(texts.map(([, text]) => sha1(text)))

    const monitor = await startMonitor(new Redis(redis.server.url, { protocol: 2 }))
    const seen: { source: string; args: string[] }[] = []
    monitor.on('monitor', (_time: string, args: string[], source: string) => void seen.push({ source, args }))
    const scriptsUsedBy = async (namespace: string) => {
      const from = seen.length
      const marker = `MARKER-${namespace}`
      const cache = createCache({
        store: redisStore({ url: redis.server.url }),
        namespace,
        l1: { maxEntries: 10 },
        lock: true,
        logger: false,
      })
      await cache.wrap(`${marker}\n'); redis.call('FLUSHALL') --`, () => `${marker} value ]] .. "`, {
        tags: [`${marker}-tag`],
      })
      // A batch's writes go through COMMIT_MANY (one key's through COMMIT); without a lock, so
      // no batch-lock scripts join Redlock's.
      const unlocked = createCache({ store: redisStore({ url: redis.server.url }), namespace, logger: false })
      await unlocked.wrapMany([`${marker}-a`, `${marker}-b`], async (keys) =>
        Object.fromEntries(keys.map((k) => [k, `${marker} ${k}`])),
      )
      await unlocked.close()
      await cache.set(`${marker}-k`, { v: marker })
      await cache.increment(`${marker}-n`, 1, { ttl: '1m' })
      await cache.delete(`${marker}-k`)
      await cache.invalidateTags([`${marker}-tag`])
      await cache.close()
      // MONITOR reports commands in the order Redis ran them: once it shows this one, it has shown ours.
      const end = `END-${namespace}`
      await redis.raw.get(end)
      await until('MONITOR to report the commands', () => seen.some((c) => c.args[1] === end))
      const mine = seen.slice(from)
      const bodies = mine.filter((c) => c.args[0]?.toLowerCase() === 'eval').map((c) => unrepr(c.args[1] as string))
      const shas = mine.filter((c) => c.args[0]?.toLowerCase() === 'evalsha').map((c) => c.args[1] as string)
      for (const body of bodies) {
        expect(body).not.toContain(marker)
        expect(body).not.toContain(namespace)
      }
      // User data did reach Redis, as KEYS and ARGV.
      const evals = mine.filter((c) => /^eval(sha)?$/i.test(c.args[0] ?? ''))
      expect(evals.some((c) => c.args.slice(3).some((arg) => arg.includes(marker)))).toBe(true)
      const names = new Set(mine.map((c) => c.args[0]?.toLowerCase()))
      for (const forbidden of ['keys', 'scan', 'flushall', 'flushdb', 'config', 'script']) {
        expect(names.has(forbidden), forbidden).toBe(false)
      }
      return { scripts: new Set([...bodies.map(sha1), ...shas]), names }
    }
    try {
      const one = await scriptsUsedBy('tenant-one')
      const two = await scriptsUsedBy('tenant-two')
      expect(one.scripts).toEqual(two.scripts)
      // Every corral script ran, and nothing but corral's and Redlock's three (acquire, extend, release).
      for (const [name, text] of texts) expect(one.scripts.has(sha1(text)), name).toBe(true)
      expect(one.scripts.size).toBeLessThanOrEqual(corralShas.size + 3)
      // Every command, inside Lua or not, is one the minimal ACL allows.
      const allowed = new Set([...MINIMAL_ACL.map((c) => c.slice(1)), 'info', 'client', 'select', 'ping'])
      expect([...one.names].filter((n) => n && !allowed.has(n))).toEqual([])
    } finally {
      monitor.disconnect()
    }
  })

  it('someone who can write to Redis can forge an entry (values are trusted), but not a prototype', async () => {
    const json = createCache({
      store: redisStore({ url: redis.server.url }),
      namespace: 'forge',
      serializer: 'json',
      logger: false,
    })
    const msgpack = createCache({
      store: redisStore({ url: redis.server.url }),
      namespace: 'forge-mp',
      serializer: 'msgpack',
      logger: false,
    })
    try {
      await redis.raw.set('{forge:price}', 'C1[null,null,0,0,[],0]\n{"amount":0}')
      expect(await json.get('price')).toEqual({ amount: 0 })
      // JSON: the __proto__ key is dropped however it is spelled in the stored text.
      const spellings = ['"__proto__"', '"\\u005f_proto__"', '"\\u005F\\u005Fproto\\u005F\\u005F"', '"__pr\\u006fto__"']
      for (const [i, spelling] of spellings.entries()) {
        await redis.raw.set(`{forge:evil${i}}`, `C1[null,null,0,0,[],0]\n{${spelling}:{"polluted":true},"name":"x"}`)
        const value = (await json.get<Record<string, unknown>>(`evil${i}`)) as Record<string, unknown>
        expect(value.name, spelling).toBe('x')
        expect(Object.hasOwn(value, '__proto__'), spelling).toBe(false)
        expect((Object.assign({}, value) as Record<string, unknown>).polluted, spelling).toBeUndefined()
        expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      }
      // msgpack: a plain map with a __proto__ key (as any msgpack writer makes it) comes back renamed.
      const map = Buffer.concat([
        Buffer.from([0x82, 0xa9]),
        Buffer.from('__proto__'),
        Buffer.from([0x81, 0xa8]),
        Buffer.from('polluted'),
        Buffer.from([0xc3, 0xa4]),
        Buffer.from('name'),
        Buffer.from([0xa1]),
        Buffer.from('x'),
      ])
      await redis.raw.set('{forge-mp:evil}', Buffer.concat([Buffer.from('C1[null,null,0,0,[],8]\n'), map]))
      // corral's msgpack reads a plain MessagePack map as a Map (objects travel as records), so the
      // key is just a Map key: nothing to merge into a prototype.
      const packed = (await msgpack.get<Map<string, unknown>>('evil')) as Map<string, unknown>
      expect(packed).toBeInstanceOf(Map)
      expect(packed.get('name')).toBe('x')
      expect(Object.getPrototypeOf(packed)).toBe(Map.prototype)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    } finally {
      await json.close()
      await msgpack.close()
    }
  })

  it('someone who can publish on a cache channel cannot crash the processes listening on it', async () => {
    const namespace = 'victim'
    const worker = spawnWorker<{ event?: string; id?: number; value?: string; error?: string }>(
      new URL('./fixtures/bus-victim-worker.ts', import.meta.url).pathname,
      [],
      { REDIS_URL: redis.server.url, NAMESPACE: namespace },
    )
    try {
      await worker.waitFor((m) => m.event === 'started', 20_000)
      const forged = [
        'null',
        '5',
        '"text"',
        '[]',
        '{',
        '{"kind":"drop","keys":null}',
        '{"kind":"drop","keys":5}',
        '{"kind":"drop","keys":[{"toString":1}]}',
        '{"kind":"tags","tags":null,"at":1}',
        '{"kind":"tags","tags":[null],"at":"soon"}',
        '{"kind":"ready"}',
        '{"kind":"ready","key":{"a":1}}',
        `{"kind":"error","key":"${namespace}:k","detail":null}`,
      ]
      let id = 0
      for (const message of forged) {
        expect(await redis.raw.publish(`corral:${namespace}:bus`, message)).toBe(1)
        await sleep(20)
        worker.send({ id: ++id, op: 'wrap', key: `k${id}` })
        const answer = await worker
          .waitFor((m) => m.id === id, 5_000)
          .catch((error: Error) => ({
            error: `no answer after ${message}: ${error.message.split('\n')[0]}`,
          }))
        expect(answer, `after publishing ${message}`).toMatchObject({ value: `loaded-k${id}` })
      }
    } finally {
      worker.send({ op: 'exit' })
      await Promise.race([worker.exited, sleep(3_000)])
      await worker.kill('SIGKILL')
    }
  })
})

describe('hostile keys', () => {
  const redis = useRedis()

  const HOSTILE = [
    'x',
    'x}',
    '{x}',
    'x}:f',
    'x}:l',
    'x}:e',
    'x}:tag',
    'x:f',
    '{}',
    '}{',
    '}',
    '{',
    'a\nb',
    'a\r\nb',
    'a\nb\n',
    '*'.repeat(1_024),
    '*',
    '?',
    '[a-z]',
    'KEYS *',
    '\r\n*1\r\n$8\r\nFLUSHALL\r\n',
    "'); redis.call('FLUSHALL') --",
    ']]..redis.call("FLUSHALL")..[[',
    '%s%d%n',
    '\0',
    '\0\0',
    ' ',
    '__proto__',
    'constructor',
    'toString',
    '😀'.repeat(256),
  ]

  it.each(['memory', 'redis'] as const)(
    'on %s: each is stored and found exactly, and none collides with another',
    async (kind) => {
      const cache = createCache({
        store: kind === 'memory' ? memoryStore() : redisStore({ url: redis.server.url }),
        namespace: 'hostile',
        ...(kind === 'redis' ? { l1: { maxEntries: 100 }, lock: true } : {}),
        logger: false,
      })
      try {
        await Promise.all(HOSTILE.map((key, i) => cache.set(key, { i, key }, { tags: [key] })))
        for (const [i, key] of HOSTILE.entries()) expect(await cache.get(key), JSON.stringify(key)).toEqual({ i, key })
        if (kind === 'redis') {
          for (const key of HOSTILE) expect(await redis.raw.exists(`{hostile:${key}}`), JSON.stringify(key)).toBe(1)
        }
        // Deleting, invalidating by tag and reloading one key touch that key only.
        const victim = 'x}:f'
        await cache.delete(victim)
        await cache.invalidateTags(['x'])
        expect(await cache.get(victim)).toBeUndefined()
        expect(await cache.get('x')).toBeUndefined()
        expect(await cache.wrap(victim, () => 'reloaded')).toBe('reloaded')
        for (const [i, key] of HOSTILE.entries()) {
          if (key === victim || key === 'x') continue
          expect(await cache.get(key), JSON.stringify(key)).toEqual({ i, key })
        }
        // Counters on hostile keys are separate counters.
        expect(await cache.increment('}{n')).toBe(1)
        expect(await cache.increment('{n}')).toBe(1)
      } finally {
        await cache.close()
      }
    },
  )
})
