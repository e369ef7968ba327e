package redis

import (
	"strconv"

	"github.com/sluicehq/sluice/algorithm"
)

// argBuf builds a script's arguments as one string cut into pieces: one
// allocation for all the arguments of a call. Its methods take and return
// the value (a = a.int(v)) so that a buffer backed by a caller's array can
// stay on the caller's stack.
type argBuf struct {
	b    []byte
	ends []int
}

func (a argBuf) int(v int64) argBuf {
	a.b = strconv.AppendInt(a.b, v, 10)
	a.ends = append(a.ends, len(a.b))
	return a
}

func (a argBuf) str(s string) argBuf {
	a.b = append(a.b, s...)
	a.ends = append(a.ends, len(a.b))
	return a
}

// strings appends the arguments to dst.
func (a argBuf) strings(dst []string) []string {
	s := string(a.b)
	start := 0
	for _, end := range a.ends {
		dst = append(dst, s[start:end])
		start = end
	}
	return dst
}

// limit appends a limit as the scripts read it (read_limit in lib.lua):
// algorithm, requests, window, capacity and interval in µs, and for a
// quota the bounds of the previous, current and next calendar periods
// around ref (µs since the Unix epoch, this host's clock).
func (a argBuf) limit(l algorithm.Limit, ref int64) argBuf {
	a = a.int(int64(l.Algorithm)).int(l.Requests).int(l.Window.Microseconds()).int(l.Capacity()).int(l.Interval())
	if l.Algorithm == algorithm.Quota {
		start, end := algorithm.PeriodBounds(l, ref)
		prev, _ := algorithm.PeriodBounds(l, start-1)
		_, next := algorithm.PeriodBounds(l, end)
		a = a.int(prev).int(start).int(end).int(next)
	}
	return a
}
