/**
 * Lua for locking many keys in one call: the lock keys are those Redlock uses (`{key}:l`, value
 * = the holder's random token, expiring after the lock ttl), so a batch and a single-key `wrap`
 * see each other's locks. All keys of one call share a Cluster slot (or the Redis is standalone).
 */

/** ARGV: token, ttl ms. Takes each free lock; returns 1 per key taken, 0 per key someone holds. */
export const LOCK_MANY = `
local out = {}
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then out[i] = 1 else out[i] = 0 end
end
return out
`

/** ARGV: token, ttl ms. Extends each lock still held with this token. */
export const EXTEND_MANY = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
end
return 1
`

/** ARGV: token. Deletes each lock still held with this token. */
export const UNLOCK_MANY = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
`

/** Returns the ms each lock has left (-2 when free). */
export const LOCKS_LEFT = `
local out = {}
for i = 1, #KEYS do out[i] = redis.call('PTTL', KEYS[i]) end
return out
`
