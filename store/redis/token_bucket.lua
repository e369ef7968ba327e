-- token_bucket.lua: algorithm.tokenBucket. State: a = tokens missing from a
-- full bucket, b = time of the last refill tick.

-- refill adds one token per interval t since the last tick.
local function refill(t, deficit, last, now)
  if deficit > 0 and now > last then
    local ticks = idiv(now - last, t)
    if ticks >= deficit then
      deficit = 0
    else
      deficit = deficit - ticks
      last = last + ticks * t
    end
  end
  if deficit == 0 then
    last = now -- a full bucket starts its refill clock at the next call
  end
  return deficit, last
end

local function token_bucket(l, a, b, c, now, cost)
  local capacity, t = l[CAP], l[INT]
  local deficit, last = refill(t, a, b, now)
  local need = math.max(cost, 1)
  local avail = capacity - deficit
  local ok, commit = need <= avail, false
  if ok and cost > 0 then
    deficit, commit = deficit + cost, true
  end
  local exp, reset = last + deficit * t, 0
  if deficit > 0 then
    reset = exp - now
  end
  if ok then
    return deficit, last, 0, commit, exp, allow(capacity, capacity - deficit, reset)
  end
  return deficit, last, 0, false, exp, deny(capacity, avail, need, last + (need - avail) * t - now, reset)
end

local function token_bucket_give_back(l, a, b, c, now, amount)
  local deficit, last = refill(l[INT], a, b, now)
  return math.max(0, deficit - amount), last, c
end
