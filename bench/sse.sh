#!/usr/bin/env bash
# Event-stream benchmark (issue 15): one server process holding STREAMS
# configuration event streams (one per user) on a SQLite store, opened over
# loopback by the benchmark's own process. Prints the server's RSS with no
# stream and with them open (goal: within 100 MiB), the time a default's
# change takes to reach every stream over ROUNDS rounds, and the shutdown
# time with the streams open.
#
#   bench/sse.sh                  # STREAMS=1000 ROUNDS=5
#
# Takes about half a minute; needs nothing beyond Go.
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${STREAMS:-1000}
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/sse" ./bench/sse
ulimit -n "$(( STREAMS * 2 + 256 ))" 2>/dev/null || true
"$work/sse" -streams "$STREAMS" -rounds "$ROUNDS"
