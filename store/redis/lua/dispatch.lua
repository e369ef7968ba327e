-- dispatch.lua: apply and give_back for scripts that handle every
-- algorithm (several calls at once). A script for one algorithm defines
-- them as that algorithm's functions instead (see scripts.go).

local APPLY = {
  [SLIDING] = sliding_window, [FIXED] = fixed_window, [BUCKET] = token_bucket,
  [GCRA] = gcra, [COUNTER] = counter, [QUOTA] = quota,
}
local GIVE_BACK = {
  [SLIDING] = sliding_window_give_back, [FIXED] = fixed_window_give_back, [BUCKET] = token_bucket_give_back,
  [GCRA] = gcra_give_back, [COUNTER] = counter_give_back, [QUOTA] = quota_give_back,
}

local function apply(l, a, b, c, now, cost)
  return APPLY[l[ALG]](l, a, b, c, now, cost)
end

local function give_back(l, a, b, c, now, amount)
  return GIVE_BACK[l[ALG]](l, a, b, c, now, amount)
end
