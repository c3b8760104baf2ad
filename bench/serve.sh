#!/usr/bin/env bash
# Runtime benchmark (issue 13): wrk on loopback against tokenward serve and
# against a bare net/http server (bench/serve/bare) that answers each request
# with the bytes tokenward serve answered it, for POST /v1/verify,
# POST /oauth2/introspect and GET /v1/authz of one valid token. Both servers
# are pinned to CPU 0 and wrk to CPU 1 (taskset); the rounds alternate
# serve, bare, serve, bare, ... in one run. Then the same store with
# 100,000 more tokens: serve's startup time and memory, and verify again.
# Prints per endpoint the median requests/s of each, their ratio (goal:
# serve >= 0.5x bare), wrk's latency percentiles of the median round, and
# every response that was not a 2xx (goal: none). Those rounds run serve
# with --usage-log=false. Then the usage log (issue 14): verify's requests/s
# with the usage log on against off, two serve processes side by side on
# CPU 0, on SQLite and on PostgreSQL (a throwaway server, on CPU 0 too, when
# its binaries are installed; PG=0 skips it), goal on >= 0.8x off, and the
# events the "on" server wrote and dropped (goal: none dropped), and the
# CPU time a verification costs each server (PostgreSQL's processes
# counted in), which a shared machine's load does not change as it
# changes requests/s.
#
#   bench/serve.sh                  # ROUNDS=5 DURATION=5s CONNECTIONS=32 EXTRA=100000
#   KEEP=1 bench/serve.sh           # keep the work folder (wrk's output, the logs)
#   USAGE_ONLY=1 bench/serve.sh     # only the usage log's rounds
#
# Needs wrk, curl and taskset, and two CPUs; PostgreSQL's initdb and pg_ctl
# for the usage log's PostgreSQL rounds. Takes about five minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
EXTRA=${EXTRA:-100000}
for p in wrk curl taskset; do
  command -v $p >/dev/null || { echo "bench/serve.sh: $p is not installed (apt-get install wrk; .ci/run installs it)" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "bench/serve.sh: needs two CPUs (servers on CPU 0, wrk on CPU 1)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
pgstop=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$pgstop" ]; then eval "$pgstop" >/dev/null 2>&1 || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
chmod 0700 "$work"

echo "== build (tokenward, bench/serve/bare, bench/serve/fill)"
go build -o "$work/tokenward" ./action
go build -o "$work/bare" ./bench/serve/bare
go build -o "$work/fill" ./bench/serve/fill

# A master key for the store's writers (fill); serve needs none.
head -c 32 /dev/urandom | base64 >"$work/master.key"
export TOKENWARD_MASTER_KEY_FILE=$work/master.key
"$work/fill" --store "$work/tokenward.db" --values "$work"
caller=$(cat "$work/caller.token")
client=$(cat "$work/client.token")

SERVE_ADDR=127.0.0.1:18420
BARE_ADDR=127.0.0.1:18421

# wait_ready URL PID: polls URL for a 200, at most 60 s; prints the seconds.
wait_ready() {
  local url=$1 pid=$2 start
  start=$(date +%s%N)
  for _ in $(seq 1 6000); do
    if curl -fs -o /dev/null "$url"; then
      printf '%d.%03d' $((($(date +%s%N) - start) / 1000000000)) $(((($(date +%s%N) - start) / 1000000) % 1000))
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "bench/serve.sh: the server behind $url exited" >&2; return 1; }
    sleep 0.01
  done
  echo "bench/serve.sh: $url not ready within 60 s" >&2
  return 1
}

serve_pid=
start_serve() {
  taskset -c 0 "$work/tokenward" serve --store "$work/tokenward.db" --listen $SERVE_ADDR --usage-log=false >"$work/serve.log" 2>&1 &
  serve_pid=$!
  pids+=("$serve_pid")
  startup=$(wait_ready "http://$SERVE_ADDR/readyz" "$serve_pid")
}
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

start_serve
echo "serve ready in ${startup}s, RSS $(rss_mib "$serve_pid") MiB (3 tokens)"
small_startup=$startup
small_rss=$(rss_mib "$serve_pid")

# The requests, as wrk Lua scripts and as curl header files: the values stay
# in files of mode 0600, out of every command line.
basic=$(printf '%s:%s' bench-caller "$caller" | base64 -w0)
printf 'Authorization: Bearer %s\nContent-Type: application/json\n' "$caller" >"$work/verify.h"
printf '{"token":"%s","scopes":["billing:read"]}' "$client" >"$work/verify.req"
printf 'Authorization: Basic %s\nContent-Type: application/x-www-form-urlencoded\n' "$basic" >"$work/introspect.h"
printf 'token=%s' "$client" >"$work/introspect.req"
printf 'Authorization: Bearer %s\n' "$client" >"$work/authz.h"
cat >"$work/verify.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $caller"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"token":"$client","scopes":["billing:read"]}'
EOF
cat >"$work/introspect.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "Basic $basic"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=$client"
EOF
cat >"$work/authz.lua" <<EOF
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer $client"
EOF
chmod 0600 "$work"/*.h "$work"/*.req "$work"/*.lua
declare -A path=([verify]=/v1/verify [introspect]=/oauth2/introspect [authz]='/v1/authz?scope=billing:read')

echo "== capture serve's answers for the bare server"
mkdir "$work/answers"
for e in verify introspect authz; do
  if [ "$e" = authz ]; then
    curl -fs -D "$work/answers/$e.headers" -o "$work/answers/$e.body" -H @"$work/$e.h" "http://$SERVE_ADDR${path[$e]}"
  else
    curl -fs -D "$work/answers/$e.headers" -o "$work/answers/$e.body" -H @"$work/$e.h" --data-binary @"$work/$e.req" "http://$SERVE_ADDR${path[$e]}"
  fi
  head -1 "$work/answers/$e.headers" | tr -d '\r' | sed "s/^/  $e: /"
done
grep -q '"valid":true' "$work/answers/verify.body" || { echo "bench/serve.sh: verify did not answer valid:"; cat "$work/answers/verify.body"; exit 1; }
grep -q '"active":true' "$work/answers/introspect.body" || { echo "bench/serve.sh: introspection did not answer active"; exit 1; }
taskset -c 0 "$work/bare" --listen $BARE_ADDR --answers "$work/answers" >"$work/bare.log" 2>&1 &
bare_pid=$!
pids+=("$bare_pid")
wait_ready "http://$BARE_ADDR/readyz" "$bare_pid" >/dev/null

# bench ENDPOINT ADDR LABEL [SCRIPT]: one wrk round; appends "label rps p50 p90 p99 non2xx errors" to $work/results.
bench() {
  local e=$1 addr=$2 label=$3 script=${4:-$work/$1.lua} out
  out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "http://$addr${path[$e]}")
  echo "$out" >>"$work/wrk.log"
  local rps p50 p90 p99 non2xx errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p90=$(awk '$1 == "90%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  errors=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' <<<"$out")
  last_requests=$(awk '/ requests in / {print $1}' <<<"$out")
  echo "$e $label $rps $p50 $p90 $p99 ${non2xx:-0} ${errors:-none}" | tee -a "$work/results" | sed 's/^/  /'
}

# report ENDPOINT CASE: the median round of each server (by requests/s),
# the ratio of the medians, and the latency percentiles of those rounds.
report() {
  local e=$1 case=$2 sv bv
  sv=$(awk -v k="$e $case/serve" '$1 " " $2 == k' "$work/results" | sort -k3,3n | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
  bv=$(awk -v k="$e $case/bare" '$1 " " $2 == k' "$work/results" | sort -k3,3n | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
  local non
  non=$(awk -v e="$e" -v c="$case/" '$1 == e && index($2, c) == 1 {s += $7} END {print s + 0}' "$work/results")
  echo "$sv|$bv|$non" | awk -F'|' '{
    split($1, s, " "); split($2, b, " ")
    printf "| %s %s | %.0f | %.0f | %.2fx | p50 %s  p90 %s  p99 %s | p50 %s  p90 %s  p99 %s | %d |\n", substr(s[2], 1, index(s[2], "/") - 1), s[1], s[3], b[3], s[3] / b[3], s[4], s[5], s[6], b[4], b[5], b[6], $3
  }'
}

: >"$work/results"
if [ -z "${USAGE_ONLY:-}" ]; then
echo "== $ROUNDS alternating rounds of $DURATION per endpoint, $CONNECTIONS connections, servers on CPU 0, wrk on CPU 1"
for e in verify introspect authz; do
  for r in $(seq 1 "$ROUNDS"); do
    bench "$e" $SERVE_ADDR small/serve
    bench "$e" $BARE_ADDR small/bare
  done
done

echo "== $EXTRA more tokens in the store"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
"$work/fill" --store "$work/tokenward.db" --extra "$EXTRA"
start_serve
big_rss=$(rss_mib "$serve_pid")
echo "serve ready in ${startup}s, RSS $big_rss MiB ($EXTRA + 3 tokens)"
for r in $(seq 1 "$ROUNDS"); do
  bench verify $SERVE_ADDR big/serve
  bench verify $BARE_ADDR big/bare
done

# A change to a big store: serve reads the whole verification data again.
# Measured from the commit of a token's deletion to /readyz reporting the
# new change counter.
seq_now() { curl -fs "http://$SERVE_ADDR/readyz" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p'; }
before=$(seq_now)
"$work/fill" --store "$work/tokenward.db" --delete bench-000001
deleted=$(date +%s%N)
reload=
for _ in $(seq 1 6000); do
  if [ "$(seq_now)" != "$before" ]; then
    reload=$(printf '%d.%03d' $((($(date +%s%N) - deleted) / 1000000000)) $(((($(date +%s%N) - deleted) / 1000000) % 1000)))
    break
  fi
  sleep 0.01
done
echo "a deletion seen by serve after ${reload:-more than 60}s ($EXTRA + 3 tokens)"
fi
kill "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true

# The usage log: two serve processes on one store, --usage-log=false and
# the default (on), alternating wrk rounds of verify against each.
OFF_ADDR=127.0.0.1:18430
ON_ADDR=127.0.0.1:18431
# metric ADDR NAME: a metric's value from /metrics.
metric() { curl -fs "http://$1/metrics" | awk -v n="$2" '$1 == n {print $2}'; }
declare -A written dropped served
# cpu_ticks PID...: the CPU time (user and system, in clock ticks) the
# processes used so far; 0 for one that is gone.
cpu_ticks() {
  local t=0 pid v
  for pid in "$@"; do
    v=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    t=$((t + ${v:-0}))
  done
  echo $t
}
# pg_pids: PostgreSQL's processes (the postmaster and its children), when
# it runs: its CPU counts as the "on" server's (the writes are the usage
# log's).
pg_pids() {
  [ -n "${pgdir:-}" ] && [ -f "$pgdir/data/postmaster.pid" ] || return 0
  local pm
  pm=$(head -1 "$pgdir/data/postmaster.pid")
  echo "$pm" $(pgrep -P "$pm")
}
# cpu_round ADDR LABEL PID: one bench round of verify, appending "label
# requests ticks" to $work/cpu: the server's CPU and PostgreSQL's in the
# round. On a shared machine the requests/s depend on what CPU 0 gave the
# server; its CPU time per request does not.
cpu_round() {
  local addr=$1 label=$2 pid=$3 before after pgs
  pgs=$(pg_pids)
  before=$(cpu_ticks "$pid" $pgs)
  bench verify "$addr" "$label" "$values/verify.lua"
  # A PostgreSQL backend that began in the round counts from 0: take each
  # pid once.
  after=$(cpu_ticks $(echo "$pid" $pgs $(pg_pids) | tr ' ' '\n' | sort -u))
  echo "$label $last_requests $((after - before))" >>"$work/cpu"
}
# usage_rounds ENGINE STORE VALUES: the rounds on one store.
usage_rounds() {
  local engine=$1 st=$2 values=$3 caller client off_pid on_pid
  caller=$(cat "$values/caller.token")
  client=$(cat "$values/client.token")
  cat >"$values/verify.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $caller"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"token":"$client","scopes":["billing:read"]}'
EOF
  chmod 0600 "$values/verify.lua"
  taskset -c 0 "$work/tokenward" serve --store "$st" --listen $OFF_ADDR --usage-log=false >"$work/usage-off-$engine.log" 2>&1 &
  off_pid=$!
  pids+=("$off_pid")
  taskset -c 0 "$work/tokenward" serve --store "$st" --listen $ON_ADDR --instance "bench-$engine" >"$work/usage-on-$engine.log" 2>&1 &
  on_pid=$!
  pids+=("$on_pid")
  wait_ready "http://$OFF_ADDR/readyz" "$off_pid" >/dev/null
  wait_ready "http://$ON_ADDR/readyz" "$on_pid" >/dev/null
  if ! curl -fs "http://$ON_ADDR/readyz" | grep -q '"usage_log":"on"'; then
    echo "bench/serve.sh: the usage log of $engine is not on: $(curl -s "http://$ON_ADDR/readyz")" >&2
    exit 1
  fi
  for _ in $(seq 1 "$ROUNDS"); do
    cpu_round $OFF_ADDR "usage-$engine/off" "$off_pid"
    cpu_round $ON_ADDR "usage-$engine/on" "$on_pid"
  done
  # Wait for the queue to drain (at most 30 s) and the last batch's flush
  # interval (1 s), then count.
  for _ in $(seq 1 300); do
    [ "$(metric $ON_ADDR tokenward_usage_queue_depth)" = "0" ] && break
    sleep 0.1
  done
  sleep 1.5
  written[$engine]=$(metric $ON_ADDR tokenward_usage_events_written_total)
  dropped[$engine]=$(metric $ON_ADDR tokenward_usage_events_dropped_total)
  served[$engine]=$(metric $ON_ADDR 'tokenward_requests_total{code="valid",endpoint="verify"}')
  echo "  $engine: the usage log wrote ${written[$engine]} events for ${served[$engine]} verifications, dropped ${dropped[$engine]}"
  kill "$off_pid" "$on_pid"
  wait "$off_pid" "$on_pid" 2>/dev/null || true
}
engines_run=(sqlite)
echo "== the usage log: $ROUNDS alternating rounds of $DURATION of verify, off and on, per store"
usage_rounds sqlite "$work/tokenward.db" "$work"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || pgbin=$(dirname "$(command -v initdb 2>/dev/null || echo /none/initdb)")
if [ "${PG:-1}" = 0 ]; then
  echo "  PostgreSQL: skipped (PG=0)"
elif [ ! -x "$pgbin/initdb" ]; then
  if [ -n "${CI:-}" ]; then echo "bench/serve.sh: PostgreSQL's initdb is not installed: it must run under CI" >&2; exit 1; fi
  echo "  PostgreSQL: skipped (initdb is not installed: apt-get install postgresql)"
else
  pgdir=$(mktemp -d)
  as=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$pgdir"; as=(runuser -u postgres --); fi
  pgstop="${as[*]} $pgbin/pg_ctl -D $pgdir/data -m immediate stop; rm -rf $pgdir"
  "${as[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >"$work/initdb.log" 2>&1
  # On CPU 0 with the servers: the usage log's writes cost what they cost.
  taskset -c 0 "${as[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -w -l "$pgdir/pg.log" \
    -o "-p 18432 -k $pgdir -c listen_addresses=127.0.0.1" start >/dev/null
  pgdsn="postgres://postgres@127.0.0.1:18432/postgres?sslmode=disable"
  mkdir -m 0700 "$work/pg"
  "$work/fill" --store "$pgdsn" --values "$work/pg"
  usage_rounds postgres "$pgdsn" "$work/pg"
  engines_run+=(postgres)
fi

if [ -z "${USAGE_ONLY:-}" ]; then
echo
echo "| case | serve req/s | bare req/s | serve / bare | serve latency | bare latency | non-2xx |"
echo "|---|---|---|---|---|---|---|"
for e in verify introspect authz; do report $e small; done
report verify big
echo
echo "| store | serve startup (to /readyz 200) | serve RSS after startup | a deletion seen after |"
echo "|---|---|---|---|"
echo "| 3 tokens | ${small_startup} s | ${small_rss} MiB | (see the gateway tests) |"
echo "| $EXTRA + 3 tokens | ${startup} s | ${big_rss} MiB | ${reload:-more than 60} s |"
fi
echo
echo "| store | usage log off req/s | on req/s | on / off (goal >= 0.8x) | off latency | on latency | events written | dropped | CPU µs a verification off | on | off / on |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
hz=$(getconf CLK_TCK)
for engine in "${engines_run[@]}"; do
  on=$(awk -v k="usage-$engine/on" '$2 == k' "$work/results" | sort -k3,3n | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
  off=$(awk -v k="usage-$engine/off" '$2 == k' "$work/results" | sort -k3,3n | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}')
  # The CPU a verification costs, all rounds of each server together.
  cpu=$(awk -v e="usage-$engine/" -v hz="$hz" 'index($1, e) == 1 {r[$1] += $2; t[$1] += $3}
    END {f = t[e "off"] / hz * 1e6 / r[e "off"]; o = t[e "on"] / hz * 1e6 / r[e "on"]; printf "%.1f|%.1f|%.2fx", f, o, f / o}' "$work/cpu")
  echo "$off|$on|${written[$engine]}|${dropped[$engine]}|$cpu" | awk -F'|' -v e="$engine" '{
    split($1, f, " "); split($2, o, " ")
    printf "| %s | %.0f | %.0f | %.2fx | p50 %s  p99 %s | p50 %s  p99 %s | %s | %s | %s | %s | %s |\n", e, f[3], o[3], o[3] / f[3], f[4], f[6], o[4], o[6], $3, $4, $5, $6, $7
  }'
done
non=$(awk '{s += $7} END {print s + 0}' "$work/results")
echo
echo "non-2xx responses in all rounds: $non"
