package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxIncrement bounds one increment: the largest allowance a limit has.
const maxIncrement = 1 << 50

// maxIncrementMembers bounds how many members a Sluice-Increments header
// may have; the rest are ignored.
const maxIncrementMembers = 64

// increment is one member of a Sluice-Increments header.
type increment struct {
	counter string
	n       int64
}

// parseIncrements parses the lines of a Sluice-Increments header: a
// comma-separated list of counter=integer members, such as
// "compute=5, requests=1" (a structured-field Dictionary of Integers).
// It returns the valid members and an error describing the invalid ones,
// which are skipped.
func parseIncrements(lines []string) ([]increment, error) {
	var out []increment
	var errs []error
	n := 0
	for _, line := range lines {
		for member := range strings.SplitSeq(line, ",") {
			member = strings.Trim(member, " \t")
			if member == "" {
				continue
			}
			if n++; n > maxIncrementMembers {
				return out, errors.Join(append(errs, fmt.Errorf("more than %d members; the rest are ignored", maxIncrementMembers))...)
			}
			in, err := parseIncrement(member)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, in)
		}
	}
	return out, errors.Join(errs...)
}

// parseIncrement parses one counter=integer member.
func parseIncrement(member string) (increment, error) {
	k, v, ok := strings.Cut(member, "=")
	k, v = strings.Trim(k, " \t"), strings.Trim(v, " \t")
	quoted := strconv.Quote(truncate(member, 80))
	if !ok || !validName(k) {
		return increment{}, fmt.Errorf("%s: a member is counter=integer, the counter 1 to 64 letters, digits, '.', '_' or '-'", quoted)
	}
	if len(v) == 0 || len(v) > 16 || strings.TrimLeft(v, "0123456789") != "" {
		return increment{}, fmt.Errorf("%s: the increment must be a whole number from 0 to %d", quoted, int64(maxIncrement))
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > maxIncrement {
		return increment{}, fmt.Errorf("%s: the increment must be a whole number from 0 to %d", quoted, int64(maxIncrement))
	}
	return increment{counter: k, n: n}, nil
}

// truncate shortens s to at most n bytes for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
