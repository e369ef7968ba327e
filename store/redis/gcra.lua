-- gcra.lua: algorithm.gcra. State: a = theoretical arrival time.

local function gcra(l, a, b, c, now, cost)
  local capacity, t = l[CAP], l[INT]
  local tolerance = capacity * t
  local tat = math.max(a, now)
  local need = math.max(cost, 1)
  if need > capacity or tat + need * t - tolerance > now then
    return tat, 0, 0, false, tat,
      deny(capacity, idiv(now + tolerance - tat, t), need, tat + need * t - tolerance - now, tat - now)
  end
  local commit = false
  if cost > 0 then
    tat, commit = tat + cost * t, true
  end
  return tat, 0, 0, commit, tat, allow(capacity, idiv(now + tolerance - tat, t), tat - now)
end

local function gcra_give_back(l, a, b, c, now, amount)
  return math.max(now, a - amount * l[INT]), b, c
end
