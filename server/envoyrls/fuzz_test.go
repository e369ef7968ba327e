package envoyrls_test

import (
	"context"
	"testing"

	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/store/memory"
)

// FuzzShouldRateLimit sends arbitrary requests, as any Envoy (or anything
// speaking its protocol) may, to the service on the sample domains: it
// must answer with a response of one status per descriptor or with
// InvalidArgument, never panic nor fail otherwise.
func FuzzShouldRateLimit(f *testing.F) {
	f.Add("edge", uint32(0), "remote_address", "10.0.0.1", "path", "/login", uint8(2))
	f.Add("edge", uint32(1<<31), "", "", "remote_address", "", uint8(3))
	f.Add("", uint32(1), "x", "\xff", "y", "z", uint8(0))
	f.Add("nope", uint32(7), "path", "/login", "path", "/login", uint8(9))
	mem := memory.New(memory.Config{SweepInterval: -1})
	f.Cleanup(func() { _ = mem.Close() })
	lim := sluice.New(mem, sluice.Config{})
	f.Cleanup(func() { _ = lim.Close() })
	svc := newService(f, lim, nil, true)
	f.Fuzz(func(t *testing.T, domain string, hits uint32, k1, v1, k2, v2 string, n uint8) {
		req := &rlsv3.RateLimitRequest{Domain: domain, HitsAddend: hits}
		entries := []*ratelimitv3.RateLimitDescriptor_Entry{{Key: k1, Value: v1}, {Key: k2, Value: v2}}
		for i := range int(n % 5) {
			// Descriptors of one, two, or no entries, in turn.
			req.Descriptors = append(req.Descriptors, &ratelimitv3.RateLimitDescriptor{Entries: entries[:i%3]})
		}
		resp, err := svc.ShouldRateLimit(context.Background(), req)
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("%v: %v", req, err)
			}
			return
		}
		if len(resp.GetStatuses()) != len(req.Descriptors) || resp.GetOverallCode() == rlsv3.RateLimitResponse_UNKNOWN {
			t.Fatalf("%v → %v", req, resp)
		}
	})
}
