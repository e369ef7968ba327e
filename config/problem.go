package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every configuration error: test with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong with a configuration: which field, where it
// came from, and what is wrong with it and what is accepted.
type Problem struct {
	// File is the configuration file's name; empty for defaults and for
	// values that came from the environment.
	File string
	// Line is the 1-based line of the field in File, 0 when unknown.
	Line int
	// Env names the environment variable the value came from, if it did.
	Env string
	// Path is the field's path, such as "store.timeout" or
	// "routes[2].policies[0]".
	Path string
	// Message says what is wrong and what is accepted.
	Message string
}

// Error formats the problem as `file:line: path: message`, or
// `$ENV: path: message` for a value from the environment.
func (p Problem) Error() string {
	var b strings.Builder
	switch {
	case p.Env != "":
		b.WriteString("$" + p.Env + ": ")
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File + ":" + strconv.Itoa(p.Line) + ": ")
	case p.File != "":
		b.WriteString(p.File + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in a configuration. As an error it reads
// as one problem per line; it wraps ErrInvalid.
type Problems []Problem

// Error returns one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns ErrInvalid.
func (ps Problems) Unwrap() error { return ErrInvalid }

// err returns ps as an error, or nil when there are none.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// sort orders problems by line, keeping problems with no line (from the
// environment or defaults) first in the order found.
func (ps Problems) sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
}

// problems collects Problems during validation.
type problems struct{ list Problems }

func (c *problems) add(path, format string, args ...any) {
	c.list = append(c.list, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}
