// redlock 5.0.0-beta.2 ships its types outside its `exports` map, so under `nodenext` they are not
// found (and a tsconfig `paths` fix would also redirect tsx at run time). This declares the part
// corral calls; it stays internal, out of corral's public types.
declare module 'redlock' {
  import type { EventEmitter } from 'node:events'

  export interface Settings {
    readonly driftFactor: number
    readonly retryCount: number
    readonly retryDelay: number
    readonly retryJitter: number
    readonly automaticExtensionThreshold: number
  }
  export interface ExecutionStats {
    readonly membershipSize: number
    readonly quorumSize: number
    readonly votesFor: Set<unknown>
    readonly votesAgainst: Map<unknown, Error>
  }
  export class ResourceLockedError extends Error {}
  export class ExecutionError extends Error {
    readonly attempts: ReadonlyArray<Promise<ExecutionStats>>
  }
  export class Lock {
    readonly resources: string[]
    readonly value: string
    expiration: number
    extend(duration: number): Promise<Lock>
    release(): Promise<unknown>
  }
  export default class Redlock extends EventEmitter {
    constructor(clients: Iterable<unknown>, settings?: Partial<Settings>)
    acquire(resources: string[], duration: number, settings?: Partial<Settings>): Promise<Lock>
    release(lock: Lock, settings?: Partial<Settings>): Promise<unknown>
    extend(lock: Lock, duration: number, settings?: Partial<Settings>): Promise<Lock>
  }
}
