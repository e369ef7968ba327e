-- lease.lua: concurrency leases (store.Leaser). The key is a sorted set of
-- lease ids scored by their expiry (µs); the key's TTL is the latest expiry.
--
-- KEYS[1]  the lease key.
-- ARGV     now ('' for Redis TIME), TTL floor (ms), operation ('acquire' or
--          'release'), lease id, and for acquire: max leases, lease TTL (µs).
-- Reply:   allowed, limit, remaining, reset, retry after, reason (acquire);
--          {} (release).

local now = clock(ARGV[1])
local floor = tonumber(ARGV[2])
local k, id = KEYS[1], ARGV[4]

-- Expired leases no longer count.
redis.call('ZREMRANGEBYSCORE', k, '-inf', string.format('%d', now))

-- latest returns the latest expiry of a held lease, or nil.
local function latest()
  local last = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
  return tonumber(last[2])
end

local reply = {}
if ARGV[3] == 'acquire' then
  local max, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
  local held = redis.call('ZSCORE', k, id)
  local n = redis.call('ZCARD', k)
  if held or n < max then
    redis.call('ZADD', k, string.format('%d', now + ttl), id)
    if not held then
      n = n + 1
    end
    reply = {allow(max, max - n, latest() - now)}
  else
    local oldest = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    reply = {deny(max, 0, 1, tonumber(oldest[2]) - now, latest() - now)}
  end
else
  redis.call('ZREM', k, id)
end

local last = latest()
if last then
  redis.call('PEXPIRE', k, string.format('%d', math.max(idiv(last - now + 999, 1000), floor)))
else
  redis.call('DEL', k)
end
return reply
