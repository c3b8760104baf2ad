#!/usr/bin/env bash
# Report benchmark (issue 17): `tokenward report` over N tokens (default
# 10,000) and EVENTS usage events (default 10,000,000) over the last 30
# days must take under 10 seconds and 200 MiB. bench/reportseed creates
# the store: the tokens in one transaction of the store package, then the
# events through AppendUsage in batches of 1,000 (the server's hold up
# to 5,000), so the daily rollup is built as in production. Then it measures,
# with /usr/bin/time (wall time and peak RSS),
#
#   tokenward report --format json --store STORE
#
# or, while this tokenward has no report command, what the report reads of
# the usage log in one process (bench/reportseed --measure: UsageDays and
# ScopeUses over 30 days, LastUsed of every token), and says which it
# measured. Needs /usr/bin/time (Debian: apt-get install time).
#
#   bench/report.sh                            # N=10000 EVENTS=10000000, SQLite
#   N=1000 EVENTS=1000000 bench/report.sh
#   ENGINE=postgres bench/report.sh            # or ENGINE="sqlite postgres"
#   ROUNDS=3 KEEP=1 bench/report.sh            # runs of the measure; keep the work folder
#
# PostgreSQL: the server TOKENWARD_TEST_POSTGRES names (its role must create
# databases), else one started here with initdb and pg_ctl on a free port
# (as the postgres user when run as root). The seed of 10 million events
# takes tens of minutes (a transaction a batch); the SQLite store needs
# about 5 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
EVENTS=${EVENTS:-10000000}
ENGINE=${ENGINE:-sqlite}
ROUNDS=${ROUNDS:-3}

work=$(mktemp -d)
pgdata=
cleanup() {
  if [ -n "$pgdata" ]; then pgctl -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
chmod 0755 "$work"

command -v /usr/bin/time >/dev/null || { echo "bench/report.sh: /usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }
echo "uptime: $(uptime)"
echo "== build (tokenward, bench/reportseed)"
go build -o "$work/tokenward" ./action
go build -o "$work/reportseed" ./bench/reportseed

# pg BIN ARGS: a PostgreSQL program, as the postgres user when root.
pg() {
  local bin=$1; shift
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pgbin/$bin" "$@"; else "$pgbin/$bin" "$@"; fi
}
pgctl() { pg pg_ctl "$@"; }

start_postgres() {
  if [ -n "${TOKENWARD_TEST_POSTGRES:-}" ]; then
    pgadmin=$TOKENWARD_TEST_POSTGRES
    return
  fi
  pgbin=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
  pgdata=$work/pgdata
  mkdir -p "$pgdata"
  [ "$(id -u)" = 0 ] && chown postgres "$work" "$pgdata"
  pg initdb -D "$pgdata" -U postgres -A trust -E UTF8 --no-sync >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pgctl -D "$pgdata" -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_wal_size=4GB -c shared_buffers=256MB" \
    -l "$work/pg.log" -w start >/dev/null
  pgadmin="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

# The command measured: the report, or its reads of the usage log.
help=$("$work/tokenward" report --help 2>&1 || true)
if grep -q 'unknown command "report"' <<<"$help"; then
  what="bench/reportseed --measure (this tokenward has no report command yet): UsageDays and ScopeUses over 30 days, LastUsed of each of $N tokens"
  report=false
else
  what="tokenward report --format json"
  report=true
fi

for engine in $ENGINE; do
  case $engine in
    sqlite) dsn=$work/report.db ;;
    postgres)
      start_postgres
      db=tw_report_bench_$$
      psql "$pgadmin" -qc "CREATE DATABASE $db" >/dev/null
      dsn=${pgadmin%/*}/$db?sslmode=disable
      ;;
    *) echo "bench/report.sh: unknown engine $engine (sqlite or postgres)" >&2; exit 1 ;;
  esac
  echo "== $engine: seed $N tokens and $EVENTS events over 30 days"
  seed_start=$(date +%s)
  "$work/reportseed" --store "$dsn" --tokens "$N" --events "$EVENTS" --days 30 2>&1 | tee "$work/seed-$engine.log" | grep -v ' of .* events ('
  echo "$engine seeded in $(($(date +%s) - seed_start)) s"
  if [ "$engine" = sqlite ]; then
    echo "$engine store: $(du -h "$dsn" | cut -f1)"
  else
    echo "$engine rollup rows: $(psql "$dsn" -Atc 'SELECT COUNT(*) FROM usage_daily')"
  fi
  echo "== $engine: measure $what, $ROUNDS runs"
  if $report; then
    cmd=("$work/tokenward" report --format json --store "$dsn")
  else
    cmd=("$work/reportseed" --store "$dsn" --tokens "$N" --days 30 --measure)
  fi
  for i in $(seq 1 "$ROUNDS"); do
    /usr/bin/time -f '%e s %M KiB' -o "$work/time.txt" "${cmd[@]}" >"$work/measure.txt" 2>"$work/measure.err" || {
      echo "the measured command failed ($(tail -1 "$work/time.txt")):" >&2; cat "$work/measure.err" >&2; exit 1; }
    printf '%s run %d: %s (wall, peak RSS); %s\n' "$engine" "$i" "$(tail -1 "$work/time.txt")" \
      "$(if $report; then echo "$(wc -c <"$work/measure.txt") bytes of JSON"; else cat "$work/measure.txt"; fi)"
done
done
