package bench

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// TestLoadEchoBaseline measures the ceiling TestLoadServe works under: a
// bare TCP echo on loopback (200-byte messages, one round trip at a time
// per connection, no HTTP, no JSON, no decision), with the echo server and
// its clients sharing the machine as sluice serve and the load generator
// do. No request/response server on this machine can answer more round
// trips per second than this at the same concurrency.
//
//	cd bench && SLUICE_LOAD=1 go test -run TestLoadEchoBaseline -v .
func TestLoadEchoBaseline(t *testing.T) {
	if os.Getenv("SLUICE_LOAD") != "1" {
		t.Skip("a load measurement: run with SLUICE_LOAD=1 (see docs/BENCHMARKS.md)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
	for _, n := range []int{16, 64, 256} {
		workers := make([]serveWorker, n)
		for i := range workers {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			workers[i] = &echoWorker{c: c, msg: make([]byte, 200), buf: make([]byte, 200)}
		}
		res := runWorkers(workers, 500*time.Millisecond, 3*time.Second, func() (time.Duration, time.Duration) { return 0, 0 })
		for _, w := range workers {
			w.close()
		}
		t.Logf("| tcp echo | %d | %.0f | %s | %s | %s |", n, res.perSecond(), ms(res.quantile(0.5)), ms(res.quantile(0.99)), ms(res.quantile(0.999)))
	}
}

// echoWorker sends a message and reads it back.
type echoWorker struct {
	c        net.Conn
	msg, buf []byte
}

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

func (w *echoWorker) close() { _ = w.c.Close() }
