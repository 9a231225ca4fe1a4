#!/usr/bin/env bash
# The audit export as a process: the release `apitap audit-export` against the strict Anypoint double (a separate
# process, 20,000 entries over three days in two organizations, tokens that really live 1 s although they say an
# hour, and a tenth of its answers empty pages that still carry a cursor), writing to the file sink. A clean run
# delivers every entry once and reports it (summary, one INFO line per organization and window, EMF metrics); runs
# killed with SIGKILL at random points and then run to the end lose nothing, tear no line, repeat at most the page in
# flight of each kill (with the same keys), and raise the same alerts as the clean run (again with checkpoints in S3
# and the S3 archive sink, in moto); a run killed at a known page (the double holds that query) is resumed by the
# next one without a single repeat; a finished export exports nothing more; dry runs, replays, the handler through
# the Runtime API loop (`apitap invoke`), and bad settings.
# AUDIT_TEST_SEED replays the random choices (kill delays, empty pages) of a failed run: every run prints its seed.
# Prints "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.build/release/apitap"
work=$(mktemp -d /tmp/apitap-audit-test.XXXXXX)
# shellcheck source=Tests/lib.sh
. "$root/Tests/lib.sh"

kills=${AUDIT_TEST_KILLS:-10}
seed=${AUDIT_TEST_SEED:-$$}
page=200

# The shared double: sets double_pid and double_port.
start_double() {
  launch_double "$double" double --orgs org-1,org-2 --entries 10000 --days 3 --token-lifetime-ms 1000 \
    --empty-pages 10 --empty-run 3 --seed "$seed" --expected "$work/expected.txt"
  double_pid=$launched_pid
  double_port=$launched_port
}

# The export's settings for output file $1 and state directory $2 (every line one VAR=value for env). The pace
# (AUDIT_RATE_LIMIT_PER_MINUTE, $rate) sets how long an export takes: at least 102 pages / (rate / 60).
# $port and $orgs override the shared double and its organizations.
rate=100000
export_env() {
  printf '%s\n' "ANYPOINT_BASE_URL=http://127.0.0.1:${port:-$double_port}" "ANYPOINT_CLIENT_ID=audit-client" \
    "ANYPOINT_CLIENT_SECRET=audit-secret-value" "ANYPOINT_ORG_IDS=${orgs:-org-1,org-2}" "AUDIT_START=P5D" "AUDIT_LAG_SECONDS=0" \
    "AUDIT_SINKS=file://$1" "STATE_URI=file://$2" "AUDIT_RATE_LIMIT_PER_MINUTE=$rate" "LOG_FORMAT=text"
}

# run_export NAME OUT STATE [ARGS...]: one run to the end; output in $work/NAME.json, log in $work/NAME.log.
run_export() {
  local name=$1 out=$2 state=$3
  shift 3
  local -a settings
  mapfile -t settings < <(export_env "$out" "$state")
  env "${settings[@]}" "$bin" audit-export --timeout 120 "$@" >"$work/$name.json" 2>"$work/$name.log"
}

json_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }

test_clean_run() {
  local status=0 check
  # 50 pages a second: the run lasts over 2 s, so the 1 s tokens expire under it.
  rate=3000 run_export clean "$work/clean.ndjson" "$work/state-clean" || status=$?
  if check=$(python3 "$root/Tests/audit/check_export.py" "$work/expected.txt" "$work/clean.ndjson" 2>&1) && [ "$status" -eq 0 ] &&
    [ "$(json_field "$work/clean.json" 'd["exported"]')" = 20000 ] &&
    [ "$(json_field "$work/clean.json" 'd["unauthorizedRenewals"] >= 1')" = True ]; then
    pass "a clean run delivers all 20,000 entries exactly once, past empty pages with a cursor, and renews the token that expired mid-loop ($check)"
  else
    fail "clean run" "exit $status: $check" "$(head -c 600 "$work/clean.json")" "$(tail -5 "$work/clean.log")"
  fi
}

# What an operator sees: one INFO line per organization and window (the command line's clean run), and in Lambda
# (the same handler through `apitap invoke`) EMF metrics on stderr (namespace apitap, dimension FunctionName; one
# document per sink with the Sink dimension too). On the command line the summary is printed once and no EMF is written.
test_clean_run_is_observable() {
  local windows emf
  windows=$(grep -c 'audit window .*organizationId=org-[12] .*pages=[0-9]* entries=[0-9]* .*waits503=[0-9]*' "$work/clean.log" || true)
  grep -q '^{"_aws"' "$work/clean.log" && windows="$windows (and EMF on the command line)"
  emf=$(python3 - "$work/invoke.log" <<'PY'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"_aws"')]
main = [d for d in docs if "Sink" not in d]
sinks = [d for d in docs if "Sink" in d]
ok = (len(main) == 1 and len(sinks) == 1
      and main[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "apitap"
      and main[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionName"]]
      and main[0]["AuditEntriesExported"] == 20000 and main[0]["AuditSinkFailedPages"] == 0
      and "AuditWaits503" in main[0] and 0 <= main[0]["AuditWatermarkLagSeconds"] < 600
      and sinks[0]["AuditSinkRecordsDelivered"] >= 20000 and sinks[0]["AuditSinkFailedPages"] == 0)
print("ok" if ok else json.dumps(docs)[:600])
PY
)
  if [ "$windows" = 2 ] && [ "$emf" = ok ]; then
    pass "the clean run logs one INFO line per organization and window; in Lambda the run writes EMF metrics (exported, per-sink failures, 503 waits, watermark lag), on the command line none"
  else
    fail "observability of the clean run" "INFO window lines: $windows (2 expected)" "EMF: $emf" "$(grep 'audit window' "$work/clean.log" | head -3)"
  fi
}

# kill_runs NAME SEED VAR=value...: $kills runs of audit-export with those settings, each killed with SIGKILL 20 ms to
# 0.8 s after it starts (before the first page, and inside the query, the delivery, the fsync and the commit alike).
# Sets kill_delays (what was used) and finished_early (runs that ended before their kill). At 10 pages a second a
# whole export takes over 20 s and the kills add up to at most 8 s, so no run can finish early, whatever the seed.
kill_runs() {
  local name=$1 i delay pid
  RANDOM=$2
  shift 2
  kill_delays=()
  finished_early=0
  for ((i = 1; i <= kills; i++)); do
    delay=$(printf '0.%03d' $((20 + RANDOM % 780)))
    kill_delays+=("$delay")
    env "$@" "$bin" audit-export --timeout 120 >"$work/$name-$i.json" 2>"$work/$name-$i.log" &
    pid=$!
    sleep "$delay"
    if kill -KILL "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; else finished_early=$((finished_early + 1)); wait "$pid" || true; fi
  done
}

test_kill_at_random_points() {
  local out="$work/killed.ndjson" state="$work/state-killed" status=0 check
  local -a settings
  # 10 pages a second: the whole export would take over 10 s, so every kill lands inside it.
  mapfile -t settings < <(rate=600 export_env "$out" "$state")
  kill_runs killed "$seed" "${settings[@]}"
  run_export killed-final "$out" "$state" || status=$?
  # Only what holds wherever the kills land: nothing lost, no torn line, at most a page repeated per kill and
  # always with its first key, the same alerts. Whether the last run resumed a window depends on where the last
  # kill landed: test_resume_after_a_kill_at_a_known_page checks resumption deterministically.
  if check=$(python3 "$root/Tests/audit/check_export.py" "$work/expected.txt" "$out" --max-duplicates $((kills * page)) \
    --alerts-like "$work/clean.ndjson" 2>&1) && [ "$status" -eq 0 ] && [ "$finished_early" -eq 0 ]; then
    pass "$kills runs killed with SIGKILL (seed $seed, after ${kill_delays[*]} s) then one to the end: nothing lost, nothing torn, the same alerts ($check)"
  else
    fail "kill -9 at random points (seed $seed, replay with AUDIT_TEST_SEED=$seed; delays ${kill_delays[*]}; $finished_early finished before their kill)" \
      "exit $status: $check" "$(head -c 600 "$work/killed-final.json")" "$(tail -5 "$work/killed-final.log")"
  fi
}

# A kill at a known page: a double of its own holds the 4th query, which the exporter sends only after pages 1-3
# were delivered and committed; the test waits for the double to say so, kills the exporter, and runs it again.
# The next run must continue the window from page 4: no repeat at all, nothing lost.
test_resume_after_a_kill_at_a_known_page() {
  local out="$work/known.ndjson" state="$work/state-known" pid tries=300 status=0 check lines resumed pages
  launch_double "$double" known --orgs org-k --entries 2000 --days 1 --token-lifetime-ms 60000 --stall-at-query 4 \
    --expected "$work/expected-known.txt" || { fail "the second double did not start"; return; }
  local known_pid=$launched_pid
  local -a settings
  mapfile -t settings < <(port=$launched_port orgs=org-k export_env "$out" "$state")
  env "${settings[@]}" "$bin" audit-export --timeout 120 >"$work/known-1.json" 2>"$work/known-1.log" &
  pid=$!
  while [ "$tries" -gt 0 ] && ! grep -q '^stalled 4' "$work/known.out"; do sleep 0.05; tries=$((tries - 1)); done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # Entry records only (the alerts those pages raised are records too).
  lines=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("type") != "alert"))' "$out" 2>/dev/null || echo 0)
  port=$launched_port orgs=org-k run_export known-2 "$out" "$state" || status=$?
  kill -TERM "$known_pid" 2>/dev/null || true
  wait "$known_pid" 2>/dev/null || true
  resumed=$(json_field "$work/known-2.json" 'd["organizations"][0]["resumed"]' 2>/dev/null || echo "?")
  pages=$(json_field "$work/known-2.json" 'd["organizations"][0]["pages"]' 2>/dev/null || echo "?")
  if grep -q '^stalled 4' "$work/known.out" && [ "$lines" = 600 ] && [ "$status" -eq 0 ] && [ "$resumed" = True ] && [ "$pages" = 8 ] &&
    check=$(python3 "$root/Tests/audit/check_export.py" "$work/expected-known.txt" "$out" 2>&1); then
    pass "killed while page 4 was being fetched (600 entries written), the next run resumes the window at page 4: 8 pages, no repeat ($check)"
  else
    fail "resume after a kill at a known page" "stalled: $(cat "$work/known.out"); lines before the second run: $lines (600 expected)" \
      "second run: exit $status, resumed $resumed, pages $pages (8 expected): ${check:-}" "$(tail -3 "$work/known-2.log")"
  fi
}

# The deployed configuration under the same kills: checkpoints in S3 (moto, conditional writes) and the S3 archive
# sink beside the file sink. An S3 commit takes longer than a file's, so more kills land between a page's delivery
# and its commit: the repeats this allows must keep their keys, and the archive must hold every entry.
test_kill_with_s3_state_and_archive() {
  local moto_port out="$work/s3killed.ndjson" status=0 check s3check
  moto_port=$(free_port)
  moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
  pids+=("$!")
  wait_for_port "$moto_port" || { fail "moto_server did not start" "$(tail -3 "$work/moto.log")"; return; }
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" \
    aws --region us-east-1 s3 mb s3://apitap-audit-kill >/dev/null
  local -a settings
  mapfile -t settings < <(rate=600 export_env "$out" unused | grep -v '^STATE_URI=\|^AUDIT_SINKS=')
  settings+=("STATE_URI=s3://apitap-audit-kill/state" "AUDIT_SINKS=file://$out,s3://apitap-audit-kill/audit"
    "AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port" "AWS_ACCESS_KEY_ID=testing" "AWS_SECRET_ACCESS_KEY=testing" "AWS_REGION=us-east-1")
  kill_runs s3killed $((seed + 1)) "${settings[@]}"
  settings=("${settings[@]/#AUDIT_RATE_LIMIT_PER_MINUTE=600/AUDIT_RATE_LIMIT_PER_MINUTE=100000}")
  env "${settings[@]}" "$bin" audit-export --timeout 120 >"$work/s3killed-final.json" 2>"$work/s3killed-final.log" || status=$?
  check=$(python3 "$root/Tests/audit/check_export.py" "$work/expected.txt" "$out" --max-duplicates $((kills * page)) \
    --alerts-like "$work/clean.ndjson" 2>&1) || status=$((status + 100))
  python3 "$root/Tests/audit/s3_records.py" "http://127.0.0.1:$moto_port" apitap-audit-kill audit >"$work/s3-archive.ndjson" \
    2>"$work/s3-archive.err" || status=$((status + 1000))
  s3check=$(python3 "$root/Tests/audit/check_export.py" "$work/expected.txt" "$work/s3-archive.ndjson" --max-duplicates $((kills * page)) \
    --alerts-like "$work/clean.ndjson" 2>&1) || status=$((status + 10000))
  if [ "$status" -eq 0 ] && [ "$finished_early" -eq 0 ]; then
    pass "$kills kills with checkpoints in S3 (moto) and the S3 archive sink (seed $((seed + 1))): file $check; archive ($(cat "$work/s3-archive.err")) $s3check"
  else
    fail "kill -9 with S3 state and archive (seed $((seed + 1)), delays ${kill_delays[*]}; $finished_early finished before their kill; status $status)" \
      "file: $check" "archive: ${s3check:-} $(cat "$work/s3-archive.err" 2>/dev/null)" "$(tail -5 "$work/s3killed-final.log")"
  fi
}

test_finished_export_adds_nothing() {
  local before after status=0
  before=$(wc -l <"$work/clean.ndjson")
  run_export again "$work/clean.ndjson" "$work/state-clean" || status=$?
  after=$(wc -l <"$work/clean.ndjson")
  if [ "$status" -eq 0 ] && [ "$before" = "$after" ] && [ "$(json_field "$work/again.json" 'd["exported"]')" = 0 ]; then
    pass "a second run over the same history exports nothing ($(json_field "$work/again.json" 'd["duplicatesSkipped"]') re-read in the overlap, skipped)"
  else
    fail "second run" "exit $status, lines $before -> $after" "$(head -c 400 "$work/again.json")"
  fi
}

test_dry_run_and_replay() {
  local status=0 status2=0
  run_export dry "$work/dry.ndjson" "$work/state-dry" --dry-run || status=$?
  local status3=0
  run_export drytable "$work/drytable.ndjson" "$work/state-drytable" --dry-run --output table || status3=$?
  if [ "$status3" -eq 0 ] && grep -q "^apitap audit-export (dry run: nothing delivered, no checkpoint committed): 2 of 2 organizations done" "$work/drytable.json" &&
    grep -q "^  would send 20,000 entries" "$work/drytable.json" && ! grep -q '"handler"' "$work/drytable.json" "$work/drytable.log"; then
    pass "--output table prints the run as a few lines of text, once"
  else fail "audit table summary" "exit $status3" "$(head -c 500 "$work/drytable.json")"; fi
  run_export replay "$work/replay.ndjson" "$work/state-replay" --since "$(date -u -d '-4 days' +%Y-%m-%dT%H:%M:%SZ)" || status2=$?
  if [ "$status" -eq 0 ] && [ ! -e "$work/dry.ndjson" ] && [ ! -e "$work/state-dry/audit-org-1" ] &&
    [ "$(json_field "$work/dry.json" 'd["entries"]')" = 20000 ] && [ "$(json_field "$work/dry.json" 'd["wouldExport"]')" = 20000 ] &&
    [ "$(json_field "$work/dry.json" '"exported" in d')" = False ] && ! grep -q '^{"_aws"' "$work/dry.log" && [ "$status2" -eq 0 ] &&
    python3 "$root/Tests/audit/check_export.py" "$work/expected.txt" "$work/replay.ndjson" >/dev/null &&
    [ -z "$(ls -A "$work/state-replay" 2>/dev/null)" ]; then
    pass "--dry-run reads everything, says it would export 20,000 and writes nothing (no metrics either); --since replays a window without touching checkpoints"
  else
    fail "dry run / replay" "dry exit $status, replay exit $status2" "$(find "$work/state-dry" "$work/state-replay" 2>&1 | head)" \
      "$(head -c 300 "$work/dry.json")"
  fi
}

test_lambda_invoke() {
  local status=0 check
  local -a settings
  mapfile -t settings < <(export_env "$work/invoke.ndjson" "$work/state-invoke")
  env "${settings[@]}" "$bin" invoke --event "$root/events/audit-export.json" --handler audit-export \
    >"$work/invoke.json" 2>"$work/invoke.log" || status=$?
  if [ "$status" -eq 0 ] && check=$(python3 "$root/Tests/audit/check_export.py" "$work/expected.txt" "$work/invoke.ndjson" 2>&1) &&
    grep -q '"exported":20000' "$work/invoke.json"; then
    pass "the audit-export handler through the Runtime API loop (apitap invoke with events/audit-export.json) exports everything ($check)"
  else
    fail "apitap invoke --handler audit-export" "exit $status: ${check:-}" "$(head -c 400 "$work/invoke.json")" "$(tail -5 "$work/invoke.log")"
  fi
}

test_bad_settings() {
  local status=0
  env ANYPOINT_BASE_URL=http://anypoint.example.com ANYPOINT_CLIENT_SECRET=do-not-print-me AUDIT_SINKS='gopher://x' \
    AUDIT_START=soon "$bin" audit-export >"$work/bad.out" 2>"$work/bad.err" || status=$?
  if [ "$status" -eq 2 ] && grep -q ANYPOINT_CLIENT_ID "$work/bad.err" && grep -q "must be https://" "$work/bad.err" &&
    grep -q AUDIT_START "$work/bad.err" && grep -q "unknown sink" "$work/bad.err" && ! grep -q do-not-print-me "$work/bad.err" "$work/bad.out"; then
    pass "bad settings: exit 2, every problem listed at once, the secret never printed"
  else
    fail "bad settings" "exit $status" "$(cat "$work/bad.err")"
  fi
}

test_double_saw_only_valid_requests() {
  kill -TERM "$double_pid"
  wait "$double_pid" 2>/dev/null || true
  if [ "$(json_field "$work/double-stats.json" 'len(d["badRequests"])')" = 0 ] &&
    [ "$(json_field "$work/double-stats.json" 'd["tokensIssued"] > 1')" = True ] &&
    [ "$(json_field "$work/double-stats.json" 'd["emptyPagesWithCursor"] > 0')" = True ]; then
    pass "the strict double refused nothing ($(json_field "$work/double-stats.json" 'd["queries"]') queries, $(json_field "$work/double-stats.json" 'd["emptyPagesWithCursor"]') of them empty pages with a cursor, $(json_field "$work/double-stats.json" 'd["tokensIssued"]') tokens, $(json_field "$work/double-stats.json" 'd["unauthorized"]') expired-token 401s)"
  else
    fail "requests the double refused" "$(cat "$work/double-stats.json")"
  fi
}

main() {
  [ -x "$bin" ] || { echo "no release binary at $bin: run make package" >&2; exit 1; }
  (cd "$root" && swift build --product anypoint-double >"$work/build.log" 2>&1) || { cat "$work/build.log" >&2; exit 1; }
  double="$(cd "$root" && swift build --show-bin-path)/anypoint-double"
  echo "seed $seed (replay with AUDIT_TEST_SEED=$seed)"
  start_double
  test_clean_run
  test_lambda_invoke
  test_clean_run_is_observable
  test_kill_at_random_points
  test_resume_after_a_kill_at_a_known_page
  test_kill_with_s3_state_and_archive
  test_finished_export_adds_nothing
  test_dry_run_and_replay
  test_bad_settings
  test_double_saw_only_valid_requests
  summary
}

main "$@"
