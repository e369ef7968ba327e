package envoyrls_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/server/envoyrls"
)

// decodeDomains decodes YAML strictly, as the configuration does.
func decodeDomains(t testing.TB, text string) []envoyrls.Domain {
	t.Helper()
	var ds []envoyrls.Domain
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&ds); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return ds
}

const sampleDomains = `
- domain: edge
  descriptors:
    - key: remote_address
      rate_limit: {unit: minute, requests_per_unit: 2}
    - key: path
      value: /login
      rate_limit: {limit: "1/15m", name: login}
    - key: path
      value: /static/*
      rate_limit: {unlimited: true}
    - key: path
      rate_limit: {unit: Minute, requests_per_unit: 100, algorithm: fixed_window}
    - key: client_id
      value: blocked
      rate_limit: {unit: hour, requests_per_unit: 0}
    - key: client_id
      descriptors:
        - key: path
          rate_limit: {unit: minute, requests_per_unit: 3}
          shadow_mode: true
          detailed_metric: true
`

func TestValidDomains(t *testing.T) {
	ds := decodeDomains(t, sampleDomains)
	if err := envoyrls.ValidateDomains(ds); err != nil {
		t.Fatal(err)
	}
	if err := ds[0].Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidDomains(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{`[{domain: edge, descriptors: [{key: a, rate_limit: {unit: second, requests_per_unit: 1}}, {key: b, rate_limit: {unit: fortnight, requests_per_unit: 1}}]}]`,
			`domains[0].descriptors[1].rate_limit.unit: unknown unit "fortnight"; accepted: second, minute, hour, day, week, month, year`},
		{`[{descriptors: [{key: a, rate_limit: {unlimited: true}}]}]`, `domains[0].domain: required`},
		{`[{domain: e, descriptors: [{rate_limit: {unlimited: true}}]}]`, `domains[0].descriptors[0].key: required`},
		{`[{domain: e, descriptors: [{key: a}]}]`, `domains[0].descriptors[0]: has neither rate_limit nor nested descriptors`},
		{`[{domain: e, descriptors: [{key: a, rate_limit: {}}]}]`, `domains[0].descriptors[0].rate_limit.unit: required`},
		{`[{domain: e, descriptors: [{key: a, rate_limit: {unit: second, requests_per_unit: -1}}]}]`, `rate_limit.requests_per_unit: -1 is out of range`},
		{`[{domain: e, descriptors: [{key: a, rate_limit: {limit: "5 per hour"}}]}]`, `domains[0].descriptors[0].rate_limit.limit: `},
		{`[{domain: e, descriptors: [{key: a, rate_limit: {limit: "5/h", unit: second}}]}]`, `rate_limit.limit: excludes unit`},
		{`[{domain: e, descriptors: [{key: a, rate_limit: {unlimited: true, unit: second}}]}]`, `rate_limit.unlimited: excludes`},
		{`[{domain: e, descriptors: [{key: a, rate_limit: {unit: second, requests_per_unit: 1, algorithm: leaky}}]}]`, `rate_limit.algorithm: `},
		{`[{domain: e, descriptors: [{key: a, rate_limit: {unit: second, requests_per_unit: 1, algorithm: quota}}]}]`, `rate_limit.algorithm: quota takes a calendar period`},
		{`[{domain: e, descriptors: [{key: a, rate_limit: {unit: second, requests_per_unit: 1, burst: 5}}]}]`, `rate_limit.burst: `},
		{`[{domain: e, descriptors: [{key: a, value: x, rate_limit: {unlimited: true}}, {key: a, value: x, rate_limit: {unlimited: true}}]}]`, `domains[0].descriptors[1]: duplicate descriptor key "a" value "x"`},
		{`[{domain: e, descriptors: [{key: a, shadow_mode: true, descriptors: [{key: b, rate_limit: {unlimited: true}}]}]}]`, `domains[0].descriptors[0].shadow_mode: applies only`},
		{`[{domain: e, descriptors: [{key: a, descriptors: [{key: b, rate_limit: {unit: day}}]}]}]`, ``}, // requests_per_unit 0: deny all, valid
		{`[{domain: e, descriptors: [{key: a, rate_limit: {unlimited: true}}]}, {domain: e, descriptors: [{key: a, rate_limit: {unlimited: true}}]}]`, `domains[1].domain: domain "e" is already configured at domains[0]`},
	}
	for _, tt := range tests {
		err := envoyrls.ValidateDomains(decodeDomains(t, tt.yaml))
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.yaml, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %s", tt.yaml, err, tt.want)
			continue
		}
		var fe *envoyrls.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, envoyrls.ErrInvalidConfig) {
			t.Errorf("%s: %v is not a FieldError wrapping ErrInvalidConfig", tt.yaml, err)
		}
	}
}

func TestUnknownYAMLField(t *testing.T) {
	var ds []envoyrls.Domain
	dec := yaml.NewDecoder(strings.NewReader(`[{domain: e, descriptors: [{key: a, rate_limt: {unlimited: true}}]}]`))
	dec.KnownFields(true)
	if err := dec.Decode(&ds); err == nil {
		t.Fatal("a misspelled field decoded")
	}
}
