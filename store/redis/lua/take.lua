-- take.lua: decide several calls at once, all-or-nothing (store.Store's
-- TakeAll).
--
-- KEYS[i]  the state key of call i (a key may repeat: later calls see the
--          cost of earlier ones).
-- ARGV[1]  now in µs, or '' to use Redis TIME.
-- ARGV[2]  the TTL floor in ms (0 in production).
-- ARGV[3]  '1' to append, per call, the key's state before and after (the
--          cross-slot protocol needs them to undo the calls), else '0'.
-- ARGV[4…] per call: the limit (see read_limit), then the cost.
--
-- The calls are applied in order to the keys' states. If all are allowed,
-- the new states are written; otherwise nothing is written, denied calls
-- keep their decisions and the others get a read of their key as it stands,
-- with allowed = 1 and retry after = 0.
--
-- Reply: {all allowed (1/0), then six integers per call: allowed, limit,
-- remaining, reset (µs), retry after (µs), reason}, then with ARGV[3] = '1'
-- seven integers per call: existed before (1/0), state before (a, b, c),
-- state after (a, b, c).

local now = clock(ARGV[1])
local n = #KEYS
local before, after, existed, exp, dirty = {}, {}, {}, {}, {}
local limits, decisions = {}, {}
local all = 1
local p = 4
for i = 1, n do
  local k = KEYS[i]
  local l
  l, p = read_limit(p)
  local cost = tonumber(ARGV[p])
  p = p + 1
  limits[i] = l
  local s = after[k]
  if not s then
    local a, b, c, had = decode(redis.call('GET', k))
    s = {a, b, c}
    before[k], after[k], existed[k] = s, s, had
  end
  local na, nb, nc, commit, e, ok, limit, rem, reset, retry, why = apply(l, s[1], s[2], s[3], now, cost)
  if na == nil then
    return redis.error_reply(CLOCK_SKEW)
  end
  if commit then
    after[k], dirty[k] = {na, nb, nc}, l[ALG]
  end
  exp[k] = math.max(exp[k] or e, e)
  decisions[i] = {ok, limit, rem, reset, retry, why}
  if ok == 0 then
    all = 0
  end
end

if all == 1 then
  local floor = tonumber(ARGV[2])
  for k, alg in pairs(dirty) do
    local s = after[k]
    store(k, alg, s[1], s[2], s[3], exp[k], now, floor)
  end
end
local reply = {all}
for i = 1, n do
  local d = decisions[i]
  if all == 0 and d[1] == 1 then
    local s = before[KEYS[i]]
    local _, _, _, _, _, _, limit, rem, reset, _, why = apply(limits[i], s[1], s[2], s[3], now, 0)
    d = {1, limit, rem, reset, 0, why}
  end
  for j = 1, 6 do
    reply[#reply + 1] = d[j]
  end
end
if ARGV[3] == '1' then
  for i = 1, n do
    local k = KEYS[i]
    local s, t = before[k], after[k]
    local m = #reply
    reply[m + 1] = existed[k] and 1 or 0
    reply[m + 2], reply[m + 3], reply[m + 4] = s[1], s[2], s[3]
    reply[m + 5], reply[m + 6], reply[m + 7] = t[1], t[2], t[3]
  end
end
return reply
