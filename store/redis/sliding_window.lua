-- sliding_window.lua: algorithm.slidingWindow. State: a = previous window's
-- count, b = current window's count, c = current window's start.

-- slide returns the previous and current counts and the current window's start.
local function slide(w, a, b, c, now)
  local start = window_start(now, w)
  if c >= start then -- same window, or a newer one if the clock stepped back
    return a, b, c
  elseif c == start - w then
    return b, 0, start
  end
  return 0, 0, start
end

-- weighted is ceil(p × rem / w) with the same IEEE operations, in the same
-- order, as algorithm.weighted.
local function weighted(p, rem, w)
  return math.ceil(p * rem / w)
end

-- earliest is the smallest elapsed time x in [lo, w] at which
-- weighted(p, w-x, w) <= room.
local function earliest(p, room, w, lo)
  if weighted(p, w - lo, w) <= room then
    return lo
  end
  local x = math.min(w, math.max(lo, math.floor(w - room * w / p)))
  while x > lo and weighted(p, w - (x - 1), w) <= room do
    x = x - 1
  end
  while x < w and weighted(p, w - x, w) > room do
    x = x + 1
  end
  return x
end

-- sliding_wait is how long until the estimate has room for need more.
local function sliding_wait(limit, prev, curr, elapsed, w, need)
  local room = limit - need - curr
  if room >= 0 then
    local x = earliest(prev, room, w, elapsed)
    if x < w then
      return x - elapsed
    end
  end
  -- In the next window the current count becomes the previous one.
  return w - elapsed + earliest(curr, limit - need, w, 0)
end

local function sliding_window(l, a, b, c, now, cost)
  local w, limit = l[WIN], l[REQ]
  local prev, curr, start = slide(w, a, b, c, now)
  local elapsed = math.max(0, now - start)
  local used = curr + weighted(prev, w - elapsed, w)
  local need = math.max(cost, 1)
  local ok, retry, commit = true, 0, false
  if need > limit or used + need > limit then
    ok = false
    if need <= limit then
      retry = sliding_wait(limit, prev, curr, elapsed, w, need)
    end
  elseif cost > 0 then
    curr, used, commit = curr + cost, used + cost, true
  end
  local reset, exp = 0, now
  if used > 0 then
    reset = sliding_wait(limit, prev, curr, elapsed, w, limit)
  end
  if curr > 0 then
    exp = start + 2 * w
  elseif prev > 0 then
    exp = start + w
  end
  if ok then
    return prev, curr, start, commit, exp, allow(limit, limit - used, reset)
  end
  return prev, curr, start, false, exp, deny(limit, limit - used, need, retry, reset)
end

local function sliding_window_give_back(l, a, b, c, now, amount)
  local prev, curr, start = slide(l[WIN], a, b, c, now)
  local taken = math.min(curr, amount)
  return math.max(0, prev - (amount - taken)), curr - taken, start
end
