#!/usr/bin/env bash
# Rotation benchmark (issue 4): rotate 1,000 due tokens spread over 50
# repositories with the real tokenward binary against the fake GitHub, with
# 20 ms added to every request and pacing off, then 10,000 tokens without
# latency to compare peak memory. Prints, per case:
#   requests/token  GitHub requests per rotated token (goal <= 1.05)
#   wall/ideal      wall time / (requests x latency) (goal <= 1.10)
#   peak-MiB        peak RSS of the tokenward process (goal < 100; 10,000
#                   tokens well under ten times 1,000)
# Takes about three minutes; most of it is setting up 11,000 tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'BenchmarkRotate' -benchtime 1x -timeout 30m ./action | grep -E '^(Benchmark|ok|FAIL)'
