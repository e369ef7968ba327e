package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// BenchmarkLoadEchoBaseline measures the ceiling BenchmarkLoadServe works
// under: a bare TCP echo on loopback (200-byte messages, one round trip at
// a time per connection, no HTTP, no JSON, no decision), with the echo
// server and its clients sharing the machine as sluice serve and the load
// generator do. No request/response server on this machine can answer more
// round trips per second than this at the same concurrency.
//
// Each sub-benchmark (clients=<n>, for each n of SLUICE_LOAD_CONCURRENCY,
// default 64) is one run of a 500ms warm-up then SLUICE_LOAD_DURATION
// (default 3s), whatever b.N is: run it with -benchtime=1x. The figures of
// docs/BENCHMARKS.md are
//
//	cd bench && SLUICE_LOAD_CONCURRENCY=16,64,256 go test -run '^$' -bench LoadEchoBaseline -benchtime=1x .
func BenchmarkLoadEchoBaseline(b *testing.B) {
	duration, levels := loadSettings(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var servers sync.WaitGroup
	var mu sync.Mutex
	var accepted []net.Conn
	servers.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
			servers.Go(func() { _, _ = io.Copy(c, c) })
		}
	})
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range accepted {
			c.Close()
		}
		mu.Unlock()
		servers.Wait()
	}()
	for _, n := range levels {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			workers := make([]serveWorker, n)
			for i := range workers {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				workers[i] = &echoWorker{c: c, msg: make([]byte, 200), buf: make([]byte, 200)}
			}
			b.ResetTimer()
			res := runWorkers(workers, 500*time.Millisecond, duration, func() (time.Duration, time.Duration) { return 0, 0 })
			b.StopTimer()
			for _, w := range workers {
				w.close()
			}
			reportLoad(b, res, "round-trips/s")
			b.Logf("| tcp echo | %d | %.0f | %s | %s | %s |", n, res.perSecond(), ms(res.quantile(0.5)), ms(res.quantile(0.99)), ms(res.quantile(0.999)))
		})
	}
}

// echoWorker sends a message and reads it back.
type echoWorker struct {
	c        net.Conn
	msg, buf []byte
}

// decide makes one round trip; every one counts as allowed.
func (w *echoWorker) decide(int) (bool, error) {
	if _, err := w.c.Write(w.msg); err != nil {
		return false, err
	}
	if _, err := io.ReadFull(w.c, w.buf); err != nil {
		return false, err
	}
	if len(w.buf) != len(w.msg) {
		return false, errors.New("short echo")
	}
	return true, nil
}

// close closes the connection.
func (w *echoWorker) close() { _ = w.c.Close() }
