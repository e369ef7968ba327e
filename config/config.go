// Package config is the configuration of `sluice serve`: plain structs with
// documented defaults (Default), strict YAML decoding that reports every
// problem with its line (Parse, Load), overrides from environment variables
// (SLUICE_<SECTION>_<FIELD>, see EnvVars), validation (Validate), and
// reloading as immutable snapshots (Watcher).
//
// docs/configuration.md documents every field; a test checks that its
// examples and examples/configs/*.yaml load.
package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/algorithm"
	"github.com/sluicehq/sluice/rules"
	"github.com/sluicehq/sluice/server/envoyrls"
)

// Config is the whole configuration of `sluice serve`. The zero value is
// not meant to be used: start from Default. A Config returned by Load or
// Parse is valid and must be treated as immutable: it is shared.
type Config struct {
	// HTTP is the listener of the decision API, health and metrics.
	HTTP HTTP `yaml:"http"`
	// GRPC is the listener of the gRPC decision API and Envoy RLS.
	GRPC GRPC `yaml:"grpc"`
	// Admin is the listener of the rules admin API and pprof, and the
	// admin tokens.
	Admin Admin `yaml:"admin"`
	// Store is where counters live.
	Store Store `yaml:"store"`
	// Rules is where the rate-limit rules live.
	Rules Rules `yaml:"rules"`
	// Envoy holds the Envoy rate-limit service domains.
	Envoy Envoy `yaml:"envoy"`
	// ShadowMode evaluates and records every decision but never blocks:
	// denied calls are answered as allowed (with shadow true; metrics count
	// them with their real reason), to try limits on live traffic. Default
	// false.
	ShadowMode bool `yaml:"shadow_mode"`
	// Log is how the process logs.
	Log Log `yaml:"log"`
	// ShutdownTimeout bounds the graceful shutdown on SIGTERM or SIGINT:
	// requests in flight get this long to finish. Default 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ShutdownDelay is how long serve goes on serving after SIGTERM, with
	// /readyz answering 503 and gRPC health NOT_SERVING, before it stops
	// accepting connections: time for load balancers to notice. Default 0s.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// Gateway holds settings shared by the gateway's policies.
	Gateway Gateway `yaml:"gateway"`
	// Policies are the named rate-limit policies that routes apply.
	Policies []Policy `yaml:"policies"`
	// Routes map request paths to upstreams through policies.
	Routes []Route `yaml:"routes"`
	// Auth holds the API keys and JWT settings routes authenticate with.
	Auth Auth `yaml:"auth"`
}

// HTTP configures the HTTP listener.
type HTTP struct {
	// Addr is host:port to listen on. Default 127.0.0.1:8080 (loopback
	// only: listen on 0.0.0.0:8080 or :8080 to accept other hosts); empty
	// turns the HTTP listener off.
	Addr string `yaml:"addr"`
	// ReadHeaderTimeout bounds reading a request's headers. Default 5s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request. Default 10s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response. Default 10s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes caps the size of request headers. Default 65536.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
}

// GRPC configures the gRPC listener.
type GRPC struct {
	// Addr is host:port to listen on. Default 127.0.0.1:8081; empty turns
	// the gRPC listener off.
	Addr string `yaml:"addr"`
}

// Admin configures the admin listener and its tokens.
type Admin struct {
	// Addr is host:port of the admin listener: the rules admin API
	// (/api/rate-rules), /metrics, health, and pprof when enabled. Default
	// 127.0.0.1:8082. Empty serves the admin API on the HTTP listener
	// instead (pprof then stays off).
	Addr string `yaml:"addr"`
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin
	// listener. Default false. It needs its own Addr.
	Pprof bool `yaml:"pprof"`
	// Tokens are the bearer tokens of the admin API. With none, the admin
	// API answers 503 and `sluice rules` remains the way to change rules.
	Tokens []Token `yaml:"tokens"`
}

// Token is one admin API token. Its secret is never written in the file:
// either TokenEnv names an environment variable holding it, or SHA256 is
// its hash (`printf %s "$SECRET" | sha256sum`).
type Token struct {
	// Name identifies the token in logs and the audit log: letters,
	// digits, '.', '_', '-'. Required, unique.
	Name string `yaml:"name"`
	// TokenEnv names the environment variable holding the secret (at least
	// 16 bytes). Exactly one of TokenEnv and SHA256 is required.
	TokenEnv string `yaml:"token_env"`
	// SHA256 is the hex SHA-256 of the secret (64 hex digits).
	SHA256 string `yaml:"sha256"`
	// ReadOnly tokens may only read rules. Default false.
	ReadOnly bool `yaml:"read_only"`
}

// The store types.
const (
	StoreMemory = "memory"
	StoreRedis  = "redis"
)

// The failure modes of Store.OnError.
const (
	OnErrorOpen   = "open"
	OnErrorClosed = "closed"
	OnErrorLocal  = "local"
)

// Store configures the counter store.
type Store struct {
	// Type is memory or redis. Default: redis when URL or Cluster is set,
	// memory otherwise.
	Type string `yaml:"type"`
	// URL is the Redis deployment: redis://[user:pass@]host:port[/db],
	// rediss:// (TLS), redis-sentinel://host:port[,host:port]/master,
	// redis+cluster://host:port[,host:port]. Put passwords in
	// SLUICE_STORE_URL rather than the file.
	URL string `yaml:"url"`
	// Cluster lists the seed nodes (host:port) of a Redis Cluster; an
	// alternative to a redis+cluster:// URL.
	Cluster []string `yaml:"cluster"`
	// Prefix begins every Redis key, followed by ':'. Default "sluice".
	Prefix string `yaml:"prefix"`
	// Timeout bounds each call to Redis; on expiry OnError applies.
	// Default 100ms.
	Timeout time.Duration `yaml:"timeout"`
	// OnError is what a decision does when the store fails or times out:
	// open (allow), closed (answer an error, 503) or local (decide in
	// process memory for the outage). Default open.
	OnError string `yaml:"on_error"`
	// MaxKeys caps the keys of the memory store; the least recently used
	// are evicted past it. Default 1048576.
	MaxKeys int `yaml:"max_keys"`
	// BlockCacheSize is how many blocked keys are remembered to deny
	// without a store round trip. Default 100000; -1 turns it off.
	BlockCacheSize int `yaml:"block_cache_size"`
}

// Rules configures the rules database.
type Rules struct {
	// Database is a SQLite file (sluice.db, sqlite:/path/rules.db) or a
	// PostgreSQL URL (postgres://user:pass@host:5432/db?search_path=s).
	// Default sluice.db, in the working directory.
	Database string `yaml:"database"`
	// MigrateOnStart creates or upgrades the schema when serve starts.
	// Default: true for SQLite, false for PostgreSQL (run `sluice
	// migrate` as a deployment step).
	MigrateOnStart *bool `yaml:"migrate_on_start"`
	// CacheTTL is how often the rules are reloaded from the database in
	// the background (PostgreSQL also announces changes at once). Default 60s.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// Fallback is limit text (such as "100/1m") applied per user_id while
	// the rules could never be loaded. Default: none.
	Fallback string `yaml:"fallback"`
}

// Envoy configures the Envoy rate-limit service (gRPC
// envoy.service.ratelimit.v3).
type Envoy struct {
	// Domains are the rate-limit domains and their descriptors, in the
	// shape of envoyproxy/ratelimit's configuration.
	Domains []envoyrls.Domain `yaml:"domains"`
	// Headers adds RateLimit-Limit, RateLimit-Remaining and
	// RateLimit-Reset headers to Envoy's responses. Default false.
	Headers bool `yaml:"headers"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// Gateway holds settings shared by every policy of the gateway.
type Gateway struct {
	// TrustedProxies are the addresses and CIDRs of proxies in front of
	// Sluice whose X-Forwarded-For is believed when finding a caller's IP.
	// Default: none (the peer address is the caller).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// IPv6Prefix is the prefix length an IPv6 caller is grouped by for
	// rateLimitBy ip: a host usually holds a whole /64. Default 64.
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// ForwardedHeader is the header trusted proxies name the caller in:
	// x-forwarded-for (default) or forwarded (RFC 7239).
	ForwardedHeader string `yaml:"forwarded_header"`
	// Headers are the rate-limit header forms of responses: ietf (default:
	// RateLimit and RateLimit-Policy), legacy (RateLimit-Limit,
	// -Remaining, -Reset), x (X-RateLimit-*), or off alone.
	Headers []string `yaml:"headers"`
	// Upstream bounds the gateway's connections to upstreams.
	Upstream Upstream `yaml:"upstream"`
}

// Upstream holds the timeouts of the gateway's connections to upstreams.
// Zero (unset) takes package gateway's default, given with each field.
type Upstream struct {
	// DialTimeout bounds opening a TCP connection. Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TLSHandshakeTimeout bounds the TLS handshake with an https upstream.
	// Default 5s.
	TLSHandshakeTimeout time.Duration `yaml:"tls_handshake_timeout"`
	// ResponseHeaderTimeout bounds the wait for an upstream's response
	// header once the request is sent; past it the client gets 504. The
	// body may then stream for as long as it takes. Default 30s.
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`
	// IdleTimeout closes keep-alive connections to upstreams idle this
	// long. Default 90s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// Defaults.
const (
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultGRPCAddr          = "127.0.0.1:8081"
	DefaultAdminAddr         = "127.0.0.1:8082"
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultStorePrefix       = "sluice"
	DefaultStoreTimeout      = 100 * time.Millisecond
	DefaultMaxKeys           = 1 << 20
	DefaultBlockCacheSize    = 100_000
	DefaultDatabase          = "sluice.db"
	DefaultCacheTTL          = 60 * time.Second
	DefaultShutdownTimeout   = 15 * time.Second
	DefaultIPv6Prefix        = 64
)

// Default returns the configuration `sluice serve` runs with when no file
// is given: loopback listeners, counters in memory, rules in ./sluice.db.
func Default() *Config {
	return &Config{
		HTTP: HTTP{
			Addr:              DefaultHTTPAddr,
			ReadHeaderTimeout: DefaultReadHeaderTimeout,
			ReadTimeout:       DefaultReadTimeout,
			WriteTimeout:      DefaultWriteTimeout,
			IdleTimeout:       DefaultIdleTimeout,
			MaxHeaderBytes:    DefaultMaxHeaderBytes,
		},
		GRPC:  GRPC{Addr: DefaultGRPCAddr},
		Admin: Admin{Addr: DefaultAdminAddr},
		Store: Store{
			Prefix:         DefaultStorePrefix,
			Timeout:        DefaultStoreTimeout,
			OnError:        OnErrorOpen,
			MaxKeys:        DefaultMaxKeys,
			BlockCacheSize: DefaultBlockCacheSize,
		},
		Rules:           Rules{Database: DefaultDatabase, CacheTTL: DefaultCacheTTL},
		Log:             Log{Level: "info", Format: "text"},
		ShutdownTimeout: DefaultShutdownTimeout,
		Gateway:         Gateway{IPv6Prefix: DefaultIPv6Prefix},
	}
}

// StoreType returns Store.Type, or the type it defaults to: redis when a
// URL or Cluster is set, memory otherwise.
func (s Store) StoreType() string {
	switch {
	case s.Type != "":
		return s.Type
	case s.URL != "" || len(s.Cluster) > 0:
		return StoreRedis
	}
	return StoreMemory
}

// RedisURL returns the Redis URL the store connects to: URL, or a
// redis+cluster:// URL of the Cluster nodes.
func (s Store) RedisURL() string {
	if s.URL == "" && len(s.Cluster) > 0 {
		return "redis+cluster://" + strings.Join(s.Cluster, ",")
	}
	return s.URL
}

// Migrate reports whether serve migrates the rules database on start:
// MigrateOnStart when set, else true for SQLite and false for PostgreSQL.
func (r Rules) Migrate(postgres bool) bool {
	if r.MigrateOnStart != nil {
		return *r.MigrateOnStart
	}
	return !postgres
}

// FallbackRules returns Fallback as the rules of rules.ResolverConfig: one
// user_id "*" rule (nil when Fallback is empty). A fallback's window is a
// whole number of seconds; a quota counts its periods in the limit's time
// zone (tz=, UTC by default), which becomes the rule's TimeZone.
func (r Rules) FallbackRules() ([]rules.Rule, error) {
	if r.Fallback == "" {
		return nil, nil
	}
	l, err := sluice.ParseLimit(r.Fallback)
	if err != nil {
		return nil, err
	}
	rule := rules.Rule{
		KeyType: rules.KeyUserID, KeyValue: "*", Limit: l.Requests, Algorithm: l.Algorithm.String(),
		Burst: l.Burst, Enabled: true, Description: "rules.fallback of the configuration",
	}
	if l.Location != nil {
		rule.TimeZone = l.Location.String()
	}
	switch {
	case l.Algorithm == sluice.Quota:
		rule.WindowSeconds = map[algorithm.Period]int64{
			algorithm.Day: rules.QuotaDaySeconds, algorithm.Week: rules.QuotaWeekSeconds, algorithm.Month: rules.QuotaMonthSeconds,
		}[l.Period]
	case l.Window%time.Second != 0:
		return nil, fmt.Errorf("a fallback's window is a whole number of seconds, not %s", l.Window)
	default:
		rule.WindowSeconds = int64(l.Window / time.Second)
	}
	if err := rule.Validate(); err != nil {
		return nil, err
	}
	return []rules.Rule{rule}, nil
}
