package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docEnv is the environment the documented configurations expect: the
// secrets they name by variable.
var docEnv = envOf(map[string]string{
	"SLUICE_OPS_TOKEN": "0123456789abcdef0123456789abcdef",
	"GLOBEX_API_KEY":   "globex-0123456789abcdef",
})

// TestExampleConfigs loads every examples/configs/*.yaml.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../examples/configs/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("example configs: %v %v", files, err)
	}
	for _, f := range files {
		if _, err := Load(f, docEnv); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// yamlBlock matches the ```yaml fenced blocks of a Markdown file.
var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestConfigurationDocs parses and validates every YAML block of
// docs/configuration.md, and checks the page names every environment
// variable and every field, so the documentation cannot drift from the code.
func TestConfigurationDocs(t *testing.T) {
	raw, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	blocks := yamlBlock.FindAllStringSubmatchIndex(doc, -1)
	if len(blocks) < 3 {
		t.Fatalf("docs/configuration.md has %d yaml blocks", len(blocks))
	}
	for _, b := range blocks {
		line := strings.Count(doc[:b[2]], "\n") + 1
		name := "docs/configuration.md (block at line " + strconv.Itoa(line) + ")"
		if _, err := Parse(name, []byte(doc[b[2]:b[3]]), docEnv); err != nil {
			t.Errorf("%v", err)
		}
	}
	for _, ev := range EnvVars() {
		if !strings.Contains(doc, "`"+ev.Name+"`") {
			t.Errorf("docs/configuration.md does not name %s (%s)", ev.Name, ev.Path)
		}
	}
	for _, path := range fieldPaths() {
		if !strings.Contains(doc, "`"+path+"`") {
			t.Errorf("docs/configuration.md does not document the field `%s`", path)
		}
	}
}

// TestPolicyDocs loads every YAML example of docs/policies.md, so that they
// use the configuration's keys.
func TestPolicyDocs(t *testing.T) {
	raw, err := os.ReadFile("../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, b := range yamlBlock.FindAllStringSubmatchIndex(doc, -1) {
		name := "docs/policies.md (block at line " + strconv.Itoa(strings.Count(doc[:b[2]], "\n")+1) + ")"
		if _, err := Parse(name, []byte(doc[b[2]:b[3]]), docEnv); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// fieldPaths returns the path of every field, lists of structures written
// with [] (policies[].rateLimitBy), not descending into the Envoy domains
// (documented in docs/envoy.md).
func fieldPaths() []string {
	var out []string
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			p := join(path, name)
			ft := t.Field(i).Type
			if ft.Kind() != reflect.Struct || ft == durationType {
				out = append(out, p) // sections are not fields of their own
			}
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case p == "envoy.domains":
			case ft.Kind() == reflect.Struct && ft != durationType:
				walk(ft, p)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), p+"[]")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}
