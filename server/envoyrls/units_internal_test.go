package envoyrls

import (
	"testing"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/sluicehq/sluice"
)

func TestCurrentLimit(t *testing.T) {
	tests := []struct {
		limit    string
		requests uint32
		unit     rlsv3.RateLimitResponse_RateLimit_Unit
	}{
		{"10/s", 10, rlsv3.RateLimitResponse_RateLimit_SECOND},
		{"100/1m", 100, rlsv3.RateLimitResponse_RateLimit_MINUTE},
		{"100/5m", 20, rlsv3.RateLimitResponse_RateLimit_MINUTE},
		{"1/15m", 4, rlsv3.RateLimitResponse_RateLimit_HOUR},
		{"1/90s", 40, rlsv3.RateLimitResponse_RateLimit_HOUR},
		{"7/90s", 5, rlsv3.RateLimitResponse_RateLimit_MINUTE},
		{"5/500ms", 10, rlsv3.RateLimitResponse_RateLimit_SECOND},
		{"3/1d", 3, rlsv3.RateLimitResponse_RateLimit_DAY},
		{"3/1w", 3, rlsv3.RateLimitResponse_RateLimit_WEEK},
		{"5000/1mo", 5000, rlsv3.RateLimitResponse_RateLimit_MONTH},
		{"5000/1d quota", 5000, rlsv3.RateLimitResponse_RateLimit_DAY},
		{"1/3650d", 1, rlsv3.RateLimitResponse_RateLimit_YEAR},
		{"10/s token_bucket burst=50", 10, rlsv3.RateLimitResponse_RateLimit_SECOND},
	}
	for _, tt := range tests {
		got := currentLimit("n", sluice.MustParseLimit(tt.limit))
		if got.GetRequestsPerUnit() != tt.requests || got.GetUnit() != tt.unit || got.GetName() != "n" {
			t.Errorf("%s: %d per %s, want %d per %s", tt.limit, got.GetRequestsPerUnit(), got.GetUnit(), tt.requests, tt.unit)
		}
	}
}

func TestCounterKeyBounded(t *testing.T) {
	long := make([]byte, 5000)
	for i := range long {
		long[i] = 'x'
	}
	k := counterKey("edge", []entry{{"path", string(long)}})
	if len(k) > sluice.MaxKeyLength {
		t.Fatalf("key of %d bytes", len(k))
	}
	if k == counterKey("edge", []entry{{"path", string(long[1:])}}) {
		t.Fatal("different long values share a key")
	}
	if counterKey("a", []entry{{"b", "c"}}) == counterKey("a", []entry{{"b:c", ""}}) {
		t.Fatal("ambiguous keys")
	}
}
