package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/policy"
)

// proxyHandler applies a route's policy set, then proxies.
type proxyHandler struct {
	set   *policy.Set // nil: no policies
	proxy *httputil.ReverseProxy
}

// callKey is the context key of a request's *finisher.
type callKey struct{}

// finisher finishes a policy call exactly once: with the upstream's
// response header (ModifyResponse), the error answer's (ErrorHandler), or
// nil when the proxy ended otherwise.
type finisher struct {
	call *policy.Call
	done atomic.Bool
}

func (f *finisher) finish(h http.Header) {
	if f != nil && f.done.CompareAndSwap(false, true) {
		f.call.Finish(h)
	}
}

func finisherOf(ctx context.Context) *finisher {
	f, _ := ctx.Value(callKey{}).(*finisher)
	return f
}

// ServeHTTP checks the policies, proxies, and finishes the call. A proxied
// response is not bounded by the server's WriteTimeout: it streams for as
// long as the upstream sends (an event stream, a large download), and the
// upstream's own timeouts (Timeouts) bound the wait for it to start.
func (p *proxyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.set == nil {
		noWriteDeadline(w)
		p.proxy.ServeHTTP(w, r)
		return
	}
	call, r, ok := p.set.Check(w, r)
	if !ok {
		return
	}
	noWriteDeadline(w)
	f := &finisher{call: call}
	// Deferred: ReverseProxy aborts a response whose body copy fails by
	// panicking with http.ErrAbortHandler; the call is finished anyway.
	defer f.finish(nil)
	p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, f)))
}

// noWriteDeadline lifts the write deadline the server set for the response
// (http.Server.WriteTimeout), where the ResponseWriter allows it.
func noWriteDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
}

// newProxy returns the reverse proxy of one route.
func (g *Gateway) newProxy(name string, target *url.URL, preserveHost bool) *httputil.ReverseProxy {
	log := g.log.With(slog.String("route", name), slog.String("upstream", target.Redacted()))
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			trusted := g.peerTrusted(pr.In)
			if trusted {
				// A trusted proxy's forwarding headers are kept and the peer
				// appended; anyone else's were removed by ReverseProxy.
				if v := pr.In.Header.Values("X-Forwarded-For"); len(v) > 0 {
					pr.Out.Header["X-Forwarded-For"] = v
				}
				if v := pr.In.Header.Values("Forwarded"); len(v) > 0 {
					pr.Out.Header["Forwarded"] = v
				}
			}
			pr.SetXForwarded()
			if trusted {
				for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
					if v := pr.In.Header.Get(h); v != "" {
						pr.Out.Header.Set(h, v)
					}
				}
			}
			if preserveHost {
				pr.Out.Host = pr.In.Host
			}
		},
		Transport:  g.transport,
		BufferPool: g.buffers,
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ModifyResponse: func(resp *http.Response) error {
			finisherOf(resp.Request.Context()).finish(resp.Header)
			resp.Header.Del(policy.HeaderIncrements)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			finisherOf(r.Context()).finish(w.Header())
			w.Header().Del(policy.HeaderIncrements)
			switch {
			case isTimeout(err):
				log.LogAttrs(r.Context(), slog.LevelWarn, "upstream timed out", slog.String("path", r.URL.Path), slog.Any("error", err))
				writeProblem(w, r, http.StatusGatewayTimeout, ProblemUpstreamTimeout, problemTitleUpstreamSlow,
					"the upstream did not answer in time")
				return
			case r.Context().Err() != nil:
				// The client went away (or the server is shutting down):
				// answer anyway, for whoever may still read it.
				log.LogAttrs(r.Context(), slog.LevelDebug, "request canceled before the upstream answered", slog.Any("error", err))
			default:
				log.LogAttrs(r.Context(), slog.LevelWarn, "upstream failed", slog.String("path", r.URL.Path), slog.Any("error", err))
			}
			writeProblem(w, r, http.StatusBadGateway, ProblemUpstreamFailed, problemTitleUpstream,
				"the upstream could not be reached or gave an invalid answer")
		},
	}
}

// isTimeout reports whether err is a timeout: dialing, the response
// header, or a deadline.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// bufferPool recycles the 32 KiB buffers ReverseProxy copies bodies with.
type bufferPool struct {
	pool sync.Pool
}

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

// Get returns a buffer.
func (b *bufferPool) Get() []byte { return *(b.pool.Get().(*[]byte)) }

// Put returns a buffer to the pool.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= 32<<10 {
		buf = buf[:32<<10]
		b.pool.Put(&buf)
	}
}
