#!/usr/bin/env bash
# Plan benchmark (issues 3 and 18): plan N applied resources (default 1,000)
# with three providers in one run and compare their plan times:
#
#   tokens  tokenward_token resources, served by tokenward;
#   null    the same configuration, served by bench/nullprovider: a
#           terraform-plugin-framework provider with exactly tokenward's
#           schemas that does nothing, served as any framework provider is;
#   data    terraform_data resources, which Terraform serves itself.
#
# tokens/data is the goal of issue 18 (at most 3.0); tokens/null is what
# tokenward's own work costs over a bare framework provider (at most 1.0,
# since tokenward works around the framework's per-request leak that the
# null provider keeps, and answers an unchanged token's upgrade, read and
# plan without the framework: internal/pluginserver's shortcut); null/data
# is Terraform's and the framework's share.
#
# Each round plans all three, in an order that turns every round, RUNS
# rounds (default 5), and the medians are compared, so every side sees the
# same machine load. Every provider process is started through a wrapper
# (the dev_overrides folder holds a script that runs it under GNU time), so
# each process's peak resident memory is exact; a plan's peak is its
# largest process's. TW_GOGC sets GOGC for tokenward's processes only
# (Terraform keeps its own), to measure collector settings: with several
# values (TW_GOGC="100 400 off"), each round plans tokenward once with each.
#
# TW_GOMEMLIMIT sets GOMEMLIMIT for tokenward's processes only (one value
# per run), to measure the soft memory limit main.go sets.
#
# SIDES="tokens" plans tokenward alone (for the peak of a large N).
#
# SEED=50 reaches N applied tokens faster: it applies 50 tokens for real,
# then bench/planseed copies bench-0 to the other N-50 in the store's rows
# and in terraform.tfstate (the registry's fsync per change makes a real
# apply of 10,000 tokens take hours on a loaded machine). The null and data
# sides still apply for real. Every measured plan runs with
# -detailed-exitcode and the script stops unless it is empty, so the copies
# are checked to plan as applied, unchanged tokens.
#
# Nothing reaches a network: the providers are used through dev_overrides.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-1000}
runs=${RUNS:-5}
tf=$("$root/scripts/terraform-path")
[ -x /usr/bin/time ] || { echo "bench/plan.sh needs GNU time (/usr/bin/time, Debian package time)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building the providers..." >&2
mkdir -p "$work/bin" "$work/plugins/tokens" "$work/plugins/null"
# Built as a release is (.goreleaser.yml): without the symbol table and
# DWARF, which would otherwise be part of the measured resident memory
# (about 9 MiB of the provider's file-backed pages), and without cgo, so
# statically linked (a cgo build maps libc and the dynamic loader too,
# about 1.5 MiB more).
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/bin/tokens" "$root"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/bin/null" "$root/bench/nullprovider"
seed=${SEED:-}
if [ -n "$seed" ]; then
  [[ $seed =~ ^[1-9][0-9]*$ ]] && [ "$seed" -lt "$n" ] || { echo "SEED must be a count of tokens from 1 to N-1 (N=$n), not \"$seed\"" >&2; exit 1; }
  go build -o "$work/bin/planseed" "$root/bench/planseed"
fi
# wrap NAME: Terraform starts the wrapper, which records the process's peak
# RSS in KiB, one line per process, in $work/rss.NAME.
# The GOGC of the plan in progress, if any, is in $work/gogc.NAME.
wrap() {
  cat >"$work/plugins/$1/terraform-provider-tokenward" <<SH
#!/bin/sh
echo started >>"$work/started.$1"
if [ -s "$work/gogc.$1" ]; then GOGC=\$(cat "$work/gogc.$1"); export GOGC; fi
if [ "$1" = tokens ] && [ -n "${TW_GOMEMLIMIT:-}" ]; then GOMEMLIMIT=${TW_GOMEMLIMIT:-}; export GOMEMLIMIT; fi
exec /usr/bin/time -a -o "$work/rss.$1" -f %M "$work/bin/$1" "\$@"
SH
  chmod +x "$work/plugins/$1/terraform-provider-tokenward"
}
wrap tokens
wrap null
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "tokenward/tokenward" = "$work/plugins/tokens"
    "bench/tokenward"     = "$work/plugins/null"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export TOKENWARD_STORE="$work/tokenward.db"
TOKENWARD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export TOKENWARD_MASTER_KEY

tokens_config() { # source [count, default N]
  cat <<HCL
terraform {
  required_providers {
    tokenward = { source = "$1" }
  }
}
resource "tokenward_scope" "read" {
  name = "bench:read"
}
resource "tokenward_token" "t" {
  count         = ${2:-$n}
  name          = "bench-\${count.index}"
  owner         = "bench"
  scopes        = [tokenward_scope.read.name]
  ttl           = "90d"
  rotate_before = "14d"
  overlap       = "1d"
  files         = [{ path = "\${path.module}/out/\${count.index}.env", key = "TOKEN" }]
}
HCL
}
mkdir -p "$work/tokens" "$work/null" "$work/data"
tokens_config tokenward/tokenward >"$work/tokens/main.tf"
tokens_config bench/tokenward >"$work/null/main.tf"
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

sides=${SIDES:-tokens null data}
for d in $sides; do
  if [ "$d" = tokens ] && [ -n "$seed" ]; then
    echo "applying $seed resources in $d, then copying them to $n (once, before measuring)..." >&2
    tokens_config tokenward/tokenward "$seed" >"$work/tokens/main.tf"
  else
    echo "applying $n resources in $d (once, before measuring)..." >&2
  fi
  (cd "$work/$d" && "$tf" apply -auto-approve -input=false -no-color -parallelism=10 >"$work/$d.apply.log" 2>&1) ||
    { tail -30 "$work/$d.apply.log"; exit 1; }
  if [ "$d" = tokens ] && [ -n "$seed" ]; then
    "$work/bin/planseed" --store "$TOKENWARD_STORE" --state "$work/tokens/terraform.tfstate" --from "$seed" --n "$n"
    tokens_config tokenward/tokenward >"$work/tokens/main.tf"
  fi
done

# plan SIDE prints the plan's seconds, then its providers' peak RSS in KiB
# (0 for terraform_data, served by Terraform itself). A side is a folder,
# and for tokens maybe @GOGC.
plan() {
  local start end peak=0 deadline
  set -- "${1%@*}" "$([[ $1 == *@* ]] && echo "${1#*@}")"
  rm -f "$work/rss.$1" "$work/started.$1"
  printf '%s' "$2" >"$work/gogc.$1"
  start=$(date +%s.%N)
  (cd "$work/$1" && "$tf" plan -input=false -no-color -detailed-exitcode >"$work/$1.plan.log" 2>&1) ||
    { echo "plan in $1 was not empty or failed:" >&2; tail -30 "$work/$1.plan.log" >&2; exit 1; }
  end=$(date +%s.%N)
  if [ "$1" != data ]; then
    # GNU time writes when its process has exited; Terraform may return
    # a moment before.
    deadline=$((SECONDS + 10))
    while [ "$(wc -l <"$work/rss.$1" 2>/dev/null || echo 0)" -lt "$(wc -l <"$work/started.$1")" ] && [ $SECONDS -lt $deadline ]; do
      sleep 0.1
    done
    peak=$(sort -n "$work/rss.$1" | tail -1)
  fi
  awk -v a="$start" -v b="$end" -v p="$peak" 'BEGIN { printf "%.3f %d\n", b - a, p }'
}

declare -A secs peaks
order=()
for g in ${TW_GOGC:-}; do order+=("tokens@$g"); done
[ ${#order[@]} -gt 0 ] || order=(tokens)
for d in null data; do [[ " $sides " == *" $d "* ]] && order+=("$d"); done
for i in $(seq "$runs"); do
  line="round $i/$runs:"
  for k in $(seq 0 $((${#order[@]} - 1))); do
    d=${order[$(((i + k) % ${#order[@]}))]}
    read -r s p < <(plan "$d")
    secs[$d]+="$s "
    peaks[$d]+="$p "
    line+=" $d ${s}s"
    [ "$d" = data ] || line+=" ($((p / 1024)) MiB)"
  done
  echo "$line" >&2
done
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mn=$(median "${secs[null]:-0}") md=$(median "${secs[data]:-0}") pn=$(median "${peaks[null]:-0}")
if [ "$sides" = "tokens null data" ]; then
  printf 'plan of %d resources, median of %d alternating rounds: do-nothing framework provider %.2fs (peak %d MiB), terraform_data %.2fs; do-nothing/terraform_data %s\n' \
    "$n" "$runs" "$mn" "$((pn / 1024))" "$md" "$(ratio "$mn" "$md")"
else
  ratio() { echo -; }
  printf 'plan of %d resources, median of %d rounds\n' "$n" "$runs"
fi
for d in "${order[@]}"; do
  [ "$d" = null ] || [ "$d" = data ] && continue
  mt=$(median "${secs[$d]}") pt=$(median "${peaks[$d]}")
  printf 'tokenward%s: %.2fs, tokenward/terraform_data %s (goal <= 3.0), tokenward/do-nothing %s (goal <= 1.0), provider peak RSS %d MiB (median of the rounds, largest process of each plan)\n' \
    "$([[ $d == *@* ]] && echo " GOGC=${d#*@}")" "$mt" "$(ratio "$mt" "$md")" "$(ratio "$mt" "$mn")" "$((pt / 1024))"
done
