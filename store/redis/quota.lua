-- quota.lua: algorithm.ApplyQuota. State: a = count, b = period start.
--
-- Time zones cannot be computed here, so the caller passes the bounds of the
-- previous, current and next calendar periods around its own clock, and
-- period picks the one holding this script's time.

-- period returns the start and end of the period holding now, or nil when
-- now is outside the three periods (the caller's clock and this one differ
-- by more than a period).
local function period(l, now)
  if now >= l[Q0] and now < l[Q1] then
    return l[Q0], l[Q1]
  elseif now >= l[Q1] and now < l[Q2] then
    return l[Q1], l[Q2]
  elseif now >= l[Q2] and now < l[Q3] then
    return l[Q2], l[Q3]
  end
  return nil
end

local function quota(l, a, b, c, now, cost)
  local start, stop = period(l, now)
  if not start then
    return nil
  end
  local limit = l[REQ]
  local count = 0
  if b >= start then -- this period, or a newer one if the clock stepped back
    count, start = a, b
  end
  local need = math.max(cost, 1)
  local reset = 0
  if need > limit or count + need > limit then
    if count > 0 then
      reset = stop - now
    end
    return count, start, 0, false, stop, deny(limit, limit - count, need, stop - now, reset)
  end
  local commit = false
  if cost > 0 then
    count, commit = count + cost, true
  end
  if count > 0 then
    reset = stop - now
  end
  return count, start, 0, commit, stop, allow(limit, limit - count, reset)
end

local function quota_give_back(l, a, b, c, now, amount)
  local start = period(l, now)
  if not start then
    return nil
  end
  if b >= start then
    a = math.max(0, a - amount)
  end
  return a, b, c
end
