-- refund_fn.lua: algorithm.Refund over apply and give_back: the new state
-- and the key's decision afterwards, as a read, committed.

local function refund(l, a, b, c, now, amount)
  if amount <= 0 then
    return apply(l, a, b, c, now, 0)
  end
  local na, nb, nc = give_back(l, a, b, c, now, math.min(amount, l[CAP]))
  if na == nil then
    return nil
  end
  local _, _, _, _, exp, ok, limit, rem, reset, retry, why = apply(l, na, nb, nc, now, 0)
  return na, nb, nc, true, exp, ok, limit, rem, reset, retry, why
end
