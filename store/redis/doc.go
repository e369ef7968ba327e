// Package redis is a store.Store that keeps rate-limit state in Redis
// (standalone, Sentinel or Cluster), so that many Sluice processes share
// their counters.
//
// Every decision is one Lua script run with EVALSHA: one round trip, also
// for all-or-nothing checks of several limits, atomic on the Redis side.
// Concurrent decisions share round trips (rueidis pipelines them). The
// scripts (the .lua files of this package, one per algorithm) compute
// exactly what package algorithm computes in Go, with the time taken from
// Redis's own clock (TIME), so the clocks of application servers do not
// matter. Every key carries an expiry; a key whose state is empty is
// deleted.
//
// Each call to Redis has its own deadline (Config.Timeout, 100ms by
// default): when Redis hangs or is gone, calls fail fast with errors that
// wrap context.DeadlineExceeded (a timeout) or describe the connection
// failure, and the store recovers by itself when Redis is back.
//
// See docs/redis.md for the key layout, memory use, Cluster hash tags and
// the guarantees of all-or-nothing checks across Cluster slots.
package redis
