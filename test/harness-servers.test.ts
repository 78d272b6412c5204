import { fileURLToPath } from 'node:url'
import { Cluster, Redis } from 'ioredis'
import { createConnection } from 'mysql2/promise'
import { describe, expect, it } from 'vitest'
import { spawnWorker } from '../harness/child.ts'
import { startMariaDb } from '../harness/mariadb.ts'
import { freePort } from '../harness/ports.ts'
import { commandsDuring } from '../harness/redis-monitor.ts'
import { startRedis, startRedisCluster } from '../harness/redis-server.ts'

const STANDARD_PORTS = [6379, 3306]

describe('harness servers', () => {
  it("commandsDuring starts MONITOR while another client sends commands nonstop (ioredis's monitor() race)", async () => {
    const server = await startRedis()
    const busy = new Redis(server.url, { protocol: 2 })
    const admin = new Redis(server.url, { protocol: 2 })
    let stop = false
    const traffic = (async () => {
      while (!stop) await Promise.all(Array.from({ length: 20 }, () => busy.get('x')))
    })()
    try {
      // Monitored lines often arrive in the same read as MONITOR's "+OK": each start must survive that.
      for (let i = 0; i < 20; i++) {
        const sent = await commandsDuring(admin, () => admin.set(`k${i}`, 'v'))
        expect(sent.filter((name) => name === 'set')).toEqual(['set'])
      }
    } finally {
      stop = true
      await traffic
      busy.disconnect()
      admin.disconnect()
      await server.stop()
    }
  })

  it('freePort returns a usable non-standard port', async () => {
    const p = await freePort()
    expect(p).toBeGreaterThan(0)
    expect(STANDARD_PORTS).not.toContain(p)
  })

  it('starts redis, survives SIGKILL + restart on the same port', async () => {
    const t0 = Date.now()
    const server = await startRedis()
    const startedMs = Date.now() - t0
    const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true })
    client.on('error', () => {})
    try {
      expect(STANDARD_PORTS).not.toContain(server.port)
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
      await client.connect()
      await client.set('k', 'v')
      expect(await client.get('k')).toBe('v')

      const pid = server.pid
      await server.kill('SIGKILL')
      expect(() => process.kill(pid as number, 0)).toThrow()
      const t1 = Date.now()
      await server.restart()
      const restartMs = Date.now() - t1
      expect(server.pid).not.toBe(pid)

      const again = new Redis(server.url, { maxRetriesPerRequest: 1 })
      try {
        expect(await again.ping()).toBe('PONG')
        // no persistence: data is gone after SIGKILL
        expect(await again.get('k')).toBeNull()
      } finally {
        again.disconnect()
      }
      console.log(`redis: start ${startedMs} ms, restart ${restartMs} ms`)
    } finally {
      client.disconnect()
      await server.stop()
    }
  })

  it('starts a 6-node redis cluster usable by ioredis Cluster', { timeout: 60_000 }, async () => {
    const t0 = Date.now()
    const cluster = await startRedisCluster(6)
    const startedMs = Date.now() - t0
    const client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } })
    client.on('error', () => {})
    try {
      expect(cluster.ports).toHaveLength(6)
      for (const p of cluster.ports) expect(STANDARD_PORTS).not.toContain(p)
      for (let i = 0; i < 20; i++) await client.set(`key:${i}`, String(i))
      for (let i = 0; i < 20; i++) expect(await client.get(`key:${i}`)).toBe(String(i))
      console.log(`redis cluster (6 nodes): ready in ${startedMs} ms`)
    } finally {
      client.disconnect()
      await cluster.stop()
    }
  })

  it('starts MariaDB reachable as root over TCP', { timeout: 60_000 }, async () => {
    const t0 = Date.now()
    const db = await startMariaDb()
    const startedMs = Date.now() - t0
    try {
      expect(STANDARD_PORTS).not.toContain(db.port)
      expect(db.url).toBe(`mysql://root@127.0.0.1:${db.port}/test`)
      const conn = await createConnection(db.url)
      try {
        const [rows] = await conn.query('SELECT 1 AS one, DATABASE() AS db')
        expect(rows).toEqual([{ one: 1, db: 'test' }])
        await conn.query('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB')
        await conn.query("INSERT INTO t VALUES (1, 'a')")
      } finally {
        await conn.end()
      }

      await db.kill('SIGKILL')
      const t1 = Date.now()
      await db.restart()
      const restartMs = Date.now() - t1
      const conn2 = await createConnection(db.url)
      try {
        const [rows] = await conn2.query('SELECT v FROM t WHERE id = 1')
        expect(rows).toEqual([{ v: 'a' }])
      } finally {
        await conn2.end()
      }
      console.log(`mariadb: start ${startedMs} ms, restart after SIGKILL ${restartMs} ms`)
    } finally {
      await db.stop()
    }
  })

  it('spawnWorker exchanges JSON lines with a tsx child', async () => {
    const file = fileURLToPath(new URL('./fixtures/echo-worker.ts', import.meta.url))
    const w = spawnWorker<{ type: string; value?: number }>(file, ['7'])
    try {
      await w.waitFor((m) => m.type === 'ready')
      w.send({ type: 'double', value: 21 })
      const reply = await w.waitFor((m) => m.type === 'result')
      expect(reply.value).toBe(42)
      expect(w.messages[0]).toEqual({ type: 'ready', value: 7 })
      w.send({ type: 'exit' })
      expect(await w.exited).toBe(0)
    } finally {
      await w.kill('SIGKILL')
    }
  })
})
