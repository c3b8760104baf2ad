#!/usr/bin/env bash
# tokenward report benchmark (issue 17): fills a SQLite store with TOKENS
# tokens (default 10,000) and EVENTS usage events (default 10,000,000)
# over 30 days, with the daily rollup (see bench/report/fill), then runs
# `tokenward report` as JSON and as Markdown to /dev/null ROUNDS times
# each and prints the median wall time, CPU time (user + system) and peak
# memory (max RSS), the process start and the store's open included. The
# target is under 10 s and 200 MiB. Needs /usr/bin/time (Debian: apt-get
# install time). The fill takes minutes; the store needs about 4 GB.
#
#   bench/report.sh
#   EVENTS=1000000 ROUNDS=3 bench/report.sh
#   STORE=/tmp/kept.db bench/report.sh      # reuse (or keep) a filled store
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-10000000}
TOKENS=${TOKENS:-10000}
ROUNDS=${ROUNDS:-5}
NOW=2026-11-27T09:00:00Z

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v /usr/bin/time >/dev/null || { echo "bench/report.sh: /usr/bin/time is not installed (apt-get install time)" >&2; exit 1; }
echo "uptime: $(uptime)"
go build -o "$work/tokenward" ./action
go build -o "$work/fill" ./bench/report/fill
store=${STORE:-$work/report.db}
if [ ! -e "$store" ]; then
  echo "== fill $TOKENS tokens, $EVENTS events"
  "$work/fill" --store "$store" --tokens "$TOKENS" --events "$EVENTS" --now "$NOW" 2>"$work/fill.log"
  tail -1 "$work/fill.log"
fi
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for format in json markdown; do
  walls=() cpus=() rss=()
  for _ in $(seq 1 "$ROUNDS"); do
    TOKENWARD_NOW=$NOW /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" \
      "$work/tokenward" report --store "$store" --format "$format" >/dev/null 2>"$work/err.txt"
    read -r e u s m <"$work/time.txt"
    walls+=("$(awk -v e="$e" 'BEGIN {printf "%d", e * 1000}')")
    cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%d", (u + s) * 1000}')")
    rss+=("$((m / 1024))")
  done
  printf '%-8s median %s ms wall (runs: %s), %s ms CPU (runs: %s), %s MiB max RSS (runs: %s)\n' "$format" \
    "$(printf '%s\n' "${walls[@]}" | median)" "${walls[*]}" "$(printf '%s\n' "${cpus[@]}" | median)" "${cpus[*]}" \
    "$(printf '%s\n' "${rss[@]}" | median)" "${rss[*]}"
done
