#!/usr/bin/env bash
# The posture audit as a process: the release `apitap posture` against the strict API Manager double (a separate
# process serving 3 environments and 60 APIs with every drift kind injected, a 429 every 41st request): every
# injected finding and nothing else, in every format, no secret anywhere; exit codes for --fail-on; the baseline
# diff; a partial collection (one environment failing) exits 2 and says what is missing; the HTML report opened in
# headless Chromium (filters, drill-down, a screenshot kept in .build/test-logs); the `posture` handler through the
# Runtime API loop (`apitap invoke`) with reports in S3 (moto) and findings in a file sink; bad settings.
# Prints "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.build/release/apitap"
work=$(mktemp -d /tmp/apitap-posture-test.XXXXXX)
logs="$root/.build/test-logs"
# shellcheck source=Tests/lib.sh
. "$root/Tests/lib.sh"

# Chromium from Debian, installed when missing (as scripts/dev/deps.sh installs the other test packages).
ensure_chromium() {
  command -v chromium >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ]; then echo "chromium is missing: sudo apt-get install -y chromium" >&2; return 1; fi
  echo "installing chromium (Debian)" >&2
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
}

# posture_env PORT: the settings of a run against the double on PORT, one VAR=value per line.
posture_env() {
  printf '%s\n' "ANYPOINT_BASE_URL=http://127.0.0.1:$1" "ANYPOINT_CLIENT_ID=posture-client" \
    "ANYPOINT_CLIENT_SECRET=posture-client-secret-value" "ANYPOINT_ORG_IDS=org-posture" "POSTURE_RATE_LIMIT_PER_MINUTE=100000" \
    "LOG_FORMAT=text" "LOG_LEVEL=warn"
}

# run_posture NAME PORT ARGS...: exit status in $status; stdout in $work/NAME.out, stderr in $work/NAME.err.
run_posture() {
  local name=$1 port=$2
  shift 2
  local -a settings
  mapfile -t settings < <(posture_env "$port")
  status=0
  env "${settings[@]}" "$bin" posture --timeout 120 "$@" >"$work/$name.out" 2>"$work/$name.err" || status=$?
}

test_findings_are_exactly_the_injected_ones() {
  local check
  run_posture json "$port" --format json --output "$work/report.json"
  if check=$(python3 "$root/Tests/posture/check_report.py" "$work/report.json" "$work/expected.tsv" 2>&1) && [ "$status" -eq 0 ]; then
    pass "apitap posture reports every injected finding and nothing else, through 429s ($check)"
  else
    fail "injected findings" "exit $status: $check" "$(tail -5 "$work/json.err")"
  fi
}

test_formats_and_no_secret() {
  local format leaks=() rows
  for format in table csv markdown html; do
    run_posture "fmt-$format" "$port" --format "$format" --output "$work/report.$format"
    [ "$status" -eq 0 ] || leaks+=("$format exited $status")
  done
  run_posture stdout "$port" --format table
  cat "$work"/*.err >"$work/all-stderr.txt"
  for format in json table csv markdown html; do
    if grep -F -q -f "$work/secrets.txt" "$work/report.$format"; then leaks+=("$format shows a secret"); fi
  done
  if grep -F -q -f "$work/secrets.txt" "$work/stdout.out" "$work/all-stderr.txt"; then leaks+=("stdout/stderr shows a secret"); fi
  rows=$(python3 -c 'import csv,sys; print(len(list(csv.reader(open(sys.argv[1], newline="")))) - 1)' "$work/report.csv")
  if [ "${#leaks[@]}" -eq 0 ] && [ "$rows" = "$(wc -l <"$work/expected.tsv")" ] && grep -q '^API security posture' "$work/stdout.out" &&
    grep -q '^| API |' "$work/report.markdown" && grep -q '<table id="overview">' "$work/report.html"; then
    pass "table, CSV (one row per finding: $rows), Markdown and HTML are written, and no secret appears in any output"
  else
    fail "formats and secrets" "${leaks[@]}" "csv rows: $rows"
  fi
}

test_exit_codes() {
  local threat drift info
  run_posture fail-threat "$port" --format json --fail-on threat; threat=$status
  run_posture fail-drift "$port" --format json --fail-on drift; drift=$status
  run_posture fail-bad "$port" --fail-on loud; info=$status
  if [ "$threat" -eq 1 ] && [ "$drift" -eq 1 ] && [ "$info" -eq 2 ] && grep -q "^error: --fail-on must be" "$work/fail-bad.err"; then
    pass "--fail-on threat and --fail-on drift exit 1 when such findings exist; a bad --fail-on exits 2 with one error line"
  else
    fail "exit codes" "threat $threat, drift $drift, bad $info" "$(cat "$work/fail-bad.err")"
  fi
}

test_baseline() {
  run_posture baseline "$port" --format json --baseline "$work/report.json" --output "$work/again.json"
  if [ "$status" -eq 0 ] && grep -q "Summary: 0 new, 0 resolved, 0 changed, $(wc -l <"$work/expected.tsv") unchanged" "$work/baseline.err" &&
    python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["baseline"]; sys.exit(0 if b["new"]==[] and b["resolved"]==[] else 1)' "$work/again.json"; then
    pass "--baseline with the same organization: nothing new, nothing resolved ($(cat "$work/baseline.err"))"
  else
    fail "baseline" "exit $status" "$(cat "$work/baseline.err")"
  fi
  run_posture bad-baseline "$port" --baseline "$work/report.csv"
  if [ "$status" -eq 2 ] && grep -q "baseline" "$work/bad-baseline.err"; then
    pass "an unreadable baseline exits 2 and says why"
  else
    fail "bad baseline" "exit $status" "$(cat "$work/bad-baseline.err")"
  fi
}

test_partial_collection() {
  launch_double "$double" partial --apis 60 --fail-env env-stg:500
  run_posture partial "$launched_port" --format json --output "$work/partial.json" --fail-on threat
  if [ "$status" -eq 2 ] && grep -q "Staging: apis could not be read" "$work/partial.err" &&
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if not d["complete"] and any(m["environment"]=="Staging" for m in d["missing"]) and not any("Staging" in f["environments"] for f in d["findings"]) else 1)' "$work/partial.json"; then
    pass "one environment failing: exit 2, what is missing is said (stderr and report), nothing concluded about it"
  else
    fail "partial collection" "exit $status" "$(cat "$work/partial.err")"
  fi
}

test_html_in_chromium() {
  local out
  mkdir -p "$logs"
  if ! ensure_chromium; then fail "the HTML report in Chromium" "chromium could not be installed"; return; fi
  if out=$(timeout 180 python3 "$root/Tests/posture/browser_check.py" "$work/report.html" "$work/report.json" "$logs/posture-report.png" 2>&1); then
    pass "the HTML report in headless Chromium: $(grep -c '^ok' <<<"$out") checks (every API listed, filters narrow, the drill-down shows the three sections; screenshot .build/test-logs/posture-report.png)"
  else
    fail "the HTML report in Chromium" "$out"
  fi
}

test_handler_with_s3_and_file_sink() {
  local moto_port status1=0 status2=0 check
  local -a settings
  moto_port=$(free_port)
  moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
  pids+=("$!")
  wait_for_port "$moto_port" || { fail "moto_server did not start" "$(tail -3 "$work/moto.log")"; return; }
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
    aws --endpoint-url "http://127.0.0.1:$moto_port" s3api create-bucket --bucket posture-reports >/dev/null
  mapfile -t settings < <(posture_env "$port")
  settings+=("POSTURE_REPORT_URI=s3://posture-reports/posture" "AUDIT_SINKS=file://$work/findings.ndjson"
    "AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port" "AWS_ACCESS_KEY_ID=testing" "AWS_SECRET_ACCESS_KEY=testing" "AWS_REGION=us-east-1")
  env "${settings[@]}" "$bin" invoke --event "$root/events/posture.json" --handler posture >"$work/invoke1.json" 2>"$work/invoke1.log" || status1=$?
  env "${settings[@]}" "$bin" invoke --event "$root/events/posture.json" --handler posture >"$work/invoke2.json" 2>"$work/invoke2.log" || status2=$?
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
    aws --endpoint-url "http://127.0.0.1:$moto_port" s3api list-objects-v2 --bucket posture-reports --prefix posture/ >"$work/s3-list.json"
  if check=$(python3 "$root/Tests/posture/check_handler.py" "$work/invoke1.json" "$work/invoke2.json" "$work/s3-list.json" \
    "$work/findings.ndjson" "$work/expected.tsv" 2>&1) && [ "$status1" -eq 0 ] && [ "$status2" -eq 0 ] &&
    ! grep -F -q -f "$work/secrets.txt" "$work/invoke1.log" "$work/invoke2.log" "$work/findings.ndjson"; then
    pass "the posture handler through the Runtime API loop (apitap invoke, events/posture.json): reports in S3 (moto), findings in the file sink, the second run diffs against the first ($check)"
  else
    fail "posture handler" "exit $status1/$status2: ${check:-}" "$(head -c 600 "$work/invoke1.json")" "$(tail -5 "$work/invoke1.log")"
  fi
}

test_bad_settings() {
  local status=0
  env ANYPOINT_BASE_URL=http://anypoint.example.com ANYPOINT_CLIENT_SECRET=do-not-print-me POSTURE_RULES='{"nope": 1}' \
    POSTURE_CONCURRENCY=0 "$bin" invoke --event "$root/events/posture.json" --handler posture >"$work/bad.out" 2>"$work/bad.err" || status=$?
  if [ "$status" -eq 1 ] && grep -q "Runtime.ConfigInvalid" "$work/bad.err" && grep -q ANYPOINT_CLIENT_ID "$work/bad.out" &&
    grep -q POSTURE_REPORT_URI "$work/bad.out" && grep -q POSTURE_RULES "$work/bad.out" && grep -q POSTURE_CONCURRENCY "$work/bad.out" &&
    ! grep -q do-not-print-me "$work/bad.err" "$work/bad.out"; then
    pass "bad settings: Runtime.ConfigInvalid at init, every problem listed at once, the secret never printed"
  else
    fail "bad settings" "exit $status" "$(cat "$work/bad.err")" "$(cat "$work/bad.out")"
  fi
}

test_double_saw_only_valid_requests() {
  kill -TERM "$double_pid"
  wait "$double_pid" 2>/dev/null || true
  if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if not d["badRequests"] and not d["forbidden"] and d["throttled"] > 0 else 1)' \
    "$work/double-stats.json"; then
    pass "the strict double refused nothing ($(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], "requests,", d["throttled"], "answered 429, at most", d["maxInFlight"], "at once")' "$work/double-stats.json"))"
  else
    fail "requests the double refused" "$(cat "$work/double-stats.json")"
  fi
}

main() {
  [ -x "$bin" ] || { echo "no release binary at $bin: run make package" >&2; exit 1; }
  (cd "$root" && swift build --product api-manager-double >"$work/build.log" 2>&1) || { cat "$work/build.log" >&2; exit 1; }
  double="$(cd "$root" && swift build --show-bin-path)/api-manager-double"
  launch_double "$double" double --apis 60 --throttle-every 41 --expected "$work/expected.tsv" --secrets "$work/secrets.txt"
  double_pid=$launched_pid
  port=$launched_port
  test_findings_are_exactly_the_injected_ones
  test_formats_and_no_secret
  test_exit_codes
  test_baseline
  test_partial_collection
  test_html_in_chromium
  test_handler_with_s3_and_file_sink
  test_bad_settings
  test_double_saw_only_valid_requests
  summary
}

main "$@"
