-- refund.lua: give back allowance to one key (store.Store's Refund). A
-- script for one algorithm.
--
-- KEYS[1]  the state key.
-- ARGV     now ('' for Redis TIME), the TTL floor (ms), then the limit
--          (see read_limit) and the amount.
-- Reply:   the decision of the key after the refund, as a read: allowed,
--          limit, remaining, reset, retry after, reason.

local now = clock(ARGV[1])
local l, p = read_limit(3)
local k = KEYS[1]
local a, b, c = decode(redis.call('GET', k))
local na, nb, nc, commit, exp, ok, limit, rem, reset, retry, why = refund(l, a, b, c, now, tonumber(ARGV[p]))
if na == nil then
  return redis.error_reply(CLOCK_SKEW)
end
if commit then
  store(k, l[ALG], na, nb, nc, exp, now, tonumber(ARGV[2]))
end
return {ok, limit, rem, reset, retry, why}
