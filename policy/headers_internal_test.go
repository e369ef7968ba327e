package policy

import (
	"net/textproto"
	"testing"
)

func TestCanonicalHeaderNames(t *testing.T) {
	for name, canon := range map[string]string{
		HeaderRateLimit: canonRateLimit, HeaderRateLimitPolicy: canonRateLimitPolicy,
		"RateLimit-Limit": canonRateLimitLimit, "RateLimit-Remaining": canonRateLimitRemaining, "RateLimit-Reset": canonRateLimitReset,
		"X-RateLimit-Limit": canonXLimit, "X-RateLimit-Remaining": canonXRemaining, "X-RateLimit-Reset": canonXReset,
	} {
		if got := textproto.CanonicalMIMEHeaderKey(name); got != canon {
			t.Errorf("%s: canonical %q, written as %q", name, got, canon)
		}
	}
}

func TestAppendSFString(t *testing.T) {
	if got := string(appendSFString(nil, "a\"b\\c\x01é")); got != `"a\"b\\c???"` {
		t.Errorf("got %s", got)
	}
}
