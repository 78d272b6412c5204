/**
 * The Lua that makes fenced writes atomic on Redis. KEYS[1] is an entry, KEYS[2] its fence; both
 * share the `{...}` hash tag, so each script touches one Cluster slot. Scripts hold no user data:
 * keys and values arrive as KEYS and ARGV.
 *
 * A fence is a per-key integer that only grows: max(previous + 1, Redis time in ms), so it keeps
 * growing even after the fence key expired and was created again. A load reads it when it begins
 * and may write only if it is unchanged (an absent fence reads as 0); every write (a load's
 * included) and every delete moves it. So of loads that overlap, the first to finish writes and the rest are refused, and nothing
 * begun before a `set` or `delete` can land after it. Beginning a load does not move the fence,
 * so concurrent loads cannot keep refusing each other.
 */
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
`

/** How long a fence outlives the entry it guards (a paused writer older than this is not caught). */
export const FENCE_MARGIN_MS = 3_600_000

/**
 * KEYS[1]: a tag's key. Records Redis's time (µs) as the tag's invalidation time, never moving it
 * back, and returns it. One tag per call: tags live in their own Cluster slots.
 */
export const INVALIDATE_TAG = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur >= now then now = cur + 1 end
redis.call('SET', KEYS[1], string.format('%d', now))
return now
`

/** ARGV: payload, entry px (0 = no expiry). Advances the fence, then writes. */
export const SET = `${ADVANCE}
local px = tonumber(ARGV[2])
advance(KEYS[2], ${FENCE_MARGIN_MS})
write(KEYS[1], ARGV[1], px)
if px == 0 then keep(KEYS[2], 0) else keep(KEYS[2], px + ${FENCE_MARGIN_MS}) end
return 1
`

/** Advances the fence, then deletes. */
export const DELETE = `${ADVANCE}
advance(KEYS[2], ${FENCE_MARGIN_MS})
return redis.call('DEL', KEYS[1])
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

/**
 * Fenced writes of loaded entries, any number in one call (all in one Cluster slot). KEYS: entry
 * and fence of each key, in pairs. ARGV[1], ARGV[2]: a channel and a message to publish when at
 * least one entry was written ('' for none); then token, payload and px (0 = no expiry) per key.
 * A token is the fence read when the load began, '0' when there was none. Each entry is written
 * only if its fence still holds that token; the fence then takes max(previous + 1, Redis time in
 * ms) and lives px + FENCE_MARGIN_MS. Returns { Redis time in µs, 1 or 0 per key }.
 */
export const COMMIT_MANY = `
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = { tonumber(t[1]) * 1000000 + tonumber(t[2]) }
local any = false
for i = 1, #KEYS / 2 do
  local entry, fence = KEYS[2 * i - 1], KEYS[2 * i]
  local token, payload, px = ARGV[3 * i], ARGV[3 * i + 1], tonumber(ARGV[3 * i + 2])
  local cur = redis.call('GET', fence) or '0'
  if cur == token then
    local nxt = tonumber(cur) + 1
    if nowMs > nxt then nxt = nowMs end
    if px == 0 then
      redis.call('SET', fence, string.format('%d', nxt))
      redis.call('SET', entry, payload)
    else
      redis.call('SET', fence, string.format('%d', nxt), 'PX', px + ${FENCE_MARGIN_MS})
      redis.call('SET', entry, payload, 'PX', px)
    end
    out[i + 1] = 1
    any = true
  else
    out[i + 1] = 0
  end
end
if any and ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return out
`
