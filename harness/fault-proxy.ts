import { connect, createServer, type Server, type Socket } from 'node:net'
import { freePort } from './ports.ts'

export type Fault = { kind: 'pass' } | { kind: 'latency'; ms: number } | { kind: 'blackhole' } | { kind: 'reset' }

/**
 * A TCP proxy between a client and a real server that injects faults: added latency on every
 * chunk, a blackhole (connections stay open, nothing gets through until it lifts, as in a network
 * partition that TCP later heals), or resets (every connection, open or new, is destroyed with RST).
 */
export interface FaultProxy {
  readonly port: number
  readonly url: string
  /** Bytes clients have sent towards the server so far (delivered, delayed or held alike). */
  readonly sent: number
  set(fault: Fault): void
  close(): Promise<void>
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const port = await freePort()
  let fault: Fault = { kind: 'pass' }
  const pairs = new Set<[Socket, Socket]>()

  /** Bytes held back by a blackhole, per direction, released in order when it lifts. */
  const held = new Map<Socket, Buffer[]>()
  let sent = 0
  const forward = (from: Socket, to: Socket, towardsServer: boolean) => {
    // TCP never loses or reorders bytes: each chunk is due `ms` after it arrived, and never before
    // the chunk ahead of it.
    let lastDue = 0
    from.on('data', (chunk: Buffer) => {
      if (towardsServer) sent += chunk.length
      const now = fault
      if (now.kind === 'blackhole') {
        held.set(to, [...(held.get(to) ?? []), chunk])
        return
      }
      const due = Math.max(Date.now() + (now.kind === 'latency' ? now.ms : 0), lastDue)
      lastDue = due
      setTimeout(() => to.destroyed || to.write(chunk), due - Date.now())
    })
  }

  const server: Server = createServer((client) => {
    if (fault.kind === 'reset') {
      client.resetAndDestroy()
      return
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort })
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    forward(client, upstream, true)
    forward(upstream, client, false)
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get sent() {
      return sent
    },
    set(next) {
      fault = next
      if (next.kind !== 'blackhole') {
        for (const [to, chunks] of held) for (const chunk of chunks) if (!to.destroyed) to.write(chunk)
        held.clear()
      }
      if (next.kind === 'reset') {
        for (const [client, upstream] of pairs) {
          client.resetAndDestroy()
          upstream.destroy()
        }
        pairs.clear()
      }
    },
    async close() {
      for (const [client, upstream] of pairs) {
        client.destroy()
        upstream.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
