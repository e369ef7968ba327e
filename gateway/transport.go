package gateway

import (
	"net"
	"net/http"
	"time"
)

// Defaults of Timeouts.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultTLSHandshakeTimeout   = 5 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	// DefaultMaxIdleConnsPerHost is how many idle keep-alive connections
	// to one upstream are kept: enough for a busy gateway not to dial per
	// request (net/http's own default is 2).
	DefaultMaxIdleConnsPerHost = 256
)

// Timeouts bound the gateway's connections to upstreams. Zero fields take
// the defaults; negative ones mean no limit.
type Timeouts struct {
	// Dial bounds opening a TCP connection. Default 5s.
	Dial time.Duration
	// TLSHandshake bounds the TLS handshake with an https upstream.
	// Default 5s.
	TLSHandshake time.Duration
	// ResponseHeader bounds the wait for the upstream's response header
	// after the request was sent: past it the client gets 504. Default 30s.
	// The body may then stream for as long as it takes.
	ResponseHeader time.Duration
	// IdleConn closes keep-alive connections to upstreams idle this long.
	// Default 90s.
	IdleConn time.Duration
}

func pick(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// NewTransport returns the http.Transport the gateway uses when
// Config.Transport is nil: t's timeouts, HTTP/2 to https upstreams that
// offer it, proxies from the environment ignored (the upstream is reached
// directly), and up to DefaultMaxIdleConnsPerHost idle connections per
// upstream.
func NewTransport(t Timeouts) *http.Transport {
	d := &net.Dialer{Timeout: pick(t.Dial, DefaultDialTimeout), KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   pick(t.TLSHandshake, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout: pick(t.ResponseHeader, DefaultResponseHeaderTimeout),
		IdleConnTimeout:       pick(t.IdleConn, DefaultIdleConnTimeout),
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          4 * DefaultMaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   DefaultMaxIdleConnsPerHost,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true, // a proxy passes encodings through, never decodes
	}
}
