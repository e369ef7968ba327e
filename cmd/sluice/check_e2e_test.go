package main

import (
	"path/filepath"
	"strings"
	"testing"
)

const brokenConfig = `http:
  addr: 127.0.0.1:8080
  tiemout: 5s
store:
  timeout: fast
  on_error: maybe
policies:
  - name: api
    rateLimitBy: usr
    limit: 10/1m
routes:
  - path: /api/**
    upstream: http://127.0.0.1:9000
    policies: [api, missing]
`

// TestE2ECheck runs `sluice check` on a broken file, a valid one and the
// example configurations.
func TestE2ECheck(t *testing.T) {
	dir := t.TempDir()
	bad := writeConfig(t, dir, "broken.yaml", brokenConfig)
	code, out, errOut := runSluice(t, dir, nil, "check", bad)
	if code != 1 {
		t.Errorf("check of a broken file: exit %d, want 1", code)
	}
	for _, want := range []string{
		bad + `:3: http.tiemout: unknown field`,
		bad + `:5: store.timeout: "fast" is not a duration (e.g. 50ms)`,
		bad + `:6: store.on_error: "maybe" is not accepted`,
		bad + `:9: policies[0].rateLimitBy: "usr" is not accepted`,
		bad + `:14: routes[0].policies[1]: no policy is named "missing"`,
		"5 problems",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check output lacks %q:\n%s%s", want, out, errOut)
		}
	}
	// serve refuses the same file with the same problems, exit 2.
	code, _, errOut = runSluice(t, dir, loopbackEnv, "serve", "--config", bad)
	if code != 2 || !strings.Contains(errOut, bad+`:5: store.timeout`) {
		t.Errorf("serve of a broken file: exit %d\n%s", code, errOut)
	}

	// Environment variables are checked too, unless --no-env.
	good := writeConfig(t, dir, "sluice.yaml", "admin:\n  tokens:\n    - {name: ops, token_env: E2E_UNSET_TOKEN}\n")
	code, _, errOut = runSluice(t, dir, []string{"SLUICE_STORE_TIMEOUT=soon"}, "check")
	if code != 1 || !strings.Contains(errOut, `$SLUICE_STORE_TIMEOUT: store.timeout: "soon" is not a duration`) ||
		!strings.Contains(errOut, "sluice.yaml:3: admin.tokens[0].token_env: $E2E_UNSET_TOKEN is not set") {
		t.Errorf("check with the environment: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := runSluice(t, dir, []string{"SLUICE_STORE_TIMEOUT=soon"}, "check", "--no-env", good); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("check --no-env: exit %d %s %s", code, out, errOut)
	}

	examples, _ := filepath.Glob("../../examples/configs/*.yaml")
	if len(examples) == 0 {
		t.Fatal("no example configurations")
	}
	for _, f := range examples {
		abs, _ := filepath.Abs(f)
		if code, out, errOut := runSluice(t, dir, []string{"SLUICE_OPS_TOKEN=0123456789abcdef0123"}, "check", abs); code != 0 {
			t.Errorf("check %s: exit %d %s %s", f, code, out, errOut)
		}
	}
	if code, _, _ := runSluice(t, t.TempDir(), nil, "check"); code != 2 {
		t.Errorf("check with no file: exit %d, want 2", code)
	}
	if code, _, _ := runSluice(t, dir, nil, "check", filepath.Join(dir, "nope.yaml")); code != 1 {
		t.Errorf("check of a missing file: exit %d, want 1", code)
	}
}
