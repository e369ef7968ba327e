package envoyrls

import (
	"math"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
)

// protoUnits are the response units, longest first.
var protoUnits = []struct {
	unit   rlsv3.RateLimitResponse_RateLimit_Unit
	window time.Duration
}{
	{rlsv3.RateLimitResponse_RateLimit_YEAR, 365 * 24 * time.Hour},
	{rlsv3.RateLimitResponse_RateLimit_MONTH, 30 * 24 * time.Hour},
	{rlsv3.RateLimitResponse_RateLimit_WEEK, 7 * 24 * time.Hour},
	{rlsv3.RateLimitResponse_RateLimit_DAY, 24 * time.Hour},
	{rlsv3.RateLimitResponse_RateLimit_HOUR, time.Hour},
	{rlsv3.RateLimitResponse_RateLimit_MINUTE, time.Minute},
	{rlsv3.RateLimitResponse_RateLimit_SECOND, time.Second},
}

// currentLimit describes l as Envoy's current_limit: requests_per_unit per
// unit. A window that is exactly a unit is given as is. Any other window
// is given in the longest unit not longer than it (second for windows
// under a second), or a longer unit when the allowance per that unit would
// be below 1, with the allowance scaled to the unit and rounded to the
// nearest whole number: 100/5m is 20 per minute, 1/15m is 4 per hour,
// 7/90s is 5 per minute. A calendar quota's period is its unit.
func currentLimit(name string, l sluice.Limit) *rlsv3.RateLimitResponse_RateLimit {
	out := &rlsv3.RateLimitResponse_RateLimit{Name: name}
	if l.Algorithm == sluice.Quota {
		out.RequestsPerUnit = clampUint32(l.Requests)
		switch l.Period {
		case algorithm.Day:
			out.Unit = rlsv3.RateLimitResponse_RateLimit_DAY
		case algorithm.Week:
			out.Unit = rlsv3.RateLimitResponse_RateLimit_WEEK
		default:
			out.Unit = rlsv3.RateLimitResponse_RateLimit_MONTH
		}
		return out
	}
	i := len(protoUnits) - 1 // second
	for j, pu := range protoUnits {
		if pu.window <= l.Window {
			i = j
			break
		}
	}
	scaled := func(i int) float64 { return float64(l.Requests) * float64(protoUnits[i].window) / float64(l.Window) }
	for i > 0 && scaled(i) < 1 {
		i-- // a longer unit
	}
	out.Unit = protoUnits[i].unit
	out.RequestsPerUnit = clampUint32(int64(max(math.Round(scaled(i)), 1)))
	return out
}

// overrideLimit turns a descriptor's limit override into a limit under
// the algorithm alg; it reports false for an override Sluice cannot apply
// (unknown unit, zero requests).
func overrideLimit(unit typev3.RateLimitUnit, requests, multiplier uint32, alg sluice.Algorithm) (sluice.Limit, bool) {
	var w time.Duration
	switch unit {
	case typev3.RateLimitUnit_SECOND:
		w = time.Second
	case typev3.RateLimitUnit_MINUTE:
		w = time.Minute
	case typev3.RateLimitUnit_HOUR:
		w = time.Hour
	case typev3.RateLimitUnit_DAY:
		w = 24 * time.Hour
	case typev3.RateLimitUnit_MONTH:
		w = 30 * 24 * time.Hour
	case typev3.RateLimitUnit_YEAR:
		w = 365 * 24 * time.Hour
	default:
		return sluice.Limit{}, false
	}
	if multiplier > 1 {
		w *= time.Duration(multiplier)
	}
	l := sluice.Limit{Requests: int64(requests), Window: w, Algorithm: alg}
	return l, l.Validate() == nil
}

// clampUint32 converts n to uint32, saturating.
func clampUint32(n int64) uint32 {
	switch {
	case n <= 0:
		return 0
	case n > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(n)
}
