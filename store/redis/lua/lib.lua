-- lib.lua: helpers shared by every Sluice script.
--
-- Lua numbers are IEEE-754 doubles. Every value these scripts handle (times
-- in microseconds since the Unix epoch, counts, durations) is an integer
-- below 2^53, where doubles are exact, and every operation mirrors the Go
-- code of package algorithm, so both compute the same integers.
--
-- Hot-path style: states and decisions travel as multiple return values,
-- not tables, because each table costs about a microsecond of Redis's time
-- (one thread shared by every client).
--
-- A state is three numbers a, b, c (algorithm.State's A, B, C). A decision
-- is six: ok (1 allowed, 0 denied), limit, remaining, reset (µs), retry
-- after (µs), reason. An algorithm function apply(l, a, b, c, now, cost)
-- returns eleven values: the new state a, b, c; commit (the state changed
-- and must be written); exp (µs: when the state can be forgotten); and the
-- decision. It returns nil when a quota's periods do not hold now.

local ALLOWED, RATE_LIMITED, COST_EXCEEDS = 0, 1, 2
local SLIDING, FIXED, BUCKET, GCRA, COUNTER, QUOTA = 0, 1, 2, 3, 4, 5
local CLOCK_SKEW = 'SLUICE_CLOCK the Redis clock is outside the quota periods computed by the client'

-- Fields of a limit (read_limit): algorithm, requests, window (µs),
-- capacity, interval (µs), and for quota the bounds of the previous,
-- current and next calendar periods (Q0 <= Q1 <= Q2 <= Q3).
local ALG, REQ, WIN, CAP, INT, Q0, Q1, Q2, Q3 = 1, 2, 3, 4, 5, 6, 7, 8, 9

-- idiv is Go's integer division a / b (truncated toward zero), for b > 0.
-- math.floor(a / b) alone can be off by one once a / b rounds; the two
-- corrections make it exact for |a| < 2^53.
local function idiv(a, b)
  if a < 0 then
    return -idiv(-a, b)
  end
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

-- window_start is Go's now - now%w: math.fmod is exact on doubles and keeps
-- the sign of now, as Go's % does.
local function window_start(now, w)
  return now - math.fmod(now, w)
end

-- allow and deny return a decision; deny mirrors algorithm.deny.
local function allow(limit, remaining, reset)
  return 1, limit, remaining, reset, 0, ALLOWED
end

local function deny(limit, avail, need, retry, reset)
  if need > limit then
    return 0, limit, math.max(0, avail), reset, 0, COST_EXCEEDS
  end
  return 0, limit, math.max(0, avail), reset, math.max(0, retry), RATE_LIMITED
end

-- clock returns the time of the call in microseconds: the caller's (tests
-- with a controlled clock) or Redis's own TIME.
local function clock(arg)
  if arg ~= '' then
    return tonumber(arg)
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- read_limit decodes one request's limit from ARGV starting at p and returns
-- it with the index after it.
local function read_limit(p)
  local alg = tonumber(ARGV[p])
  if alg == QUOTA then
    return {alg, tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3]), tonumber(ARGV[p + 4]),
      tonumber(ARGV[p + 5]), tonumber(ARGV[p + 6]), tonumber(ARGV[p + 7]), tonumber(ARGV[p + 8])}, p + 9
  end
  return {alg, tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3]), tonumber(ARGV[p + 4])}, p + 5
end

-- A stored state is one to three integers joined by ':' (GCRA stores one,
-- sliding_window three, the others two). decode returns a, b, c and
-- whether the key existed.
local function decode(v)
  if not v then
    return 0, 0, 0, false
  end
  local i = string.find(v, ':', 1, true)
  if not i then
    return tonumber(v) or 0, 0, 0, true
  end
  local j = string.find(v, ':', i + 1, true)
  if not j then
    return tonumber(string.sub(v, 1, i - 1)) or 0, tonumber(string.sub(v, i + 1)) or 0, 0, true
  end
  return tonumber(string.sub(v, 1, i - 1)) or 0, tonumber(string.sub(v, i + 1, j - 1)) or 0,
    tonumber(string.sub(v, j + 1)) or 0, true
end

local function encode(alg, a, b, c)
  if alg == GCRA then
    return string.format('%d', a)
  elseif alg == SLIDING then
    return string.format('%d:%d:%d', a, b, c)
  end
  return string.format('%d:%d', a, b)
end

-- empty reports whether a state decides like a key never seen: such a
-- state is deleted rather than stored.
local function empty(alg, a, b, now)
  if alg == SLIDING then
    return a == 0 and b == 0
  elseif alg == GCRA then
    return a <= now
  end
  return a == 0
end

-- store writes state a, b, c of key k to expire at exp (µs), or deletes the
-- key when the state is empty or already expired. The TTL is rounded up to
-- the millisecond, and is at least floor ms (a controlled clock in tests
-- runs apart from Redis's).
local function store(k, alg, a, b, c, exp, now, floor)
  if exp <= now or empty(alg, a, b, now) then
    redis.call('DEL', k)
    return
  end
  local ttl = math.max(idiv(exp - now + 999, 1000), floor)
  redis.call('SET', k, encode(alg, a, b, c), 'PX', string.format('%d', ttl))
end
