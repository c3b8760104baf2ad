#!/usr/bin/env bash
# Plan benchmark (issue 3): plan 1,000 applied tokenward_token resources and
# 1,000 applied terraform_data resources in one run, and print the ratio of
# their plan times (goal: at most 2.5; a provider whose resources do nothing
# measures about 2.1, the floor of the plugin round trips) and the provider
# process's peak memory during its plan (goal: under 150 MiB).
#
# Plans run alternately, RUNS times each (default 3), and the medians are
# compared, so both sides see the same machine load. Nothing reaches a
# network: the provider is used through a dev_overrides CLI configuration.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-1000}
runs=${RUNS:-3}
tf=$("$root/scripts/terraform-path")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building the provider..." >&2
go build -o "$work/plugins/terraform-provider-tokenward" "$root"
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "tokenward/tokenward" = "$work/plugins"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export TOKENWARD_STORE="$work/tokenward.db"
TOKENWARD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export TOKENWARD_MASTER_KEY

mkdir -p "$work/tokens" "$work/data"
cat >"$work/tokens/main.tf" <<HCL
terraform {
  required_providers {
    tokenward = { source = "tokenward/tokenward" }
  }
}
resource "tokenward_scope" "read" {
  name = "bench:read"
}
resource "tokenward_token" "t" {
  count         = $n
  name          = "bench-\${count.index}"
  owner         = "bench"
  scopes        = [tokenward_scope.read.name]
  ttl           = "90d"
  rotate_before = "14d"
  overlap       = "1d"
  files         = [{ path = "\${path.module}/out/\${count.index}.env", key = "TOKEN" }]
}
HCL
cat >"$work/data/main.tf" <<HCL
resource "terraform_data" "t" {
  count = $n
  input = {
    name   = "bench-\${count.index}"
    owner  = "bench"
    scopes = ["bench:read"]
    ttl    = "90d"
  }
}
HCL

for d in tokens data; do
  echo "applying $n resources in $d (once, before measuring)..." >&2
  (cd "$work/$d" && "$tf" apply -auto-approve -input=false -no-color >"$work/$d.apply.log" 2>&1) ||
    { tail -30 "$work/$d.apply.log"; exit 1; }
done

# peak_of watches the provider process while a plan runs and prints its
# peak resident memory in KiB (VmHWM), read until the process exits.
peak_of() {
  local peak=0 pid hwm
  while [ -e "$work/planning" ]; do
    for pid in $(pgrep -f "$work/plugins/terraform-provider-tokenward" || true); do
      hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
    done
    sleep 0.05
  done
  echo "$peak"
}

plan() { # dir -> seconds
  local start end
  start=$(date +%s.%N)
  (cd "$work/$1" && "$tf" plan -input=false -no-color -detailed-exitcode >"$work/$1.plan.log" 2>&1) ||
    { echo "plan in $1 was not empty or failed:" >&2; tail -30 "$work/$1.plan.log" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

tok=() dat=() peaks=()
for i in $(seq "$runs"); do
  touch "$work/planning"
  peak_of >"$work/peak" &
  watcher=$!
  tok+=("$(plan tokens)")
  rm -f "$work/planning"
  wait "$watcher"
  peaks+=("$(cat "$work/peak")")
  dat+=("$(plan data)")
  echo "run $i/$runs: tokenward_token ${tok[-1]}s, terraform_data ${dat[-1]}s, provider peak $((${peaks[-1]} / 1024)) MiB" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mt=$(median "${tok[@]}") md=$(median "${dat[@]}") mp=$(median "${peaks[@]}")
printf 'plan of %d resources (median of %d): tokenward_token %.2fs, terraform_data %.2fs, ratio %.2f; provider peak memory %d MiB\n' \
  "$n" "$runs" "$mt" "$md" "$(awk -v a="$mt" -v b="$md" 'BEGIN { print a / b }')" "$((mp / 1024))"
