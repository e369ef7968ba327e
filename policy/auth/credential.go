package auth

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// DefaultRealm is the realm of WWW-Authenticate challenges.
const DefaultRealm = "sluice"

// MaxCredentialLen is the longest credential accepted, in bytes: longer
// API keys and JWTs are rejected as invalid before any work is done.
const MaxCredentialLen = 16 << 10

// credentialSource reads a credential from a request: the token of an
// "Authorization: Bearer <token>" header, or the whole value of another
// header such as X-API-Key.
type credentialSource struct {
	header string // canonical header name
	bearer bool   // Authorization with the Bearer scheme
	realm  string
}

// newCredentialSource returns the source for header (empty: Authorization
// Bearer) and realm (empty: DefaultRealm).
func newCredentialSource(header, realm string) (credentialSource, error) {
	if header == "" {
		header = "Authorization"
	}
	if !validHeaderName(header) {
		return credentialSource{}, fmt.Errorf("header %q is not a valid HTTP header name", header)
	}
	if realm == "" {
		realm = DefaultRealm
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return credentialSource{}, fmt.Errorf("realm %q must not contain quotes, backslashes or line breaks", realm)
	}
	h := textproto.CanonicalMIMEHeaderKey(header)
	return credentialSource{header: h, bearer: h == "Authorization", realm: realm}, nil
}

// read returns the credential r carries, or an error wrapping
// ErrNoCredentials or ErrInvalidCredentials.
func (s credentialSource) read(r *http.Request) (string, error) {
	vals := r.Header.Values(s.header)
	if len(vals) == 0 || (len(vals) == 1 && strings.TrimSpace(vals[0]) == "") {
		return "", noCredentials("the request has no " + s.header + " header")
	}
	if len(vals) > 1 {
		return "", invalidCredentials("the request has more than one "+s.header+" header", nil)
	}
	v := strings.TrimSpace(vals[0])
	if s.bearer {
		scheme, token, _ := strings.Cut(v, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", noCredentials(`the Authorization header does not use the Bearer scheme ("Authorization: Bearer <credential>")`)
		}
		v = strings.TrimSpace(token)
		if v == "" {
			return "", invalidCredentials("the Bearer credential is empty", nil)
		}
	}
	if len(v) > MaxCredentialLen {
		return "", invalidCredentials("the credential is longer than "+strconv.Itoa(MaxCredentialLen)+" bytes", nil)
	}
	return v, nil
}

// challenge returns the WWW-Authenticate value for this source: the Bearer
// scheme for Authorization, otherwise a scheme naming the header.
func (s credentialSource) challenge() string {
	if s.bearer {
		return `Bearer realm="` + s.realm + `"`
	}
	return `APIKey realm="` + s.realm + `", header="` + s.header + `"`
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
