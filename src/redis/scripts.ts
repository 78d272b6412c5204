/**
 * The Lua that makes fenced writes atomic on Redis. KEYS[1] is an entry, KEYS[2] its fence; both
 * share the `{...}` hash tag, so each script touches one Cluster slot. Scripts hold no user data:
 * keys and values arrive as KEYS and ARGV.
 *
 * A fence is a per-key integer that only grows: max(previous + 1, Redis time in ms), so it keeps
 * growing even after the fence key expired and was created again. A load reads it when it begins
 * and may write only if it is unchanged; every write (a load's included) and every delete moves
 * it. So of loads that overlap, the first to finish writes and the rest are refused, and nothing
 * begun before a `set` or `delete` can land after it. Beginning a load does not move the fence,
 * so concurrent loads cannot keep refusing each other.
 */
/**
 * Every write moves the namespace's write generation, in the same script as the write, so an L1
 * tier elsewhere that missed the write's message learns of it (src/generation.ts). The key is
 * passed only where it can share the script with the write (not on a Cluster: another slot);
 * there the store moves it with a command of its own. 0: no generation key given.
 */
const BUMP = `
local function bump(i)
  if KEYS[i] then return redis.call('INCRBY', KEYS[i], 1) end
  return 0
end
`

const ADVANCE = `
local function advance(fence, keepMs)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local nxt = tonumber(redis.call('GET', fence) or '0') + 1
  if now > nxt then nxt = now end
  local token = string.format('%d', nxt)
  local ttl = redis.call('PTTL', fence)
  if ttl == -1 and redis.call('EXISTS', fence) == 1 then
    redis.call('SET', fence, token)
  elseif ttl > keepMs then
    redis.call('SET', fence, token, 'PX', ttl)
  else
    redis.call('SET', fence, token, 'PX', keepMs)
  end
  return token
end
local function keep(fence, px)
  if px == 0 then redis.call('PERSIST', fence) return end
  local ttl = redis.call('PTTL', fence)
  if ttl >= 0 and ttl < px then redis.call('PEXPIRE', fence, px) end
end
local function write(entry, payload, px)
  if px == 0 then redis.call('SET', entry, payload) else redis.call('SET', entry, payload, 'PX', px) end
end
${BUMP}`

/** How long a fence outlives the entry it guards (a paused writer older than this is not caught). */
export const FENCE_MARGIN_MS = 3_600_000

/** ARGV: fence keep-alive ms. Returns { entry bytes or false, token, Redis time in µs }; creates the fence if absent. */
export const BEGIN = `${ADVANCE}
local token = redis.call('GET', KEYS[2])
if not token then token = advance(KEYS[2], tonumber(ARGV[1])) end
local t = redis.call('TIME')
return { redis.call('GET', KEYS[1]), tonumber(token), tonumber(t[1]) * 1000000 + tonumber(t[2]) }
`

/**
 * KEYS[1]: a tag's key; KEYS[2] (optional): the namespace's generation; ARGV[1]: '1' to move the
 * generation (once per invalidation, however many tags). Records Redis's time (µs) as the tag's
 * invalidation time, never moving it back. Returns { time, generation }. One tag per call: tags
 * live in their own Cluster slots.
 */
export const INVALIDATE_TAG = `${BUMP}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur >= now then now = cur + 1 end
redis.call('SET', KEYS[1], string.format('%d', now))
if ARGV[1] ~= '1' then return { now, 0 } end
return { now, bump(2) }
`

/**
 * KEYS[3] (optional): the namespace's generation. ARGV: token, payload, entry px (0 = no expiry).
 * Returns { 1, generation } if written, { 0, 0 } if the fence moved.
 */
export const COMMIT = `${ADVANCE}
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return { 0, 0 } end
local px = tonumber(ARGV[3])
advance(KEYS[2], ${FENCE_MARGIN_MS})
write(KEYS[1], ARGV[2], px)
if px == 0 then keep(KEYS[2], 0) else keep(KEYS[2], px + ${FENCE_MARGIN_MS}) end
return { 1, bump(3) }
`

/**
 * KEYS[3] (optional): the namespace's generation. ARGV: payload, entry px (0 = no expiry), the
 * 1-based byte position of the entry's birth time in the payload (0: none, a bare counter).
 * Advances the fence, then writes, with Redis's time (µs) as the birth time: tag times come
 * from the same clock, so no process clock decides whether an invalidation voids this write.
 * Returns { generation, birth time }.
 */
export const SET = `${ADVANCE}
local px = tonumber(ARGV[2])
local t = redis.call('TIME')
local born = tonumber(t[1]) * 1000000 + tonumber(t[2])
local payload = ARGV[1]
local at = tonumber(ARGV[3])
-- The client wrote a one-byte 0 where the birth time goes.
if at > 0 then payload = string.sub(payload, 1, at - 1) .. string.format('%d', born) .. string.sub(payload, at + 1) end
advance(KEYS[2], ${FENCE_MARGIN_MS})
write(KEYS[1], payload, px)
if px == 0 then keep(KEYS[2], 0) else keep(KEYS[2], px + ${FENCE_MARGIN_MS}) end
return { bump(3), born }
`

/** KEYS[3] (optional): the namespace's generation. Advances the fence, then deletes. Returns { deleted, generation }. */
export const DELETE = `${ADVANCE}
advance(KEYS[2], ${FENCE_MARGIN_MS})
return { redis.call('DEL', KEYS[1]), bump(3) }
`

/** ARGV: by, px for a new counter (0 = none). Refuses a key holding anything but an integer. */
export const INCREMENT = `
local v = redis.call('GET', KEYS[1])
if v and v ~= '0' and not (string.match(v, '^%-?[1-9]%d*$') and #v <= 16) then
  return redis.error_reply('CORRAL_NOT_A_COUNTER')
end
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if not v and ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
`
