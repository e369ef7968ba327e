package config

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder decodes a YAML node tree into a Go value strictly: an unknown
// field, a value of the wrong kind or a duplicate key is a Problem carrying
// the line it is on, and decoding goes on after it so that every problem in
// the file is reported at once. It records the line of every field path it
// sees, so that problems found later by Validate get lines too.
type decoder struct {
	problems Problems
	lines    map[string]int // field path → line of its key (or value, for list items)
	visited  int            // nodes decoded, aliases expanded: bounded by maxNodes
	fields   map[reflect.Type]structFields
}

// structFields are the YAML names of a struct type's fields.
type structFields struct {
	names []string
	index map[string]int
}

// maxNodes bounds the nodes one decode visits, counting each expansion of
// an alias, so that a file of nested aliases (a "billion laughs") cannot
// exhaust memory or time.
const maxNodes = 200_000

var (
	durationType = reflect.TypeFor[time.Duration]()
	textType     = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlType     = reflect.TypeFor[yaml.Unmarshaler]()
)

func (d *decoder) fail(line int, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

// join appends a field name to a path.
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// describe names a node's kind for messages: "a list", "a mapping", or the
// scalar itself, quoted.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// isNull reports whether n is an explicit null (`~`, `null`, or nothing).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// decode decodes n into v (settable) at path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.visited++; d.visited > maxNodes {
		if d.visited == maxNodes+1 {
			d.fail(n.Line, path, "the document expands to more than %d values (aliases nested too deep?)", maxNodes)
		}
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			d.decode(n.Content[0], v, path)
		}
		return
	case yaml.AliasNode:
		d.decode(n.Alias, v, path)
		return
	}
	if d.lines[path] == 0 {
		d.lines[path] = n.Line
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(yamlType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(n.Line, path, "%v", err)
		}
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(textType) && n.Kind == yaml.ScalarNode {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(n.Line, path, "%q is not valid: %v", n.Value, err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.list(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "expected a duration (e.g. 50ms, 5s, 1m), got %s", describe(n))
		return
	}
	if isNull(n) {
		v.SetInt(0)
		return
	}
	if n.Value == "0" {
		v.SetInt(0)
		return
	}
	t, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(n.Line, path, "%q is not a duration (e.g. 50ms)", n.Value)
		return
	}
	v.SetInt(int64(t))
}

// fieldsOf returns the YAML names of a struct's fields and their indexes.
func fieldsOf(t reflect.Type) (names []string, index map[string]int) {
	index = make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		index[name] = i
		names = append(names, name)
	}
	return names, index
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return // an empty section keeps its defaults
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "expected a mapping of fields, got %s", describe(n))
		return
	}
	sf, ok := d.fields[v.Type()]
	if !ok {
		sf.names, sf.index = fieldsOf(v.Type())
		if d.fields == nil {
			d.fields = map[reflect.Type]structFields{}
		}
		d.fields[v.Type()] = sf
	}
	names, index := sf.names, sf.index
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.Tag == "!!merge" {
			d.decode(val, v, path)
			continue
		}
		p := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.fail(k.Line, p, "appears twice (first on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		fi, ok := index[k.Value]
		if !ok {
			d.fail(k.Line, p, "unknown field%s (accepted: %s)", suggest(k.Value, names), strings.Join(names, ", "))
			continue
		}
		d.lines[p] = k.Line
		d.decode(val, v.Field(fi), p)
	}
}

// suggest returns ` (did you mean "x"?)` when a known name is close to an
// unknown one: the same but for case, '_' and '-', or a typo or two away.
func suggest(name string, names []string) string {
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	best, bestDist := "", 3
	for _, c := range names {
		d := distance(norm(name), norm(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist >= len(norm(name))/2+1 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "expected a mapping, got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.fail(n.Line, path, "internal: map keys must be strings")
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			d.fail(k.Line, path, "keys must be plain text, got %s", describe(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.fail(k.Line, p, "appears twice (first on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		d.lines[p] = k.Line
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e, p)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = item.Line
		d.decode(item, s.Index(i), p)
	}
	v.Set(s)
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "expected %s, got %s", kindName(v.Type()), describe(n))
		return
	}
	if err := setScalar(v, n.Value, isNull(n)); err != nil {
		d.fail(n.Line, path, "%v", err)
	}
}

// kindName names what a scalar type accepts, for messages.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "text"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// setScalar parses text into the scalar v, as the YAML decoder and the
// environment overrides both do, with an error that says what is accepted.
func setScalar(v reflect.Value, text string, null bool) error {
	if null {
		v.SetZero()
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		b, ok := parseBool(text)
		if !ok {
			return fmt.Errorf("%q is not a boolean (true or false)", text)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(text, 0, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number%s", text, rangeNote(err))
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(text, 0, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number ≥ 0%s", text, rangeNote(err))
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(text, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a number", text)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("internal: cannot decode into %s", v.Type())
	}
	return nil
}

func rangeNote(err error) string {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return " in range"
	}
	return ""
}

// parseBool accepts the booleans of YAML 1.1 and 1.2 that people write.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

// sortedKeys returns a map's keys in order, for deterministic validation.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
