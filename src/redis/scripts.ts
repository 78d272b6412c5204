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

/**
 * One load's fenced write: COMMIT_MANY for a single key, without what a batch needs (a blob and
 * a line to split, tables of fences and answers), so a miss costs Redis a few µs less. KEYS: the
 * entry, its fence, then (optional, not on a Cluster) the namespace's generation. ARGV: a channel
 * and a message to publish if the entry was written ('' for none), the token read when the load
 * began, px (0 = no expiry), the encoded entry. The same rules as COMMIT_MANY: written only if
 * the fence still holds the token; the fence then takes max(previous + 1, Redis time in ms) and
 * lives px + FENCE_MARGIN_MS; the write moves the generation and the message carries it
 * (`gens`). Returns { Redis time in µs, the generation (0: not written, or no generation key),
 * 1 if written else 0 }.
 */
export const COMMIT = `
local call = redis.call
local t = call('TIME')
local cur = call('GET', KEYS[2]) or '0'
if cur ~= ARGV[3] then return { t[1] * 1000000 + t[2], 0, 0 } end
local nxt = tonumber(cur) + 1
local nowMs = t[1] * 1000 + math.floor(t[2] / 1000)
if nowMs > nxt then nxt = nowMs end
local px = tonumber(ARGV[4])
if px == 0 then
  call('SET', KEYS[2], string.format('%d', nxt))
  call('SET', KEYS[1], ARGV[5])
else
  call('SET', KEYS[2], string.format('%d', nxt), 'PX', px + ${FENCE_MARGIN_MS})
  call('SET', KEYS[1], ARGV[5], 'PX', px)
end
local gen = 0
if KEYS[3] then gen = call('INCRBY', KEYS[3], 1) end
if ARGV[1] ~= '' then
  local message = ARGV[2]
  if gen > 0 then message = string.sub(message, 1, -2) .. ',"gens":[' .. string.format('%d', gen) .. ']}' end
  call('PUBLISH', ARGV[1], message)
end
return { t[1] * 1000000 + t[2], gen, 1 }
`

/** Fences a commit reads with one MGET: few enough for Lua's `unpack` (its C stack holds about 8,000). */
const FENCES_PER_MGET = 1_000

/**
 * Fenced writes of loaded entries, any number in one call (all in one Cluster slot). KEYS: entry
 * and fence of each key, in pairs, then (optional, not on a Cluster: another slot) the
 * namespace's generation. ARGV[1], ARGV[2]: a channel and a message (JSON of an object) to
 * publish when at least one entry was written ('' for none); ARGV[3]: "token px length " per key
 * (px 0 = no expiry); ARGV[4]: the encoded entries back to back, each `length` bytes. One blob
 * and one line instead of three arguments a key: Redis and the client parse a handful of
 * arguments, not thousands. A token is the fence read when the load began, '0' when there was
 * none. Each entry is written only if its fence still holds that token; the fence then takes
 * max(previous + 1, Redis time in ms) and lives px + FENCE_MARGIN_MS. The writes that land move
 * the generation one step each, and the message carries the generations they moved it to
 * (`gens`), so an L1 tier that hears it accounts for every one. Returns { Redis time in µs, the
 * first of those generations (0: none, or no generation key), 1 or 0 per key }.
 */
export const COMMIT_MANY = `
local call = redis.call
local t = call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowText = string.format('%d', nowMs)
local n = math.floor(#KEYS / 2)
local out = { tonumber(t[1]) * 1000000 + tonumber(t[2]), 0 }
local fences, current = {}, {}
for first = 1, n, ${FENCES_PER_MGET} do
  local last = math.min(n, first + ${FENCES_PER_MGET} - 1)
  for i = first, last do fences[i - first + 1] = KEYS[2 * i] end
  local got = call('MGET', unpack(fences, 1, last - first + 1))
  for i = first, last do current[i] = got[i - first + 1] end
end
local blob = ARGV[4]
local i, at, written = 0, 1, 0
-- A batch's keys mostly share one ttl: its texts are made once, not converted per SET.
local lastPx, fencePx = nil, nil
for token, px, length in string.gmatch(ARGV[3], '(%S+) (%d+) (%d+)') do
  i = i + 1
  length = tonumber(length)
  local cur = current[i] or '0'
  if i <= n and cur == token then
    local nxt = nowText
    if tonumber(cur) + 1 > nowMs then nxt = string.format('%d', tonumber(cur) + 1) end
    local payload = string.sub(blob, at, at + length - 1)
    if px == '0' then
      call('SET', KEYS[2 * i], nxt)
      call('SET', KEYS[2 * i - 1], payload)
    else
      if px ~= lastPx then
        lastPx = px
        fencePx = string.format('%d', tonumber(px) + ${FENCE_MARGIN_MS})
      end
      call('SET', KEYS[2 * i], nxt, 'PX', fencePx)
      call('SET', KEYS[2 * i - 1], payload, 'PX', px)
    end
    out[i + 2] = 1
    written = written + 1
  else
    out[i + 2] = 0
  end
  at = at + length
end
if written == 0 then return out end
local message = ARGV[2]
if #KEYS > 2 * n then
  local first = call('INCRBY', KEYS[#KEYS], written) - written + 1
  out[2] = first
  if ARGV[1] ~= '' then
    local gens = {}
    for g = first, first + written - 1 do gens[#gens + 1] = string.format('%d', g) end
    message = string.sub(message, 1, -2) .. ',"gens":[' .. table.concat(gens, ',') .. ']}'
  end
end
if ARGV[1] ~= '' then call('PUBLISH', ARGV[1], message) end
return out
`
