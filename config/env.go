package config

import (
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/sluicehq/sluice/rules/admin"
)

// EnvPrefix begins every environment variable the configuration reads.
const EnvPrefix = "SLUICE_"

// TokensEnv holds admin tokens as name:secret[:ro|:rw], comma-separated
// (see admin.ParseTokens); set, it replaces admin.tokens.
const TokensEnv = admin.TokensEnv

// rulesDBAlias is the variable `sluice rules` and `sluice migrate` read
// the database from; serve honours it when SLUICE_RULES_DATABASE is unset.
const rulesDBAlias = "SLUICE_RULES_DB"

// EnvVar is one environment variable that overrides a field of the file.
type EnvVar struct {
	// Name is the variable, such as SLUICE_STORE_URL.
	Name string
	// Path is the field it sets, such as store.url.
	Path  string
	index []int // field index path from Config
}

// EnvVars returns every environment variable the configuration reads, in
// the order of the fields: SLUICE_<SECTION>_<FIELD> (SLUICE_<FIELD> for
// top-level fields) upper-cased, for every scalar field and list of text
// (comma-separated) outside the policies, routes and Envoy domains; and
// SLUICE_ADMIN_TOKENS for admin.tokens. An empty variable is ignored.
func EnvVars() []EnvVar {
	var out []EnvVar
	var walk func(t reflect.Type, path string, index []int)
	walk = func(t reflect.Type, path string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := join(path, name)
			idx := append(append([]int(nil), index...), i)
			ft := f.Type
			switch {
			case p == "admin.tokens":
				out = append(out, EnvVar{Name: TokensEnv, Path: p, index: idx})
			case ft.Kind() == reflect.Struct && ft != durationType:
				walk(ft, p, idx)
			case envSettable(ft):
				out = append(out, EnvVar{Name: EnvPrefix + strings.ToUpper(strings.ReplaceAll(p, ".", "_")), Path: p, index: idx})
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// envSettable reports whether a field of type t can be set from one
// variable: a scalar, a pointer to one, or a list of text.
func envSettable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer:
		return envSettable(t.Elem()) && t.Elem().Kind() != reflect.Slice
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	case reflect.Struct, reflect.Map, reflect.Interface, reflect.Func, reflect.Chan:
		return false
	}
	return true
}

// applyEnv sets the fields of c named by set variables, returning the
// paths it set (path → variable) and the problems of malformed values.
func applyEnv(c *Config, lookup func(string) (string, bool)) (map[string]string, Problems) {
	set := map[string]string{}
	var ps Problems
	for _, ev := range EnvVars() {
		val, ok := lookup(ev.Name)
		if ev.Path == "rules.database" && (!ok || val == "") {
			val, ok = lookup(rulesDBAlias)
			if ok && val != "" {
				ev.Name = rulesDBAlias
			}
		}
		if !ok || val == "" {
			continue
		}
		f := reflect.ValueOf(c).Elem().FieldByIndex(ev.index)
		var err error
		if ev.Path == "admin.tokens" {
			err = setTokens(f, val)
		} else {
			err = setFromEnv(f, val)
		}
		if err != nil {
			ps = append(ps, Problem{Env: ev.Name, Path: ev.Path, Message: err.Error()})
			continue
		}
		set[ev.Path] = ev.Name
	}
	return set, ps
}

// setFromEnv parses one variable's text into f.
func setFromEnv(f reflect.Value, val string) error {
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(val)
		if err != nil && val != "0" {
			return fmt.Errorf("%q is not a duration (e.g. 50ms)", val)
		}
		f.SetInt(int64(d))
		return nil
	case f.Kind() == reflect.Pointer:
		v := reflect.New(f.Type().Elem())
		if err := setFromEnv(v.Elem(), val); err != nil {
			return err
		}
		f.Set(v)
		return nil
	case f.Kind() == reflect.Slice:
		var items []string
		for s := range strings.SplitSeq(val, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		f.Set(reflect.ValueOf(items))
		return nil
	}
	return setScalar(f, val, false)
}

// setTokens parses SLUICE_ADMIN_TOKENS into admin.tokens, keeping only the
// secrets' hashes.
func setTokens(f reflect.Value, val string) error {
	toks, err := admin.ParseTokens(val)
	if err != nil {
		return err
	}
	out := make([]Token, len(toks))
	for i, t := range toks {
		out[i] = Token{Name: t.Name, SHA256: hex.EncodeToString(t.Hash[:]), ReadOnly: t.ReadOnly}
	}
	f.Set(reflect.ValueOf(out))
	return nil
}
