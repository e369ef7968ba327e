package bench

// The clients of the `sluice serve` load benchmark: a lean HTTP/1.1
// client (one keep-alive connection per worker, one request at a time, no
// pipelining, a minimal response parser, so that the generator takes as
// little as possible of the CPU it shares with the server) and a gRPC
// client (the generated sluice.v1 stub over a few shared connections).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sluicev1 "github.com/sluicehq/sluice/proto/sluice/v1"
)

// serveKeys is how many keys each worker cycles through; serveLimit is
// high enough that nearly every decision is allowed (a denial costs the
// server the same work, but the answer differs in size).
const (
	serveKeys  = 100
	serveLimit = "100000000/1m"
)

// serveResult is what one load run measured.
type serveResult struct {
	decisions int
	elapsed   time.Duration
	lat       []time.Duration // sorted
	errors    int
	denied    int
	serverCPU time.Duration // CPU the server used during the measured run
	clientCPU time.Duration // CPU the load generator used meanwhile
}

func (r serveResult) perSecond() float64 { return float64(r.decisions) / r.elapsed.Seconds() }

// cpuPerDecision returns the CPU time cpu spread over the decisions, in
// microseconds (0 without decisions).
func (r serveResult) cpuPerDecision(cpu time.Duration) float64 {
	if r.decisions == 0 {
		return 0
	}
	return float64(cpu) / float64(time.Microsecond) / float64(r.decisions)
}

// quantile returns the q-quantile latency (0 < q < 1).
func (r serveResult) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[int(float64(len(r.lat)-1)*q)]
}

// serveWorker is one closed-loop client: it sends a request, waits for
// the answer, and sends the next, until the deadline.
type serveWorker interface {
	// decide makes one decision and reports whether it was allowed.
	decide(i int) (allowed bool, err error)
	close()
}

// runWorkers runs the workers for warmup (unmeasured) then for d, and
// merges what they measured; cpu reads the server's and the generator's
// CPU time at the start and end of the measured part.
func runWorkers(workers []serveWorker, warmup, d time.Duration, cpu func() (server, client time.Duration)) serveResult {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var res serveResult
	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+d)
	for w, wk := range workers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1<<16)
			errs, denied := 0, 0
			for i := w * 7919; ; i++ {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				allowed, err := wk.decide(i)
				el := time.Since(t0)
				if t0.Before(measureFrom) {
					continue
				}
				lat = append(lat, el)
				switch {
				case err != nil:
					errs++
				case !allowed:
					denied++
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			res.denied += denied
			mu.Unlock()
		})
	}
	timer := time.AfterFunc(warmup, func() {
		s, c := cpu()
		mu.Lock()
		res.serverCPU, res.clientCPU = -s, -c
		mu.Unlock()
	})
	wg.Wait()
	timer.Stop()
	s, c := cpu()
	mu.Lock()
	res.serverCPU += s
	res.clientCPU += c
	mu.Unlock()
	res.elapsed = d
	res.decisions = len(res.lat) - res.errors
	slices.Sort(res.lat)
	return res
}

// httpWorker is a keep-alive HTTP/1.1 connection posting /v1/limit.
type httpWorker struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	reqs [][]byte // one prepared request per key
}

func newHTTPWorker(addr string, id int) (*httpWorker, error) {
	w := &httpWorker{addr: addr}
	for k := range serveKeys {
		body := fmt.Sprintf(`{"key":"load:%d:%d","limit":%q}`, id, k, serveLimit)
		w.reqs = append(w.reqs, []byte("POST /v1/limit HTTP/1.1\r\nHost: "+addr+
			"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body))
	}
	return w, w.dial()
}

func (w *httpWorker) dial() error {
	c, err := net.Dial("tcp", w.addr)
	if err != nil {
		return err
	}
	w.c, w.br = c, bufio.NewReaderSize(c, 8<<10)
	return nil
}

func (w *httpWorker) close() {
	if w.c != nil {
		_ = w.c.Close()
	}
}

func (w *httpWorker) decide(i int) (bool, error) {
	status, err := w.roundTrip(w.reqs[i%len(w.reqs)])
	if err != nil {
		w.close()
		if derr := w.dial(); derr != nil {
			time.Sleep(10 * time.Millisecond)
		}
		return false, err
	}
	switch status {
	case 200:
		return true, nil
	case 429:
		return false, nil
	}
	return false, fmt.Errorf("status %d", status)
}

// roundTrip writes req and reads one response with a Content-Length.
func (w *httpWorker) roundTrip(req []byte) (int, error) {
	if _, err := w.c.Write(req); err != nil {
		return 0, err
	}
	line, err := w.br.ReadSlice('\n')
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
	length := -1
	for {
		h, err := w.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if name, value, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("a response without Content-Length")
	}
	_, err = w.br.Discard(length)
	return status, err
}

// grpcWorker calls sluice.v1.Limiter/Limit on a shared connection.
type grpcWorker struct {
	c    sluicev1.LimiterClient
	reqs []*sluicev1.LimitRequest
}

func newGRPCWorker(conn *grpc.ClientConn, id int) *grpcWorker {
	w := &grpcWorker{c: sluicev1.NewLimiterClient(conn)}
	for k := range serveKeys {
		w.reqs = append(w.reqs, &sluicev1.LimitRequest{Spec: &sluicev1.LimitSpec{Key: fmt.Sprintf("gload:%d:%d", id, k), Limit: serveLimit}})
	}
	return w
}

func (w *grpcWorker) close() {}

func (w *grpcWorker) decide(i int) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := w.c.Limit(ctx, w.reqs[i%len(w.reqs)])
	if err != nil {
		return false, err
	}
	return resp.GetDecision().GetAllowed(), nil
}

// dialGRPC opens n client connections to addr.
func dialGRPC(addr string, n int) ([]*grpc.ClientConn, error) {
	var conns []*grpc.ClientConn
	for range n {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}
