// Package gateway is Sluice's reverse proxy: it sends each request to the
// upstream of the first route whose path pattern (rules.ParsePattern) and
// methods match, after the route's authentication (package policy/auth)
// and rate-limit policies (package policy) let it through.
//
// Proxying uses net/http/httputil.ReverseProxy with a Rewrite function:
// X-Forwarded-For, -Host and -Proto are set from the peer, and believed
// from the request only when the peer is a trusted proxy; hop-by-hop
// headers are removed; WebSocket and other Upgrade requests and streamed
// responses (text/event-stream, chunked) pass through, flushed as they
// come. An upstream that cannot be reached answers 502, one that does not
// answer in time 504; a request no route matches gets 404 (405 when only
// the method differs), each as an application/problem+json body.
//
// The upstream may charge the counters of a complex policy with a
// Sluice-Increments response header (such as "compute=5"); the gateway
// applies it and removes it before the response reaches the client.
//
// The route table is immutable: Update builds and validates a new one and
// swaps it in atomically, so requests in flight finish on the table they
// started with and no connection is dropped by a reload.
package gateway
