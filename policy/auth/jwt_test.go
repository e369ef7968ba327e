package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func publicPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sign returns a token signed with m and key, with kid in its header
// unless empty.
func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims returns valid claims at now, with overrides.
func claims(now time.Time, kv ...any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":  "alice",
		"iss":  "https://issuer.example",
		"aud":  "sluice-api",
		"exp":  now.Add(time.Hour).Unix(),
		"iat":  now.Add(-time.Minute).Unix(),
		"plan": "pro",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func TestJWT(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	rk, ek := rsaKey(t), ecKey(t)
	other := rsaKey(t)
	secret := []byte(strings.Repeat("s", 32))

	rsaPub, err := KeyFromPEM("rsa-1", RS256, publicPEM(t, &rk.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	ecPub, err := KeyFromPEM("ec-1", ES256, publicPEM(t, &ek.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	hmacKey, err := NewKey("hs-1", HS256, secret)
	if err != nil {
		t.Fatal(err)
	}
	psPub, err := KeyFromPEM("ps-1", PS256, publicPEM(t, &rk.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewStaticKeys(rsaPub, ecPub, hmacKey, psPub)
	if err != nil {
		t.Fatal(err)
	}
	cfg := JWTConfig{Keys: keys, Issuer: "https://issuer.example", Audience: []string{"other", "sluice-api"}, Now: clock}
	a, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now))},
		{"ES256", sign(t, jwt.SigningMethodES256, ek, "ec-1", claims(now))},
		{"PS256", sign(t, jwt.SigningMethodPS256, rk, "ps-1", claims(now))},
		{"HS256", sign(t, jwt.SigningMethodHS256, secret, "hs-1", claims(now))},
		{"expired within leeway", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "exp", now.Add(-20*time.Second).Unix()))},
		{"aud list", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "aud", []string{"x", "sluice-api"}))},
	} {
		t.Run("accept "+tc.name, func(t *testing.T) {
			w, u := serve(t, a, bearer(tc.tok))
			if w.Code != 200 || u.Subject != "alice" || u.Data["plan"] != "pro" {
				t.Fatalf("got %d %+v: %s", w.Code, u, w.Body)
			}
		})
	}

	// A token signed HS256 with the RSA public key's PEM as the HMAC secret:
	// the classic algorithm confusion attack.
	confused := sign(t, jwt.SigningMethodHS256, publicPEM(t, &rk.PublicKey), "rsa-1", claims(now))
	confusedNoKid := sign(t, jwt.SigningMethodHS256, publicPEM(t, &rk.PublicKey), "", claims(now))
	// alg none, built by hand.
	enc := base64.RawURLEncoding.EncodeToString
	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"alice","exp":`+strconv.FormatInt(now.Add(time.Hour).Unix(), 10)+`,"iss":"https://issuer.example","aud":"sluice-api"}`)) + "."
	noneSigned := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims(now))
	// A valid token whose payload is swapped for another's: the signature
	// no longer matches.
	good := strings.Split(sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now)), ".")
	forged := strings.Split(sign(t, jwt.SigningMethodRS256, other, "rsa-1", claims(now, "sub", "mallory")), ".")
	badSig := good[0] + "." + forged[1] + "." + good[2]

	for _, tc := range []struct {
		name   string
		tok    string
		detail string
	}{
		{"bad signature", badSig, "signature"},
		{"signed by another key", sign(t, jwt.SigningMethodRS256, other, "rsa-1", claims(now)), "signature"},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "aud", "someone-else")), "audience"},
		{"no audience", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "aud", nil)), "required claim"},
		{"wrong issuer", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "iss", "https://evil.example")), "issuer"},
		{"expired", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "exp", now.Add(-31*time.Second).Unix())), "expired"},
		{"no exp", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "exp", nil)), "required claim"},
		{"not yet valid", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "nbf", now.Add(time.Minute).Unix())), "not valid yet"},
		{"issued in the future", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "iat", now.Add(time.Minute).Unix())), "not valid yet"},
		{"no subject", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "sub", nil)), `"sub"`},
		{"empty subject", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "sub", "")), `"sub"`},
		{"alg none", none, "signature or algorithm"},
		{"alg none signed by the library", noneSigned, "signature or algorithm"},
		{"HS256 with RSA public key as secret", confused, ""},
		{"HS256 with RSA public key as secret, no kid", confusedNoKid, ""},
		{"unknown kid", sign(t, jwt.SigningMethodRS256, rk, "rsa-9", claims(now)), ""},
		{"RS256 under the EC key's kid", sign(t, jwt.SigningMethodRS256, rk, "ec-1", claims(now)), "no key"},
		{"PS256 under an RS256 key's kid", sign(t, jwt.SigningMethodPS256, rk, "rsa-1", claims(now)), ""},
		{"boolean subject", sign(t, jwt.SigningMethodRS256, rk, "rsa-1", claims(now, "sub", true)), `"sub"`},
		{"RS384 not accepted", sign(t, jwt.SigningMethodRS384, rk, "rsa-1", claims(now)), "signature or algorithm"},
		{"malformed", "not.a.jwt", "well-formed"},
		{"garbage", "%%%", "well-formed"},
	} {
		t.Run("reject "+tc.name, func(t *testing.T) {
			w, _ := serve(t, a, bearer(tc.tok))
			wantProblem(t, w, http.StatusUnauthorized, tc.detail)
		})
	}

	t.Run("confusion with HS256 allowed and an RSA key", func(t *testing.T) {
		// Even when HS256 is among the accepted algorithms, the RSA key
		// never verifies an HS256 token.
		rsaOnly, _ := NewStaticKeys(rsaPub)
		b, err := NewJWT(JWTConfig{Keys: rsaOnly, Algorithms: []string{RS256, HS256}, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{confused, confusedNoKid} {
			w, _ := serve(t, b, bearer(tok))
			wantProblem(t, w, http.StatusUnauthorized, "")
		}
	})

	t.Run("subject claim and custom leeway", func(t *testing.T) {
		b, err := NewJWT(JWTConfig{Keys: keys, SubjectClaim: "client_id", Leeway: -1, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		w, u := serve(t, b, bearer(sign(t, jwt.SigningMethodES256, ek, "ec-1", claims(now, "client_id", 12345))))
		if w.Code != 200 || u.Subject != "12345" {
			t.Fatalf("got %d %+v: %s", w.Code, u, w.Body)
		}
		w, _ = serve(t, b, bearer(sign(t, jwt.SigningMethodES256, ek, "ec-1", claims(now, "client_id", 1, "exp", now.Add(-time.Second).Unix()))))
		wantProblem(t, w, http.StatusUnauthorized, "expired")
	})

	t.Run("pem key without kid", func(t *testing.T) {
		k, _ := KeyFromPEM("", RS256, publicPEM(t, &rk.PublicKey))
		ks, _ := NewStaticKeys(k)
		b, _ := NewJWT(JWTConfig{Keys: ks, Now: clock})
		for _, kid := range []string{"", "whatever"} {
			w, u := serve(t, b, bearer(sign(t, jwt.SigningMethodRS256, rk, kid, claims(now))))
			if w.Code != 200 || u.Subject != "alice" {
				t.Fatalf("kid %q: got %d: %s", kid, w.Code, w.Body)
			}
		}
	})
}

func TestKeyValidation(t *testing.T) {
	rk := rsaKey(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ek := ecKey(t)
	for _, tc := range []struct {
		name string
		alg  string
		pub  any
		want string
	}{
		{"none", "none", []byte(strings.Repeat("s", 32)), "not supported"},
		{"short secret", HS256, []byte("short"), "at least 32"},
		{"small rsa", RS256, &small.PublicKey, "2048"},
		{"rsa for HS256", HS256, &rk.PublicKey, "cannot verify"},
		{"ec for ES384", ES384, &ek.PublicKey, "cannot verify"},
		{"private key", RS256, rk, "not a verification key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewKey("k", tc.alg, tc.pub)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	der, _ := x509.MarshalPKCS8PrivateKey(rk)
	if _, err := KeyFromPEM("k", RS256, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("private PEM: %v", err)
	}
	if _, err := KeyFromPEM("k", RS256, []byte("hello")); err == nil {
		t.Error("non-PEM accepted")
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)})
	if _, err := KeyFromPEM("k", RS256, pkcs1); err != nil {
		t.Errorf("PKCS#1 PEM: %v", err)
	}
	k1, _ := NewKey("same", HS256, []byte(strings.Repeat("s", 32)))
	if _, err := NewStaticKeys(k1, k1); err == nil {
		t.Error("duplicate kid accepted")
	}
	if _, err := NewJWT(JWTConfig{}); err == nil {
		t.Error("no keys accepted")
	}
	ks, _ := NewStaticKeys(k1)
	if _, err := NewJWT(JWTConfig{Keys: ks, Algorithms: []string{"none"}}); err == nil {
		t.Error("alg none accepted in config")
	}
}
