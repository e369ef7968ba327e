-- take1.lua: decide one call (store.Store's Take). A script for one
-- algorithm: apply is that algorithm's function.
--
-- KEYS[1]  the state key.
-- ARGV     now in µs ('' to use Redis TIME), the TTL floor in ms (0 in
--          production), '0', then the limit (see read_limit) and the cost.
-- Reply:   as take.lua's for one call: {allowed, allowed, limit,
--          remaining, reset (µs), retry after (µs), reason}.

local now = clock(ARGV[1])
local l, p = read_limit(4)
local k = KEYS[1]
local a, b, c = decode(redis.call('GET', k))
local na, nb, nc, commit, exp, ok, limit, rem, reset, retry, why = apply(l, a, b, c, now, tonumber(ARGV[p]))
if na == nil then
  return redis.error_reply(CLOCK_SKEW)
end
if commit then
  store(k, l[ALG], na, nb, nc, exp, now, tonumber(ARGV[2]))
end
return {ok, ok, limit, rem, reset, retry, why}
