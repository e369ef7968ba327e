#!/usr/bin/env bash
# Runs every test of Sluice: gofmt, go vet and staticcheck (on the module and
# the bench module), and go test -race on the module, against real services.
# It uses the Redis on 127.0.0.1:6379 and the PostgreSQL on 127.0.0.1:5432
# when they answer, and otherwise installs (apt-get) and starts them on
# loopback. It starts a 3-master Redis Cluster on ports of its own for the
# test run and stops it after.
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

ensure_redis() {
	if [ -n "${SLUICE_REDIS_ADDR:-}" ]; then return; fi # the tests use that one
	if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then return; fi
	if ! command -v redis-server >/dev/null; then
		say "installing redis-server"
		as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
	fi
	say "starting Redis on 127.0.0.1:6379"
	redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
		--dir "$(mktemp -d)" --logfile "$(mktemp)"
	for _ in $(seq 50); do redis-cli -p 6379 ping 2>/dev/null | grep -q PONG && return; sleep 0.1; done
	echo "Redis did not start" >&2; exit 1
}

ensure_postgres() {
	if [ -n "${SLUICE_POSTGRES_URL:-}" ]; then return; fi # the tests use that one
	if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then return; fi
	if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
		say "installing postgresql"
		as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	fi
	say "starting PostgreSQL on 127.0.0.1:5432"
	version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
	if [ -n "$version" ]; then
		as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
	fi
	for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && break; sleep 0.1; done
	pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { echo "PostgreSQL did not start" >&2; exit 1; }
	# A role with a password, which Debian's default pg_hba.conf (scram-sha-256 on
	# loopback) accepts, owning the database the tests use; the tests reach it
	# through SLUICE_POSTGRES_URL.
	as_root su postgres -c "psql -qc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sluice_test') THEN CREATE ROLE sluice_test LOGIN PASSWORD 'sluice_test'; END IF; END\\\$\\\$\""
	as_root su postgres -c "createdb -O sluice_test test" 2>/dev/null || true
	as_root su postgres -c "psql -qc 'GRANT CONNECT, CREATE ON DATABASE test TO sluice_test'"
	export SLUICE_POSTGRES_URL="postgres://sluice_test:sluice_test@127.0.0.1:5432/test?sslmode=disable"
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
	trap 'scripts/redis-cluster.sh stop >/dev/null 2>&1 || true' EXIT
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
