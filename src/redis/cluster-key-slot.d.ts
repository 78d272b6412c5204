// cluster-key-slot 1.1.1 (the version ioredis pins) ships no types.
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0-16383) of a key name, honouring `{hash tags}`. */
  function calculate(key: string | Buffer): number
  export default calculate
}
