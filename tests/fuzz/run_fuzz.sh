#!/bin/sh
# Runs one libFuzzer target for a fixed number of inputs from a fixed seed, on a fresh corpus
# made of the seed files given (so a ctest run is repeatable and leaves nothing behind).
# Usage: run_fuzz.sh BINARY RUNS WORKDIR [-dict=FILE] [SEED_FILE...]
# A finding makes libFuzzer exit non-zero and leaves the input in WORKDIR/crash-*.
set -eu
bin=$1 runs=$2 work=$3
shift 3
dict=
case "${1:-}" in -dict=*) dict=$1; shift ;; esac
rm -rf "$work"
mkdir -p "$work/corpus"
for s in "$@"; do cp "$s" "$work/corpus/"; done
cd "$work"
exec "$bin" -seed=1 -runs="$runs" -max_len=65536 -print_final_stats=1 $dict corpus
