-- fixed_window.lua: algorithm.fixedWindow. State: a = count, b = window start.

local function fixed_window(l, a, b, c, now, cost)
  local w, limit = l[WIN], l[REQ]
  local start = window_start(now, w)
  local count = 0
  if b >= start then -- same window, or a newer one if the clock stepped back
    start, count = b, a
  end
  local need = math.max(cost, 1)
  local reset = 0
  if need > limit or count + need > limit then
    if count > 0 then
      reset = start + w - now
    end
    return count, start, 0, false, start + w, deny(limit, limit - count, need, start + w - now, reset)
  end
  local commit = false
  if cost > 0 then
    count, commit = count + cost, true
  end
  if count > 0 then
    reset = start + w - now
  end
  return count, start, 0, commit, start + w, allow(limit, limit - count, reset)
end

-- fixed_window_give_back is algorithm.Refund's new state.
local function fixed_window_give_back(l, a, b, c, now, amount)
  if b >= window_start(now, l[WIN]) then
    a = math.max(0, a - amount)
  end
  return a, b, c
end
