package servicetest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Gate is a loopback port that refuses connections until Open, then
// forwards each one to a target address: a service that was down when a
// program started and comes back later. It stops when the test ends.
type Gate struct {
	t      testing.TB
	addr   string
	target string

	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
	stopped bool
	wg      sync.WaitGroup
}

// NewGate reserves a free loopback port, closed until Open, whose
// connections will go to target (host:port).
func NewGate(t testing.TB, target string) *Gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{t: t, addr: ln.Addr().String(), target: target}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.stop)
	return g
}

// Addr is the gate's address, host:port.
func (g *Gate) Addr() string { return g.addr }

// Open starts accepting connections on the gate's port and forwarding them.
func (g *Gate) Open() {
	g.t.Helper()
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatalf("gate %s: %v", g.addr, err)
	}
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	g.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.forward(c)
		}
	})
}

// forward copies between c and a new connection to the target, both ways.
func (g *Gate) forward(c net.Conn) {
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		_ = c.Close()
		return
	}
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		_ = c.Close()
		_ = up.Close()
		return
	}
	g.conns = append(g.conns, c, up)
	g.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	g.wg.Go(func() { pipe(up, c) })
	g.wg.Go(func() { pipe(c, up) })
}

// stop closes the port and every connection, and waits for the copies.
func (g *Gate) stop() {
	g.mu.Lock()
	g.stopped = true
	if g.ln != nil {
		_ = g.ln.Close()
	}
	for _, c := range g.conns {
		_ = c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}
