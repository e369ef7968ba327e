-- counter.lua: algorithm.counter. State: a = count, b = when the count expires.

local function counter(l, a, b, c, now, cost)
  local limit = l[REQ]
  local count, expires = a, b
  if count > 0 and now >= expires then
    count, expires = 0, now
  end
  local need = math.max(cost, 1)
  local reset = 0
  if need > limit or count + need > limit then
    if count > 0 then
      reset = expires - now
    end
    return count, expires, 0, false, expires, deny(limit, limit - count, need, expires - now, reset)
  end
  local commit = false
  if cost > 0 then
    count, expires, commit = count + cost, now + l[WIN], true
  end
  if count > 0 then
    reset = expires - now
  end
  return count, expires, 0, commit, expires, allow(limit, limit - count, reset)
end

local function counter_give_back(l, a, b, c, now, amount)
  return math.max(0, a - amount), b, c
end
