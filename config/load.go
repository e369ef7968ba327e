package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/rules/admin"
)

// Env looks up an environment variable, as os.LookupEnv does. Tests pass
// a map's lookup instead of the process environment.
type Env func(name string) (string, bool)

// OSEnv is the process environment.
func OSEnv() Env { return os.LookupEnv }

// MaxFileSize bounds the size of a configuration file.
const MaxFileSize = 4 << 20

// Load reads the configuration file at path, applies the environment and
// validates the result; see Parse.
func Load(path string, env Env) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, env)
}

// LoadFile reads and validates the file at path alone; see ParseFile.
func LoadFile(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseFile(path, data)
}

// readFile reads at most MaxFileSize bytes of path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config: %s is larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// Parse builds a configuration from YAML data (named name in messages; an
// empty data is the defaults), starting from Default, then the environment
// variables of EnvVars (nil env reads none), and validates it. It returns
// every problem at once as Problems, each with the file's line (or the
// environment variable) it is about, such as
//
//	sluice.yaml:12: store.timeout: "fast" is not a duration (e.g. 50ms)
//
// Unknown fields, duplicate keys and values of the wrong kind are problems.
func Parse(name string, data []byte, env Env) (*Config, error) {
	return parse(name, data, env, true)
}

// ParseFile validates data alone, as `sluice check --no-env` does: no
// environment variable is applied, and the variables token_env names need
// not be set.
func ParseFile(name string, data []byte) (*Config, error) {
	return parse(name, data, nil, false)
}

func parse(name string, data []byte, env Env, secrets bool) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	c := Default()
	d := &decoder{lines: map[string]int{}}
	d.file(data)
	if len(d.problems) == 0 {
		d.decodeInto(data, c)
	}
	if d.visited > maxNodes {
		return nil, d.located(name)
	}
	envSet, envProblems := applyEnv(c, env)
	ps := append(d.problems, envProblems...)
	var verr Problems
	if err := c.Validate(); err != nil {
		verr = err.(Problems)
	}
	if secrets {
		verr = append(verr, c.checkTokenEnv(env)...)
		verr = append(verr, c.checkAuthEnv(env)...)
	}
	for _, p := range verr {
		if v, ok := envSet[p.Path]; ok {
			p.Env = v
		} else {
			p.Line = lineOf(d.lines, p.Path)
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return c, nil
	}
	d.problems = ps
	return nil, d.located(name)
}

// located returns the problems with the file name set on those not from
// the environment, in line order.
func (d *decoder) located(name string) Problems {
	ps := d.problems
	for i := range ps {
		if ps[i].Env == "" {
			ps[i].File = name
		}
	}
	ps.sort()
	return ps
}

// yamlErrLine matches the line yaml.v3 puts in its syntax errors.
var yamlErrLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// file checks that data is one YAML document, recording a syntax error as
// a problem with its line.
func (d *decoder) file(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if err := dec.Decode(&first); err != nil && !errors.Is(err, io.EOF) {
		d.syntax(err)
		return
	}
	if err := dec.Decode(&second); err == nil {
		d.fail(second.Line, "", "a configuration file holds one YAML document; remove the second '---'")
	} else if !errors.Is(err, io.EOF) {
		d.syntax(err)
	}
}

func (d *decoder) syntax(err error) {
	m := yamlErrLine.FindStringSubmatch(err.Error())
	if m == nil {
		d.fail(0, "", "%v", err)
		return
	}
	line, _ := strconv.Atoi(m[1])
	d.fail(line, "", "YAML syntax: %s", m[2])
}

// decodeInto decodes the (syntactically valid) document in data into c.
func (d *decoder) decodeInto(data []byte, c *Config) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		d.syntax(err)
		return
	}
	if n.Kind == 0 {
		return // an empty file
	}
	d.decode(&n, reflect.ValueOf(c).Elem(), "")
}

// lineOf returns the line of path, or of its nearest ancestor with one.
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l := lines[path]; l > 0 {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// checkTokenEnv reports the admin tokens whose token_env variable is unset
// or too short.
func (c *Config) checkTokenEnv(env Env) Problems {
	var ps Problems
	for i, t := range c.Admin.Tokens {
		if t.TokenEnv == "" || !validEnvName(t.TokenEnv) {
			continue
		}
		path := fmt.Sprintf("admin.tokens[%d].token_env", i)
		v, ok := env(t.TokenEnv)
		switch {
		case !ok || v == "":
			ps = append(ps, Problem{Path: path, Message: fmt.Sprintf("$%s is not set; it must hold the token's secret", t.TokenEnv)})
		case len(v) < admin.MinSecretLen:
			ps = append(ps, Problem{Path: path, Message: fmt.Sprintf("$%s is %d bytes; a secret is at least %d", t.TokenEnv, len(v), admin.MinSecretLen)})
		}
	}
	return ps
}

// AdminTokens returns the admin tokens of c, their secrets read from env
// (token_env) or their hashes decoded (sha256). Parse has checked them, so
// an error means env changed since.
func (c *Config) AdminTokens(env Env) ([]admin.Token, error) {
	out := make([]admin.Token, 0, len(c.Admin.Tokens))
	for _, t := range c.Admin.Tokens {
		tok := admin.Token{Name: t.Name, ReadOnly: t.ReadOnly}
		if t.TokenEnv != "" {
			v, ok := env(t.TokenEnv)
			if !ok || v == "" {
				return nil, fmt.Errorf("config: admin token %q: $%s is not set", t.Name, t.TokenEnv)
			}
			tok.Hash = sha256.Sum256([]byte(v))
		} else {
			b, err := hex.DecodeString(t.SHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("config: admin token %q: sha256 is not 64 hex digits", t.Name)
			}
			copy(tok.Hash[:], b)
		}
		out = append(out, tok)
	}
	return out, nil
}
