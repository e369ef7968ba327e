-- undo.lua: take back calls that take.lua allowed and wrote, when another
-- slot group of the same all-or-nothing check was denied (the cross-slot
-- protocol; see docs/redis.md).
--
-- KEYS[i]  the state key of call i, as given to take.lua.
-- ARGV[1]  now in µs, or '' to use Redis TIME.   ARGV[2]  the TTL floor in ms.
-- ARGV[3…] per call: the limit and cost as in take.lua, then what take.lua
--          returned for it: existed before, state before (a, b, c), state
--          after (a, b, c).
--
-- For each key: if it still holds the state take.lua wrote, nobody used it
-- since, and the state before is put back. Otherwise other calls used the
-- key in between, and each call's cost is refunded (algorithm.Refund), last
-- call first.
--
-- Reply: six integers per call: a read of its key afterwards (allowed 1,
-- retry after 0), as in take.lua.

local now = clock(ARGV[1])
local floor = tonumber(ARGV[2])
local limits, costs = {}, {}
local order, calls, prior, existed, written = {}, {}, {}, {}, {}
local p = 3
for i = 1, #KEYS do
  local k = KEYS[i]
  limits[i], p = read_limit(p)
  costs[i] = tonumber(ARGV[p])
  if not calls[k] then
    calls[k] = {}
    order[#order + 1] = k
    existed[k] = ARGV[p + 1] == '1'
    prior[k] = {tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3]), tonumber(ARGV[p + 4])}
    written[k] = {tonumber(ARGV[p + 5]), tonumber(ARGV[p + 6]), tonumber(ARGV[p + 7])}
  end
  local list = calls[k]
  list[#list + 1] = i
  p = p + 8
end

local final = {}
for _, k in ipairs(order) do
  local list = calls[k]
  local a, b, c, had = decode(redis.call('GET', k))
  local w = written[k]
  if had and a == w[1] and b == w[2] and c == w[3] then
    if existed[k] then
      a, b, c = prior[k][1], prior[k][2], prior[k][3]
    else
      redis.call('DEL', k)
      a, b, c, had = 0, 0, 0, false
    end
  elseif had then
    for j = #list, 1, -1 do
      local i = list[j]
      a, b, c = refund(limits[i], a, b, c, now, costs[i])
      if a == nil then
        return redis.error_reply(CLOCK_SKEW)
      end
    end
  end
  if had then
    local e = now
    for _, i in ipairs(list) do
      local na, _, _, _, x = apply(limits[i], a, b, c, now, 0)
      if na == nil then
        return redis.error_reply(CLOCK_SKEW)
      end
      e = math.max(e, x)
    end
    store(k, limits[list[1]][ALG], a, b, c, e, now, floor)
  end
  final[k] = {a, b, c}
end

local reply = {}
for i = 1, #KEYS do
  local s = final[KEYS[i]]
  local _, _, _, _, _, _, limit, rem, reset, _, why = apply(limits[i], s[1], s[2], s[3], now, 0)
  local m = #reply
  reply[m + 1], reply[m + 2], reply[m + 3] = 1, limit, rem
  reply[m + 4], reply[m + 5], reply[m + 6] = reset, 0, why
end
return reply
