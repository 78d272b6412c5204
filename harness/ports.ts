import { createServer } from 'node:net'

/** Returns a TCP port that was free on 127.0.0.1 at the time of the call. */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      if (addr === null || typeof addr === 'string') {
        srv.close()
        reject(new Error('freePort: could not determine the assigned port'))
        return
      }
      const { port } = addr
      srv.close((err) => (err ? reject(err) : resolve(port)))
    })
  })
}
