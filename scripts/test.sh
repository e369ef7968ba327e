#!/usr/bin/env bash
# Runs every test of Sluice: gofmt, go vet and staticcheck (on the module and
# the bench module), and go test -race on the module, against real services.
# It uses the Redis on 127.0.0.1:6379 and the PostgreSQL on 127.0.0.1:5432
# when they answer, and otherwise installs (apt-get) and starts them on
# loopback for the run. It starts a 3-master Redis Cluster on ports of its
# own for the test run. What it starts, it stops at exit.
#
#   ./scripts/test.sh                # everything
#   SLUICE_REQUIRE_SERVICES=1 ...    # a test that cannot reach a service fails instead of skipping (CI)
#   SLUICE_FUZZTIME=30s ...          # also fuzz each fuzz target for that long
#   SLUICE_REDIS_ADDR=host:port ...  # the tests' Redis (then none is started)
#   SLUICE_POSTGRES_URL=postgres://… # the tests' PostgreSQL (then none is started)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# cleanups run at exit, last registered first: the services this script started.
cleanups=()
cleanup() { for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

apt_install() {
	say "installing $*"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
	if [ -n "${SLUICE_REDIS_ADDR:-}" ]; then return; fi # the tests use that one
	if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then return; fi
	command -v redis-server >/dev/null || apt_install redis-server
	say "starting Redis on 127.0.0.1:6379"
	local dir
	dir=$(mktemp -d)
	redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
		--dir "$dir" --logfile "$dir/redis.log"
	cleanups+=("redis-cli -p 6379 shutdown nosave; rm -rf '$dir'")
	for _ in $(seq 50); do redis-cli -p 6379 ping 2>/dev/null | grep -q PONG && return; sleep 0.1; done
	echo "Redis did not start" >&2; exit 1
}

# ensure_postgres starts a throwaway PostgreSQL cluster on 127.0.0.1:5432
# when none answers there: its own data directory, trust authentication on
# loopback only, a database test owned by a role sluice_test, which the
# tests reach through SLUICE_POSTGRES_URL. It is stopped and deleted at exit.
ensure_postgres() {
	if [ -n "${SLUICE_POSTGRES_URL:-}" ]; then return; fi # the tests use that one
	if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then return; fi
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
	local bin dir as_pg
	bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	dir=$(mktemp -d)
	as_pg=""
	if [ "$(id -u)" = 0 ]; then # PostgreSQL does not run as root
		chown postgres "$dir"
		as_pg="su postgres -s /bin/sh -c"
	else
		as_pg="sh -c"
	fi
	say "starting PostgreSQL on 127.0.0.1:5432"
	$as_pg "'$bin/initdb' -D '$dir/data' -A trust -U postgres" >/dev/null
	$as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/log' -w -o \"-c listen_addresses=127.0.0.1 -p 5432 -k '$dir'\" start" >/dev/null
	cleanups+=("$as_pg \"'$bin/pg_ctl' -D '$dir/data' -m fast stop\"; rm -rf '$dir'")
	psql -h 127.0.0.1 -p 5432 -U postgres -qc "CREATE ROLE sluice_test LOGIN" postgres
	psql -h 127.0.0.1 -p 5432 -U postgres -qc "CREATE DATABASE test OWNER sluice_test" postgres
	export SLUICE_POSTGRES_URL="postgres://sluice_test@127.0.0.1:5432/test?sslmode=disable"
}

say "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

say "go vet, staticcheck"
go vet ./...
(cd bench && go vet ./...)
staticcheck="go run honnef.co/go/tools/cmd/staticcheck@v0.8.2"
$staticcheck ./...
(cd bench && $staticcheck ./...)

ensure_redis
ensure_postgres
if [ -x scripts/redis-cluster.sh ]; then
	say "starting a Redis Cluster"
	SLUICE_REDIS_CLUSTER_ADDRS=$(scripts/redis-cluster.sh start | tail -1)
	export SLUICE_REDIS_CLUSTER_ADDRS
	cleanups+=("scripts/redis-cluster.sh stop")
fi

say "go test -race"
go test -race -count=1 -timeout 20m ./...

if [ -n "${SLUICE_FUZZTIME:-}" ]; then
	say "fuzzing, $SLUICE_FUZZTIME per target"
	for pkg in $(go list ./...); do
		for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
			go test -run '^$' -fuzz "^$target\$" -fuzztime "$SLUICE_FUZZTIME" "$pkg"
		done
	done
fi

say "all tests passed"
