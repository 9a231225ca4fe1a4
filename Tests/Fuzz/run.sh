#!/usr/bin/env bash
# A bounded libFuzzer pass over what apitap reads from outside: stitch's NDJSON (REST execution logs, HTTP API access
# logs, both wire encodings), the handlers' events and the settings (Tests/Fuzz/apitap-fuzz/FuzzTargets.swift).
#
# Usage: Tests/Fuzz/run.sh [SECONDS]   (default FUZZ_SECONDS or 60; `make fuzz` runs 600)
# Builds the target with -sanitize=fuzzer,address into .build-fuzz, seeds a corpus from the fixtures, the sample events,
# and Tests/Fuzz/corpus (settings seeds and every input that once crashed: keep them there as regressions), replays
# every seed, fuzzes for SECONDS, and prints "N passed, N failed". A crash leaves its input in .build-fuzz/crashes/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
# shellcheck source=Tests/lib.sh
. "$root/Tests/lib.sh"
seconds=${1:-${FUZZ_SECONDS:-60}}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: Tests/Fuzz/run.sh [SECONDS]" >&2; exit 2; }
out="$root/.build-fuzz"
corpus="$out/corpus"
crashes="$out/crashes"
mkdir -p "$corpus" "$crashes"

build() {
  # lld: gold fails on the sanitizer's symbols. SwiftPM links an executable's main under another name, so the target
  # calls libFuzzer's driver itself (see FuzzTargets.swift).
  (cd "$root" && swift build --build-path "$out" -Xswiftc -sanitize=fuzzer,address -Xswiftc -DAPITAP_LIBFUZZER \
    -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld --product apitap-fuzz) >"$out/build.log" 2>&1
}

# Seeds: the first byte picks the target (0 REST stitch, 1 HTTP API stitch, 2 events, 3 tick settings, 4 audit settings,
# 5 posture settings, 6 posture JSON: rules, baselines, policy listings).
seed() {
  local f
  for f in "$root"/Tests/Fixtures/*rest-*.ndjson; do
    { printf '\x00'; head -c 16000 "$f"; } >"$corpus/fixture-$(basename "$f")"
  done
  for f in "$root"/Tests/Fixtures/http-*.ndjson; do
    { printf '\x01'; head -c 16000 "$f"; } >"$corpus/fixture-$(basename "$f")"
  done
  for f in "$root"/events/*.json; do
    { printf '\x02'; cat "$f"; } >"$corpus/event-$(basename "$f")"
  done
  cp "$root"/Tests/Fuzz/corpus/* "$corpus/"
}

seed
if ! build; then
  fail "the fuzz target builds with -sanitize=fuzzer,address" "$(tail -20 "$out/build.log")"
  summary; exit
fi
pass "the fuzz target builds with -sanitize=fuzzer,address"

# -runs=0 executes every corpus input once and stops: the seeds and the committed regressions.
if "$out/debug/apitap-fuzz" -runs=0 -rss_limit_mb=2048 -timeout=10 "$corpus" >"$out/replay.log" 2>&1; then
  pass "every seed and regression input ($(find "$corpus" -type f | wc -l) files) runs clean"
else
  fail "a seed or regression input crashes" "$(tail -30 "$out/replay.log")"
fi

status=0
"$out/debug/apitap-fuzz" -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" >"$out/fuzz.log" 2>&1 || status=$?
runs=$(grep -oE "^stat::number_of_executed_units: *[0-9]+" "$out/fuzz.log" | grep -oE "[0-9]+$" || echo "?")
if ((status == 0)); then
  pass "libFuzzer ran ${seconds}s ($runs inputs) over stitch, events and settings: no crash, hang or runaway memory"
else
  fail "libFuzzer found a failure; the input is in $crashes (replay: .build/debug/apitap-fuzz FILE; add it to Tests/Fuzz/corpus once fixed)" \
    "$(grep -E "ERROR|Fatal error|precondition|SUMMARY|Test unit written" "$out/fuzz.log" | head -20)"
fi
summary
