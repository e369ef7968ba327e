package redis

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// urlForms is quoted in every URL error, so a user sees what is accepted.
const urlForms = `accepted: redis://[user:pass@]host:port[/db], rediss://… (TLS), ` +
	`redis-sentinel://[user:pass@]host:port[,host:port…]/master[/db][?sentinel_username=…&sentinel_password=…] (rediss-sentinel:// for TLS), ` +
	`redis+cluster://[user:pass@]host:port[,host:port…] (rediss+cluster:// for TLS)`

// ParseURL returns the rueidis options of a Redis deployment written as a URL:
//
//	redis://[user:pass@]host:port[/db]            one Redis (default port 6379, db 0)
//	rediss://[user:pass@]host:port[/db]           the same over TLS
//	redis-sentinel://[user:pass@]host:port[,host:port…]/master[/db]
//	                                              the master named master, found through
//	                                              these Sentinels (default port 26379);
//	                                              user:pass authenticate to the master, the
//	                                              query parameters sentinel_username and
//	                                              sentinel_password to the Sentinels
//	rediss-sentinel://…                           the same over TLS
//	redis+cluster://[user:pass@]host:port[,host:port…]
//	                                              a Redis Cluster, discovered from these nodes
//	rediss+cluster://…                            the same over TLS
//
// A user name or password with reserved characters is percent-encoded.
// Errors wrap ErrInvalidConfig and say what is accepted.
func ParseURL(raw string) (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	fail := func(format string, args ...any) (rueidis.ClientOption, error) {
		return rueidis.ClientOption{}, fmt.Errorf("%w: URL %s: %s; %s", ErrInvalidConfig, redact(raw), fmt.Sprintf(format, args...), urlForms)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return fail("missing scheme")
	}
	var useTLS, sentinel, cluster bool
	switch scheme {
	case "redis":
	case "rediss":
		useTLS = true
	case "redis-sentinel":
		sentinel = true
	case "rediss-sentinel":
		sentinel, useTLS = true, true
	case "redis+cluster":
		cluster = true
	case "rediss+cluster":
		cluster, useTLS = true, true
	default:
		return fail("unknown scheme %q", scheme)
	}
	// The host list is not a valid URL host: cut it out and let net/url
	// parse the rest with a placeholder host.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	hosts := authority
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, hosts = authority[:at+1], authority[at+1:]
	}
	u, err := url.Parse("redis://" + userinfo + "placeholder" + rest[end:])
	if err != nil {
		return fail("%v", err)
	}
	if u.Fragment != "" {
		return fail("a fragment (#…) means nothing here")
	}
	defaultPort := "6379"
	if sentinel {
		defaultPort = "26379"
	}
	var addrs []string
	for _, h := range strings.Split(hosts, ",") {
		if h == "" {
			return fail("empty host")
		}
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h = net.JoinHostPort(strings.Trim(h, "[]"), defaultPort)
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return fail("bad host %q (want host:port)", h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fail("bad port %q", port)
		}
		addrs = append(addrs, h)
	}
	if len(addrs) > 1 && !sentinel && !cluster {
		return fail("several hosts: use redis+cluster:// for a Cluster or redis-sentinel:// for Sentinel")
	}
	opt.InitAddress = addrs
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if parts[0] == "" {
		parts = parts[:0]
	}
	if sentinel {
		if len(parts) == 0 {
			return fail("Sentinel needs the master name as the path: redis-sentinel://host:26379/mymaster")
		}
		opt.Sentinel.MasterSet, parts = parts[0], parts[1:]
	}
	switch {
	case len(parts) > 1:
		return fail("path %q has too many parts", u.Path)
	case len(parts) == 1:
		db, err := strconv.Atoi(parts[0])
		if err != nil || db < 0 {
			return fail("database %q is not a number", parts[0])
		}
		if cluster && db != 0 {
			return fail("a Cluster has only database 0")
		}
		opt.SelectDB = db
	}
	for name, vals := range u.Query() {
		switch {
		case sentinel && name == "sentinel_username":
			opt.Sentinel.Username = vals[0]
		case sentinel && name == "sentinel_password":
			opt.Sentinel.Password = vals[0]
		default:
			return fail("unknown query parameter %q (accepted: sentinel_username, sentinel_password for Sentinel)", name)
		}
	}
	if useTLS {
		host, _, _ := net.SplitHostPort(addrs[0])
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if !cluster && !sentinel {
			opt.TLSConfig.ServerName = host
		}
		if sentinel {
			opt.Sentinel.TLSConfig = opt.TLSConfig
		}
	}
	opt.ForceSingleClient = !sentinel && !cluster
	return opt, nil
}

// redact hides the password of a URL for error messages.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return strconv.Quote(raw)
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	q := strconv.Quote(scheme + "://" + rest)
	if i := strings.Index(q, "sentinel_password="); i >= 0 {
		q = q[:i] + "sentinel_password=xxxxx\""
	}
	return q
}
