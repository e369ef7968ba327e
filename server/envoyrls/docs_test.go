package envoyrls_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/server/envoyrls"
)

// TestDocsConfig decodes and validates the Sluice configuration shown in
// docs/envoy.md (the yaml block starting "envoy:"), and checks the
// matching it describes, so the docs cannot drift.
func TestDocsConfig(t *testing.T) {
	b, err := os.ReadFile("../../docs/envoy.md")
	if err != nil {
		t.Fatal(err)
	}
	var found string
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if strings.HasPrefix(block, "envoy:") {
			found = block
		}
	}
	if found == "" {
		t.Fatal("docs/envoy.md has no yaml block starting with envoy:")
	}
	var cfg struct {
		Envoy struct {
			Headers bool              `yaml:"headers"`
			Domains []envoyrls.Domain `yaml:"domains"`
		} `yaml:"envoy"`
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(found)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := envoyrls.ValidateDomains(cfg.Envoy.Domains); err != nil {
		t.Fatal(err)
	}
	svc, err := envoyrls.New(envoyrls.Config{Domains: cfg.Envoy.Domains, Limiter: stores[0].New(t), Headers: cfg.Envoy.Headers})
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, svc)
	// The matching the docs describe.
	if cl := ask(t, c, "edge", 0, desc("path", "/login")).Statuses[0].GetCurrentLimit(); cl.GetName() != "login" {
		t.Errorf("/login: %v", cl)
	}
	if cl := ask(t, c, "edge", 0, desc("path", "/about")).Statuses[0].GetCurrentLimit(); cl.GetRequestsPerUnit() != 1000 {
		t.Errorf("/about: %v", cl)
	}
	if cl := ask(t, c, "edge", 0, desc("client_id", "acme", "path", "/x")).Statuses[0].GetCurrentLimit(); cl.GetRequestsPerUnit() != 100 {
		t.Errorf("client and path: %v", cl)
	}
	for _, d := range [][]string{{"client_id", "acme"}, {"foo", "bar"}, {"path", "/static/app.css"}} {
		if st := ask(t, c, "edge", 0, desc(d...)).Statuses[0]; st.CurrentLimit != nil || st.Code != ok {
			t.Errorf("%v: %v", d, st)
		}
	}
	if r := ask(t, c, "edge", 0, desc("client_id", "banned")); r.OverallCode != over {
		t.Errorf("banned: %v", r)
	}
}
