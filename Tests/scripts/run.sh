#!/usr/bin/env bash
# Tests for template/ and scripts/: cfn-lint, shellcheck, and the deploy scripts against a real moto_server. The
# cases live in Tests/scripts/cases/ (one file per area); each runs in its own subshell through run_case
# (Tests/lib.sh). Two lanes with a moto_server each run side by side. Prints one line per case and a last line
# "N passed, N failed"; exits non-zero when anything failed.
# Usage: Tests/scripts/run.sh [NAME-FILTER]   (runs only the cases whose name contains NAME-FILTER)
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$HERE/../.." && pwd)
root=$ROOT
work=$(mktemp -d "${TMPDIR:-/tmp}/apitap-script-tests.XXXXXX")
export CASE_FILTER=${1:-}
# shellcheck source=Tests/lib.sh
. "$ROOT/Tests/lib.sh"

# The tools come from `make test` (scripts/dev/deps.sh all): say what is missing rather than install it here.
need_tools() {
  local t missing=()
  for t in moto_server cfn-lint aws shellcheck jq curl setsid python3; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  if ((${#missing[@]})); then
    echo "missing: ${missing[*]} (run scripts/dev/deps.sh all, and put .venv/bin on PATH)" >&2
    exit 2
  fi
  # pyenv's shim costs ~0.1 s per call and the scripts make hundreds: call the real executable.
  if command -v pyenv >/dev/null 2>&1 && REAL=$(pyenv which aws 2>/dev/null); then
    PATH="$(dirname -- "$REAL"):$PATH"
  fi
  # shellcheck disable=SC2034  # read by the cases
  REAL_AWS=$(command -v aws)
}

reset_moto() { curl -sf -X POST "$AWS_ENDPOINT_URL/moto-api/reset" >/dev/null; }

test_env() {
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION || true
  # moto finishes StackSet operations at once: poll and retry without real waits.
  export APITAP_POLL_SECONDS=1 APITAP_RETRY_SLEEP=1 APITAP_RETRY_MAX=3
}

# run_script NAME ARGS...: runs scripts/NAME, output in $OUT, exit code in $RC.
run_script() {
  local s=$1
  shift
  set +e
  OUT=$("$ROOT/scripts/$s" "$@" 2>&1 </dev/null)
  RC=$?
  set -e
  printf -- '--- %s %s (rc=%s)\n%s\n' "$s" "$*" "$RC" "$OUT"
}
state() { python3 "$HERE/moto_helper.py" state; }
jq_state() { jq -r "$1" <<<"$STATE"; }

# A dummy Lambda package: the tests deploy templates, nothing runs the code.
make_zip() {
  python3 - "$1" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("bootstrap", "#!/bin/sh\necho dummy\n")
EOF
}

# write_env FILE [KEY=VALUE...]: a valid self-managed .env (two regions, two accounts) plus overrides.
write_env() {
  local file=$1 kv k
  shift
  cat >"$file" <<EOF
# test settings
UAP_AUTH_ENABLED=true
UAP_CLIENT_ID=test-client
UAP_CLIENT_SECRET='s3cr3t value # with a hash'
UAP_TOKEN_URL=https://uap.test/oauth/token
UAP_TRANSACTIONS_URL="https://uap.test/api-transactions"
AWS_REGIONS=us-east-1, eu-west-1
ACCOUNTS_FILE=accounts.csv
ENABLE_REST_APIS=true
ENABLE_HTTP_APIS=true
BUCKET_PREFIX=apitap-test
PACKAGE_ZIP=$CASE_DIR/apitap.zip
STACKSET_NAME=apitap
STACKSET_REGION=us-east-1
EOF
  for kv in "$@"; do
    k=${kv%%=*}
    sed -i "/^$k=/d" "$file"
    printf '%s\n' "$kv" >>"$file"
  done
}

assert_nothing_created() {
  STATE=$(state)
  assert_eq "$(jq_state '.buckets | keys | length')" 0 "buckets after a refused run"
  assert_eq "$(jq_state '.stacksets | keys | length')" 0 "StackSets after a refused run"
}

for f in "$HERE"/cases/*.sh; do
  # shellcheck source=/dev/null
  . "$f"
done

# Two lanes, each with its own moto_server, run side by side (the aws CLI costs ~0.5 s of CPU per call).
lane_a() {
  start_named_moto a || return 1
  test_env
  fresh_case_dir
  run_case "cfn-lint: every template, no errors or warnings" case_cfn_lint
  run_case "shellcheck: every script clean" case_shellcheck
  run_case "template: issue-3 environment names, handlers, NoEcho, no wildcard action" case_template_contract
  run_case "templates: every IAM statement, every combination of conditions: no wildcard action or resource" case_iam_statements
  run_case "templates: customer-managed key everywhere or nowhere, bucket access logs, on-failure destinations" case_template_norms
  # The self-managed cases are steps of one scenario on one moto state (reset before the first step only).
  fresh_case_dir
  reset_moto
  sm_prepare
  run_case "self-managed 1/7: enable creates buckets, uploads, StackSet, 2x2 instances" case_sm_enable
  run_case "self-managed 2/7: a second enable changes nothing and succeeds" case_sm_second_enable
  run_case "self-managed 3/7: disable HTTP only updates parameters (retries OperationInProgress)" case_sm_disable_http
  run_case "self-managed 4/7: enable after disabling HTTP turns it back on" case_sm_enable_again
  run_case "self-managed 5/7: disable with both off removes instances and StackSet" case_sm_disable_all
  run_case "self-managed 6/7: teardown without --yes and without a terminal refuses" case_sm_teardown_refuses
  run_case "self-managed 7/7: teardown leaves no bucket, object or StackSet; re-run ok" case_sm_teardown
  independent_cases \
    "deploy-stack.sh: plain stack created, second run no-op, --delete|case_plain_stack" \
    "teardown after a partial failure|case_teardown_after_partial_failure" \
    "disable.sh with both kinds off keeps the StackSet while FLEX_SOURCE is on; FLEX_SOURCE=none removes it|case_disable_keeps_flex" \
    "bad .env: missing file|case_bad_missing_file" \
    "bad .env: aws CLI missing from PATH|case_bad_aws_missing"
}

lane_b() {
  start_named_moto b || return 1
  test_env
  independent_cases \
    "service-managed: OU target, filter NONE|case_org_none" \
    "service-managed: OU target, filter INTERSECTION|case_org_intersection" \
    "service-managed: OU target, filter DIFFERENCE|case_org_difference" \
    "AUTO_CREATE_STACKSET=false: uploads artifacts only|case_upload_only" \
    "bad .env: neither REST nor HTTP|case_bad_neither_kind" \
    "bad .env: placeholder credentials|case_bad_placeholder_credentials" \
    "bad .env: empty endpoint|case_bad_empty_endpoint" \
    "bad .env: invalid regions|case_bad_region" \
    "bad .env: DELIVERY_MODE=subscription without a failure destination; a FIFO queue|case_bad_delivery_mode" \
    "bad .env: unreadable (missing) CSV|case_bad_unreadable_csv" \
    "bad .env: ACCOUNTS_FILE is not a CSV (/etc/passwd-like): line numbers only|case_bad_accounts_not_csv" \
    "the client secret stays off jq's and aws' command lines|case_secret_off_command_lines" \
    "bad .env: malformed line and several problems reported at once|case_bad_many_problems_at_once" \
    "the reference integration's setting names are aliases, checked as ours|case_env_aliases" \
    "missing Lambda package: fails clearly, creates nothing|case_missing_zip" \
    "template/env.example parses; its placeholders are refused|case_env_example" \
    "replay-failures.sh: SQS records replayed, deleted only after a good invoke; --dry-run; moto's failing invoke keeps|case_replay_sqs" \
    "replay-failures.sh: S3 records under a prefix replayed and deleted, others kept|case_replay_s3" \
    "replay-failures.sh: bad arguments refused, every problem at once|case_replay_bad_arguments"
}

# independent_cases "NAME|FUNCTION"...: each on a fresh moto state and a fresh directory.
independent_cases() {
  local c
  for c in "$@"; do
    fresh_case_dir
    reset_moto
    run_case "${c%%|*}" "${c##*|}"
  done
}

main() {
  need_tools
  test_env
  local t0=$SECONDS lane lane_pids=() p f
  for lane in a b; do
    (
      "lane_$lane" || fail "lane $lane could not run"
      echo "$passed $failed" >"$work/lane-$lane.counts"
    ) >"$work/lane-$lane.out" 2>&1 &
    lane_pids+=($!)
  done
  for p in "${lane_pids[@]}"; do wait "$p" || true; done
  cat "$work/lane-a.out" "$work/lane-b.out"
  for lane in a b; do
    f="$work/lane-$lane.counts"
    if [ -s "$f" ]; then
      read -r p lane_failed <"$f"
      passed=$((passed + p)); failed=$((failed + lane_failed))
    else
      fail "lane $lane ended without its counts"
    fi
  done
  echo
  grep -h '^not ok - ' "$work"/lane-*.out | sed 's/^not ok - /failed: /' || true
  printf 'time: %ds\n' $((SECONDS - t0))
  [ $((passed + failed)) -gt 0 ] || fail "no case ran"
  summary
}

main "$@"
