package bench

// A lean HTTP/1.1 load generator for the gateway benchmark: a fixed number
// of keep-alive connections, each sending one request at a time (no
// pipelining) and reading the response with a minimal parser, so that the
// generator takes as little as possible of the CPU it shares with the
// servers under test. Every target is measured with the same generator.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// gwResult is what one load run measured.
type gwResult struct {
	requests int
	elapsed  time.Duration
	lat      []time.Duration // every request's latency, sorted
	errors   int
	non2xx   int
}

func (r gwResult) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// percentile returns the p-th percentile latency (0 < p < 100).
func (r gwResult) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p / 100)
	return r.lat[i]
}

// gwConns holds open connections to one target, reused across runs so
// that the benchmark's calibration rounds do not reconnect.
type gwConns struct {
	addr  string
	req   []byte
	conns []*gwConn
}

type gwConn struct {
	c   net.Conn
	br  *bufio.Reader
	lat []time.Duration
}

// gwDial opens n keep-alive connections to addr for GET path.
func gwDial(addr, path string, n int) (*gwConns, error) {
	l := &gwConns{
		addr: addr,
		req:  []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: sluice-bench\r\nAccept: */*\r\n\r\n"),
	}
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		l.conns = append(l.conns, &gwConn{c: c, br: bufio.NewReaderSize(c, 16<<10)})
	}
	return l, nil
}

func (l *gwConns) close() {
	for _, c := range l.conns {
		_ = c.c.Close()
	}
}

// run sends total requests spread over the connections and waits for all
// their responses.
func (l *gwConns) run(total int) gwResult {
	var wg sync.WaitGroup
	var mu sync.Mutex
	res := gwResult{}
	per := total / len(l.conns)
	extra := total % len(l.conns)
	start := time.Now()
	for i, c := range l.conns {
		n := per
		if i < extra {
			n++
		}
		c.lat = slices.Grow(c.lat[:0], n)
		wg.Go(func() {
			errs, non2xx := 0, 0
			for range n {
				t0 := time.Now()
				status, err := c.roundTrip(l.req)
				c.lat = append(c.lat, time.Since(t0))
				switch {
				case err != nil:
					errs++
					// Reconnect and go on: an error must not stop the run.
					_ = c.c.Close()
					nc, derr := net.Dial("tcp", l.addr)
					if derr != nil {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					c.c, c.br = nc, bufio.NewReaderSize(nc, 16<<10)
				case status < 200 || status > 299:
					non2xx++
				}
			}
			mu.Lock()
			res.errors += errs
			res.non2xx += non2xx
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = total
	for _, c := range l.conns {
		res.lat = append(res.lat, c.lat...)
	}
	slices.Sort(res.lat)
	return res
}

// roundTrip writes req and reads one response, returning its status.
func (c *gwConn) roundTrip(req []byte) (int, error) {
	if _, err := c.c.Write(req); err != nil {
		return 0, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
	}
	switch {
	case chunked:
		return status, c.skipChunked()
	case length >= 0:
		_, err = c.br.Discard(length)
		return status, err
	}
	return 0, errors.New("response without a length (the generator needs keep-alive responses)")
}

func (c *gwConn) skipChunked() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			for { // trailers, then the blank line
				l, err := c.br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(l) <= 2 {
					return nil
				}
			}
		}
		if _, err := c.br.Discard(int(size) + 2); err != nil {
			return err
		}
	}
}
