package grpcapi

import (
	"google.golang.org/protobuf/types/known/durationpb"

	sluicev1 "github.com/sluicehq/sluice/proto/sluice/v1"
	"github.com/sluicehq/sluice/server/httpapi"
)

// specFromProto converts a LimitSpec message; nil is the empty spec.
func specFromProto(p *sluicev1.LimitSpec) httpapi.LimitSpec {
	if p == nil {
		return httpapi.LimitSpec{}
	}
	return httpapi.LimitSpec{
		Key: p.GetKey(), Action: p.GetAction(), Identity: p.GetIdentity(),
		Limit: p.GetLimit(), Requests: p.GetRequests(), WindowMS: p.GetWindowMs(), Window: p.GetWindow(),
		Algorithm: p.GetAlgorithm(), Burst: p.GetBurst(), Cost: p.Cost, Name: p.GetName(),
	}
}

// decisionToProto converts a result: allowed is whether the caller may
// proceed (shadow mode lets denials through, with shadow set).
func decisionToProto(r httpapi.Result) *sluicev1.Decision {
	d := r.Decision
	return &sluicev1.Decision{
		Allowed:    r.Pass(),
		Limit:      d.Limit,
		Remaining:  d.Remaining,
		ResetAfter: durationpb.New(d.Reset),
		RetryAfter: durationpb.New(d.RetryAfter),
		Reason:     d.Reason.String(),
		Shadow:     r.Shadow,
		Name:       r.Name,
	}
}

// optional returns the value of an optional field as a pointer; nil when
// the field, or its message, is unset.
func optional(has bool, v int64) *int64 {
	if !has {
		return nil
	}
	return &v
}
