#!/usr/bin/env bash
# Usage-log benchmark (issue 14): fills a store with EVENTS usage events
# (default 10,000,000, over the last 7 days and 1,000 tokens; see
# bench/usage/fill) on SQLite and on PostgreSQL, then times what an
# operator runs: `tokenward usage --since 24h --token tok-7` (about 1,430
# events of the 10 million), as JSON to /dev/null, and the same with
# --summary. Each is run ROUNDS times; the median wall time and CPU time
# (user + system) are printed, with the process start and the store's
# open included; then the query alone, in one process (bench/usage/fill
# --time-query), and the process start alone (tokenward version). Needs
# /usr/bin/time (Debian: apt-get install time).
#
#   bench/usage.sh                      # EVENTS=10000000 ROUNDS=5, both engines
#   ENGINES=sqlite EVENTS=1000000 bench/usage.sh
#   KEEP=1 bench/usage.sh               # keep the work folder (stores, logs)
#
# PostgreSQL: the server TOKENWARD_TEST_POSTGRES names (its role must create
# databases), else one started here with initdb and pg_ctl on a free port
# (as the postgres user when run as root). The fill takes a few minutes
# per engine; the stores need about 4 GB (SQLite) and 5 GB (PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-10000000}
ROUNDS=${ROUNDS:-5}
ENGINES=${ENGINES:-sqlite postgres}

work=$(mktemp -d)
pgdata=
cleanup() {
  if [ -n "$pgdata" ]; then pgctl -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
chmod 0755 "$work"

command -v /usr/bin/time >/dev/null || { echo "bench/usage.sh: /usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }
echo "uptime: $(uptime)"
echo "== build (tokenward, bench/usage/fill)"
go build -o "$work/tokenward" ./action
go build -o "$work/fill" ./bench/usage/fill

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
  pgctl -D "$pgdata" -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_wal_size=4GB -c shared_buffers=256MB" \
    -l "$work/pg.log" -w start >/dev/null
  pgadmin="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

# median: the median of the numbers on stdin.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_ms CMD...: runs CMD with its output discarded, prints milliseconds.
time_ms() {
  local s e
  s=$(date +%s%N)
  "$@" >/dev/null
  e=$(date +%s%N)
  echo $(((e - s) / 1000000))
}

# cpu_ms CMD...: runs CMD with its output discarded, prints the CPU time
# (user + system) it took in milliseconds: what the wall time would be on
# an idle machine, less waiting for the disk.
cpu_ms() {
  /usr/bin/time -f '%U %S' -o "$work/time.txt" "$@" >/dev/null
  awk '{printf "%d\n", ($1 + $2) * 1000}' "$work/time.txt"
}

for engine in $ENGINES; do
  case $engine in
    sqlite) dsn=$work/usage.db ;;
    postgres)
      start_postgres
      db=tw_usage_bench_$$
      psql "$pgadmin" -qc "CREATE DATABASE $db" >/dev/null
      dsn=${pgadmin%/*}/$db?sslmode=disable
      ;;
    *) echo "bench/usage.sh: unknown engine $engine" >&2; exit 1 ;;
  esac
  echo "== $engine: fill $EVENTS events"
  fill_start=$(date +%s)
  "$work/fill" --store "$dsn" --events "$EVENTS" 2>"$work/fill-$engine.log"
  echo "filled in $(($(date +%s) - fill_start)) s"
  n=$("$work/tokenward" usage --store "$dsn" --since 24h --token tok-7 --format csv | tail -n +2 | wc -l)
  echo "tokenward usage --since 24h --token tok-7: $n events"
  for what in list summary; do
    args=(usage --store "$dsn" --since 24h --token tok-7 --format json)
    [ $what = summary ] && args+=(--summary)
    times=() cpus=()
    for _ in $(seq 1 "$ROUNDS"); do
      times+=("$(time_ms "$work/tokenward" "${args[@]}")")
      cpus+=("$(cpu_ms "$work/tokenward" "${args[@]}")")
    done
    printf '%s %-8s median %s ms wall (runs: %s), %s ms CPU (runs: %s)\n' "$engine" "$what" \
      "$(printf '%s\n' "${times[@]}" | median)" "${times[*]}" "$(printf '%s\n' "${cpus[@]}" | median)" "${cpus[*]}"
  done
  "$work/fill" --store "$dsn" --time-query tok-7 | sed "s/^/$engine /"
  printf '%s process start alone (tokenward version): median %s ms\n' "$engine" \
    "$(for _ in $(seq 1 "$ROUNDS"); do time_ms "$work/tokenward" version; done | median)"
  if [ "$engine" = postgres ] && [ -z "${TOKENWARD_TEST_POSTGRES:-}" ]; then
    psql "$dsn" -Atc "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT seq FROM usage_events WHERE token_name = 'tok-7' AND at >= $(( ($(date +%s) - 86400) * 1000000 )) ORDER BY at DESC, seq DESC" >"$work/explain.txt"
    grep -E 'Execution Time|Index' "$work/explain.txt" | head -3
  fi
done
