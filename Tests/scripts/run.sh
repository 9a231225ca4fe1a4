#!/usr/bin/env bash
# Tests for template/ and scripts/: cfn-lint, shellcheck, and the scripts against a real moto_server.
# Prints one line per case and a last line "N passed, M failed"; exits non-zero when anything failed.
# Usage: Tests/scripts/run.sh [NAME-FILTER]   (runs only the cases whose name contains NAME-FILTER)
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$HERE/../.." && pwd)
FILTER=${1:-}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/apitap-script-tests.XXXXXX")
PASSED=0
FAILED=0
RESULTS="" # the current lane's results file: one "ok|FAIL<TAB>name" line per case

# Each lane starts its own moto_server and records its PID in $TMP/moto-<lane>.pid; only those are stopped.
cleanup() {
  local f pid
  for f in "$TMP"/moto-*.pid; do
    [[ -e $f ]] || continue
    pid=$(<"$f")
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf -- "$TMP"
}
trap cleanup EXIT

# ---------------------------------------------------------------- tools
need_tools() {
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "installing moto[server]" >&2
    python3 -m pip install --quiet 'moto[server]' >&2
  fi
  if ! command -v cfn-lint >/dev/null 2>&1; then
    echo "installing cfn-lint" >&2
    python3 -m pip install --quiet cfn-lint >&2
  fi
  local pkgs=()
  command -v shellcheck >/dev/null 2>&1 || pkgs+=(shellcheck)
  command -v jq >/dev/null 2>&1 || pkgs+=(jq)
  command -v curl >/dev/null 2>&1 || pkgs+=(curl)
  command -v setsid >/dev/null 2>&1 || pkgs+=(util-linux)
  if ((${#pkgs[@]})); then
    echo "installing ${pkgs[*]}" >&2
    apt-get install -y "${pkgs[@]}" >&2 || { apt-get update >&2 && apt-get install -y "${pkgs[@]}" >&2; }
  fi
  command -v aws >/dev/null 2>&1 || { echo "the aws CLI is needed (pip install awscli)" >&2; exit 2; }
  # pyenv's shim costs ~0.1 s per call and the scripts make hundreds: call the real executable.
  if command -v pyenv >/dev/null 2>&1 && REAL=$(pyenv which aws 2>/dev/null); then
    PATH="$(dirname -- "$REAL"):$PATH"
  fi
  REAL_AWS=$(command -v aws)
}

# ---------------------------------------------------------------- moto
start_moto() { # start_moto LANE
  local port pid
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  moto_server -H 127.0.0.1 -p "$port" >"$TMP/moto-$1.log" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$TMP/moto-$1.pid"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -sf "$AWS_ENDPOINT_URL/moto-api/data.json" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "moto_server did not start:" >&2
  cat "$TMP/moto-$1.log" >&2
  return 1
}

reset_moto() { curl -sf -X POST "$AWS_ENDPOINT_URL/moto-api/reset" >/dev/null; }

test_env() {
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION || true
  # moto finishes StackSet operations at once: poll and retry without real waits.
  export APITAP_POLL_SECONDS=1 APITAP_RETRY_SLEEP=1 APITAP_RETRY_MAX=3
}

# ---------------------------------------------------------------- case runner
run_case() {
  local name=$1 fn=$2 rc log
  if [[ -n $FILTER && $name != *"$FILTER"* ]]; then return 0; fi
  log="$CASE_DIR.log"
  local t0=$SECONDS
  set +e
  (
    set -euo pipefail
    cd "$CASE_DIR"
    "$fn"
  ) >"$log" 2>&1
  rc=$?
  set -e
  if ((rc == 0)); then
    PASSED=$((PASSED + 1))
    printf 'ok\t%s\n' "$name" >>"$RESULTS"
    printf 'ok   %-80s %3ds\n' "$name" $((SECONDS - t0))
  else
    FAILED=$((FAILED + 1))
    printf 'FAIL\t%s\n' "$name" >>"$RESULTS"
    printf 'FAIL %-80s %3ds\n' "$name" $((SECONDS - t0))
    sed 's/^/     | /' "$log" | tail -n 40
  fi
}

# Assertions exit the case's subshell, so a failed check can never be skipped over.
fail() {
  echo "ASSERTION FAILED: $*" >&2
  exit 1
}
assert_eq() { [[ $1 == "$2" ]] || fail "$3: expected '$2', got '$1'"; }
assert_contains() { [[ $1 == *"$2"* ]] || fail "$3: output does not contain '$2'"; }
assert_not_contains() { [[ $1 != *"$2"* ]] || fail "$3: output contains '$2'"; }
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

# ---------------------------------------------------------------- static cases
case_cfn_lint() {
  local t templates=()
  for t in "$ROOT"/template/*.json; do
    jq -e 'type == "object" and has("Resources")' "$t" >/dev/null && templates+=("$t")
  done
  ((${#templates[@]} >= 1)) || fail "no template found"
  printf 'templates: %s\n' "${templates[*]}"
  cfn-lint --include-checks I -- "${templates[@]}"
}

case_shellcheck() {
  local files=()
  mapfile -t files < <(find "$ROOT/scripts" "$ROOT/Tests/scripts" -name '*.sh' -type f | sort)
  ((${#files[@]} >= 5)) || fail "expected the scripts, found ${#files[@]} files"
  printf '%s\n' "${files[@]}"
  shellcheck -x "${files[@]}"
}

# Every IAM statement of both templates, with every combination of conditions: no wildcard action, no "*" resource
# beyond the log-delivery actions AWS allows only on "*" (checkov skips statements built with Fn::If).
case_iam_statements() {
  local out
  out=$(python3 "$HERE/iam_check.py" "$ROOT/template/apitap.json" "$ROOT/template/audit-export.json" "$ROOT/template/posture.json" 2>&1) ||
    fail "IAM statements: $out"
  assert_contains "$out" "0 problem(s)" "IAM check summary"
}

# KMS option, access logging, on-failure destinations: what cfn-lint and checkov do not check (issue 11).
case_template_norms() {
  local out
  out=$(cd "$HERE" && python3 template_norms.py "$ROOT/template/apitap.json" "$ROOT/template/audit-export.json" "$ROOT/template/posture.json" 2>&1) ||
    fail "template norms: $out"
  assert_contains "$out" "0 problem(s)" "template norms summary"
}

case_template_contract() {
  local t="$ROOT/template/apitap.json" want have
  # The Flex Gateway source's (issue 13) are set to empty or none unless FlexSource turns it on; DELIVERY_MODE and
  # STAGE_LOGGING_STATE_URI tell the tick which groups subscription filters push (issue 12).
  want='ANYPOINT_CLIENT_ID ANYPOINT_CLIENT_SECRET_ARN ANYPOINT_ENV_ID ANYPOINT_ORG_ID API_AUTO_DISCOVERY API_LIST API_LIST_CACHE_SECONDS CONTENT_TYPE_REGEX DELIVERY_MODE ENABLE_HTTP_APIS ENABLE_REST_APIS EXCLUDED_EXTENSIONS_REGEX FLEX_APIS FLEX_LOG_GROUPS FLEX_SOURCE LOG_LEVEL MAX_BATCH_TRANSACTIONS STAGE_LOGGING_STATE_URI STATE_URI UAP_AUTH_ENABLED UAP_CLIENT_ID UAP_CLIENT_SECRET_ARN UAP_CONTENT_ENCODING UAP_PAYLOAD_FORMAT UAP_TOKEN_URL UAP_TRANSACTIONS_URL'
  have=$(jq -r '.Resources.TickFunction.Properties.Environment.Variables | keys | join(" ")' "$t")
  assert_eq "$have" "$want" "tick environment variable names (issue 3)"
  assert_eq "$(jq -r '.Resources.TickFunction.Properties | [.Handler, .Runtime, .Architectures[0]] | join(" ")' "$t")" \
    "tick provided.al2023 x86_64" "tick function"
  # One tick at a time by default; "none" for accounts whose concurrency quota is 10.
  assert_eq "$(jq -c '[.Parameters.ReservedConcurrency.Default, .Resources.TickFunction.Properties.ReservedConcurrentExecutions]' "$t")" \
    '["1",{"Fn::If":["UseReservedConcurrency",{"Ref":"ReservedConcurrency"},{"Ref":"AWS::NoValue"}]}]' "tick reserved concurrency"
  assert_eq "$(jq -r '.Resources.EnableLoggingFunction.Properties.Handler' "$t")" enable-logging "custom resource handler"
  # DeliveryMode=subscription: the awslogs function, invoked by CloudWatch Logs of this account and region only, with
  # no secret, checkpoint or Flex setting in its environment, and its failed pushes kept.
  assert_eq "$(jq -r '.Resources.AwsLogsFunction | [.Condition, .Properties.Handler] | join(" ")' "$t")" "UseSubscription awslogs" "awslogs function"
  assert_eq "$(jq -r '[.Resources.AwsLogsFunction.Properties.Environment.Variables | keys[] | select(test("^(STATE_URI|FLEX_|ANYPOINT_)"))] | length' "$t")" 0 \
    "awslogs environment without the tick's state and Flex settings"
  assert_eq "$(jq -c '[.Resources.AwsLogsRestPermission.Properties, .Resources.AwsLogsHttpPermission.Properties] | map([.Principal, .SourceAccount.Ref, (.SourceArn["Fn::Sub"] | test("^arn:\\$\\{AWS::Partition\\}:logs:\\$\\{AWS::Region\\}:\\$\\{AWS::AccountId\\}:log-group:"))])' "$t")" \
    '[["logs.amazonaws.com","AWS::AccountId",true],["logs.amazonaws.com","AWS::AccountId",true]]' "awslogs permissions scoped to this account's log groups"
  assert_eq "$(jq -r '.Resources.AwsLogsInvokeConfig.Properties.DestinationConfig.OnFailure.Destination["Fn::If"][0]' "$t")" CreateFailureQueue \
    "awslogs on-failure destination"
  assert_eq "$(jq -r '.Rules.SubscriptionKeepsFailures.Assertions[0].Assert["Fn::Not"][0]["Fn::Equals"][1]' "$t")" none \
    "subscription mode refuses FailureDestination none"
  assert_eq "$(jq -r '.Parameters.UapClientSecret.NoEcho' "$t")" true "UapClientSecret NoEcho"
  assert_eq "$(jq -r '[.. | objects | select(has("Action")) | .Action | if type == "array" then .[] else . end | select(test("\\*"))] | length' "$t")" 0 \
    "actions with a wildcard"
  assert_eq "$(jq -r '[.Resources.TickFunction.Properties.Environment.Variables | .. | strings | select(test("s3cr|Secret\"$"))] | length' "$t")" 0 \
    "secret in plain environment"
}

# ---------------------------------------------------------------- self-managed scenario
# These cases are steps of one scenario and run in order on one moto state (reset before the first).
SM_ENV=""
sm_prepare() {
  printf 'account_id,description\n111111111111,one\n222222222222,two\n' >"$CASE_DIR/accounts.csv"
  make_zip "$CASE_DIR/apitap.zip"
  SM_ENV="$CASE_DIR/sm.env"
  write_env "$SM_ENV"
}

case_sm_enable() {
  run_script enable.sh --env "$SM_ENV" --yes
  assert_eq "$RC" 0 "enable.sh exit code"
  STATE=$(state)
  printf '%s\n' "$STATE" >"$CASE_DIR/state-after-enable.json"
  assert_eq "$(jq_state '.buckets | keys | map(select(contains("#") | not)) | join(" ")')" "apitap-test-eu-west-1 apitap-test-us-east-1" "buckets"
  local b key
  for b in apitap-test-eu-west-1 apitap-test-us-east-1; do
    key=$(jq_state ".buckets[\"$b\"] | keys | map(select(test(\"^apitap/apitap-[0-9a-f]{12}\\\\.zip$\"))) | length")
    assert_eq "$key" 1 "code zip in $b"
    assert_eq "$(jq_state ".buckets[\"$b\"] | has(\"apitap/apitap.json\")")" true "template in $b"
    assert_eq "$(jq_state ".buckets[\"$b#policy\"].Statement | map(.Sid) | join(\" \")")" \
      "TargetsReadArtifacts TargetsOwnState TargetsListOwnState" "bucket policy of $b"
  done
  assert_eq "$(jq_state '.stacksets.apitap.status')" ACTIVE "StackSet status"
  assert_eq "$(jq_state '.stacksets.apitap.permission_model')" SELF_MANAGED "permission model"
  assert_eq "$(jq_state '.stacksets.apitap.instances | join(" ")')" \
    "111111111111/eu-west-1/CURRENT 111111111111/us-east-1/CURRENT 222222222222/eu-west-1/CURRENT 222222222222/us-east-1/CURRENT" "instances"
  assert_eq "$(jq_state '.stacksets.apitap.parameters.UapClientSecret')" 's3cr3t value # with a hash' "quoted secret passed intact"
  assert_eq "$(jq_state '.stacksets.apitap.parameters.ArtifactBucketPrefix')" apitap-test "ArtifactBucketPrefix"
  assert_contains "$OUT" "222222222222  us-east-1  CURRENT" "result table"
  # moto really creates each instance's resources in the target account and region.
  local a r fns
  for a in 111111111111 222222222222; do
    for r in us-east-1 eu-west-1; do
      fns=$(python3 "$HERE/moto_helper.py" functions "$a" "$r")
      assert_eq "$(jq -r "keys | join(\" \")" <<<"$fns")" "apitap-api-refresh-$r apitap-enable-logging-$r apitap-tick-$r" "functions in $a/$r"
      assert_eq "$(jq -r ".[\"apitap-tick-$r\"] | [.handler, .runtime] | join(\" \")" <<<"$fns")" "tick provided.al2023" "tick in $a/$r"
      assert_eq "$(jq -r ".[\"apitap-api-refresh-$r\"].handler" <<<"$fns")" "api-refresh" "api-refresh in $a/$r"
    done
  done
}

case_sm_second_enable() {
  local before after
  before=$(jq -S 'del(.stacksets[].instances)' "$CASE_DIR/state-after-enable.json")
  run_script enable.sh --env "$SM_ENV" --yes
  assert_eq "$RC" 0 "second enable.sh exit code"
  assert_contains "$OUT" "StackSet apitap is up to date" "second run"
  assert_contains "$OUT" "every target account already has an instance in every region" "second run"
  after=$(state | jq -S 'del(.stacksets[].instances)')
  # Same objects (same LastModified: nothing re-uploaded), same policy, same parameters, no new operation.
  [[ $before == "$after" ]] || {
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") || true
    fail "the second enable changed something"
  }
}

# Installs an aws wrapper that records every call and answers the first call of one subcommand
# with OperationInProgressException, as CloudFormation does while another operation runs.
install_aws_shim() {
  mkdir -p "$CASE_DIR/shim"
  cat >"$CASE_DIR/shim/aws" <<EOF
#!/usr/bin/env bash
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "\$@" >>"$CASE_DIR/aws-calls.jsonl"
if [[ -n "\${SHIM_FAIL_ONCE:-}" && " \$* " == *" \$SHIM_FAIL_ONCE "* && ! -e "$CASE_DIR/shim-failed" ]]; then
  touch "$CASE_DIR/shim-failed"
  echo "An error occurred (OperationInProgressException) when calling the operation: Another Operation on StackSet is in progress" >&2
  exit 255
fi
exec "$REAL_AWS" "\$@"
EOF
  chmod +x "$CASE_DIR/shim/aws"
  : >"$CASE_DIR/aws-calls.jsonl"
  rm -f "$CASE_DIR/shim-failed"
}

case_sm_disable_http() {
  local env="$CASE_DIR/http-off.env" before after
  write_env "$env" ENABLE_HTTP_APIS=false
  before=$(state)
  install_aws_shim
  set +e
  OUT=$(PATH="$CASE_DIR/shim:$PATH" SHIM_FAIL_ONCE=update-stack-set "$ROOT/scripts/disable.sh" --env "$env" --yes 2>&1 </dev/null)
  RC=$?
  set -e
  printf '%s\n' "$OUT"
  assert_eq "$RC" 0 "disable.sh (HTTP off) exit code"
  [[ -e $CASE_DIR/shim-failed ]] || fail "the OperationInProgressException was not injected"
  assert_contains "$OUT" "another operation is running on StackSet apitap; retrying" "retry message"
  assert_eq "$(grep -c '"update-stack-set"' "$CASE_DIR/aws-calls.jsonl")" 2 "update-stack-set calls (one refused, one retried)"
  assert_eq "$(grep -c '"delete-stack-instances"\|"delete-stack-set"\|"create-stack-instances"' "$CASE_DIR/aws-calls.jsonl")" 0 "instance changes"
  after=$(state)
  assert_eq "$(jq -r '.stacksets.apitap.parameters.EnableHttpApis' <<<"$after")" false "EnableHttpApis"
  assert_eq "$(jq -r '.stacksets.apitap.parameters.EnableRestApis' <<<"$after")" true "EnableRestApis"
  assert_eq "$(jq -c '.stacksets.apitap.parameters | del(.EnableHttpApis)' <<<"$after")" \
    "$(jq -c '.stacksets.apitap.parameters | del(.EnableHttpApis)' <<<"$before")" "the other parameters"
  assert_eq "$(jq -r '.stacksets.apitap.instances | length' <<<"$after")" 4 "instances kept"
  assert_eq "$(jq -c '.buckets' <<<"$after")" "$(jq -c '.buckets' <<<"$before")" "artifacts untouched"
}

case_sm_enable_again() {
  run_script enable.sh --env "$SM_ENV" --yes
  assert_eq "$RC" 0 "enable.sh exit code"
  assert_contains "$OUT" "updating StackSet apitap (template unchanged, parameters changed)" "update message"
  STATE=$(state)
  assert_eq "$(jq_state '.stacksets.apitap.parameters.EnableHttpApis')" true "EnableHttpApis back on"
  assert_eq "$(jq_state '.stacksets.apitap.instances | length')" 4 "instances"
}

case_sm_disable_all() {
  local env="$CASE_DIR/off.env"
  write_env "$env" ENABLE_HTTP_APIS=false ENABLE_REST_APIS=false
  run_script disable.sh --env "$env" --yes
  assert_eq "$RC" 0 "disable.sh (both off) exit code"
  STATE=$(state)
  assert_eq "$(jq_state '.stacksets | keys | length')" 0 "StackSets left"
  assert_eq "$(jq_state '.buckets | keys | map(select(contains("#") | not)) | length')" 2 "buckets kept by disable"
  local fns
  fns=$(python3 "$HERE/moto_helper.py" functions 111111111111 eu-west-1)
  assert_eq "$fns" "{}" "functions left in 111111111111/eu-west-1"
  run_script disable.sh --env "$env" --yes
  assert_eq "$RC" 0 "disable.sh again"
  assert_contains "$OUT" "nothing to disable" "disable.sh again"
}

case_sm_teardown_refuses() {
  set +e
  OUT=$(setsid "$ROOT/scripts/teardown.sh" --env "$SM_ENV" 2>&1 </dev/null)
  RC=$?
  set -e
  printf '%s\n' "$OUT"
  [[ $RC != 0 ]] || fail "teardown.sh without --yes and without a terminal succeeded"
  assert_contains "$OUT" "no terminal to ask on" "refusal"
  STATE=$(state)
  assert_eq "$(jq_state '.buckets | keys | map(select(contains("#") | not)) | length')" 2 "buckets after a refused teardown"
}

case_sm_teardown() {
  run_script teardown.sh --env "$SM_ENV" --yes
  assert_eq "$RC" 0 "teardown.sh exit code"
  STATE=$(state)
  assert_eq "$(jq_state '.buckets | length')" 0 "buckets (and objects) left"
  assert_eq "$(jq_state '.stacksets | length')" 0 "StackSets left"
  run_script teardown.sh --env "$SM_ENV" --yes
  assert_eq "$RC" 0 "teardown.sh re-run exit code"
}

# A teardown interrupted after the StackSet went and one bucket was emptied: the re-run removes the rest,
# including a bucket of a region no longer in AWS_REGIONS.
case_teardown_after_partial_failure() {
  sm_prepare
  python3 "$HERE/moto_helper.py" seed-buckets apitap-test us-east-1:apitap/apitap.json,state/111111111111/x.json \
    eu-west-1: ap-southeast-2:apitap/apitap-0123456789ab.zip
  run_script teardown.sh --env "$SM_ENV" --yes
  assert_eq "$RC" 0 "teardown.sh exit code"
  assert_contains "$OUT" "deleting bucket apitap-test-ap-southeast-2" "bucket outside AWS_REGIONS"
  STATE=$(state)
  assert_eq "$(jq_state '.buckets | length')" 0 "buckets left"
}

# ---------------------------------------------------------------- validation cases
bad_env_case() { # bad_env_case EXPECTED-MESSAGE ENV-FILE [EXTRA-ENV...]
  local expect=$1 env=$2
  shift 2
  set +e
  OUT=$(env "$@" "$ROOT/scripts/enable.sh" --env "$env" --yes 2>&1 </dev/null)
  RC=$?
  set -e
  printf '%s\n' "$OUT"
  [[ $RC != 0 ]] || fail "enable.sh accepted a bad .env"
  assert_contains "$OUT" "$expect" "error message"
  assert_contains "$OUT" "nothing was created" "error message"
  assert_nothing_created
}

case_bad_missing_file() {
  bad_env_case "settings file $CASE_DIR/does-not-exist.env does not exist" "$CASE_DIR/does-not-exist.env"
}
case_bad_neither_kind() {
  sm_prepare
  write_env "$CASE_DIR/e.env" ENABLE_REST_APIS=false ENABLE_HTTP_APIS=false
  bad_env_case "ENABLE_REST_APIS and ENABLE_HTTP_APIS are both false" "$CASE_DIR/e.env"
}
case_bad_placeholder_credentials() {
  sm_prepare
  write_env "$CASE_DIR/e.env" UAP_CLIENT_ID=CHANGE_ME UAP_CLIENT_SECRET=CHANGE_ME
  bad_env_case "UAP_CLIENT_SECRET still holds a placeholder value" "$CASE_DIR/e.env"
  assert_contains "$OUT" "UAP_CLIENT_ID still holds a placeholder value" "both credentials reported"
}
case_bad_empty_endpoint() {
  sm_prepare
  write_env "$CASE_DIR/e.env" UAP_TRANSACTIONS_URL=
  bad_env_case "UAP_TRANSACTIONS_URL is empty" "$CASE_DIR/e.env"
}
case_bad_region() {
  sm_prepare
  write_env "$CASE_DIR/e.env" "AWS_REGIONS=us-east-1,xx-north-9,eu_west_1"
  bad_env_case "AWS_REGIONS: xx-north-9 is not a region enabled in account" "$CASE_DIR/e.env"
  assert_contains "$OUT" "AWS_REGIONS: 'eu_west_1' is not a region name" "second bad region"
}
case_bad_delivery_mode() {
  sm_prepare
  write_env "$CASE_DIR/e.env" DELIVERY_MODE=subscription FAILURE_DESTINATION=none
  bad_env_case "DELIVERY_MODE=subscription needs a FAILURE_DESTINATION" "$CASE_DIR/e.env"
  write_env "$CASE_DIR/e.env" DELIVERY_MODE=push FAILURE_DESTINATION=arn:aws:sqs:us-east-1:123456789012:q.fifo
  bad_env_case "DELIVERY_MODE must be one of: poll subscription (got 'push')" "$CASE_DIR/e.env"
  assert_contains "$OUT" "FAILURE_DESTINATION must be create, none, a standard SQS queue ARN or an S3 bucket ARN" "a FIFO queue is refused"
}
case_bad_unreadable_csv() {
  sm_prepare
  write_env "$CASE_DIR/e.env" ACCOUNTS_FILE=no-such-accounts.csv
  bad_env_case "ACCOUNTS_FILE: $CASE_DIR/no-such-accounts.csv is not a readable file" "$CASE_DIR/e.env"
}
case_bad_aws_missing() {
  sm_prepare
  write_env "$CASE_DIR/e.env"
  # A PATH with every tool the scripts use except aws.
  local bin="$CASE_DIR/noaws-bin" t
  mkdir -p "$bin"
  for t in bash env jq sed awk grep tr cat mktemp rm date sleep sort cut head tail wc md5sum dirname basename column find; do
    if command -v "$t" >/dev/null 2>&1; then ln -sf "$(command -v "$t")" "$bin/$t"; fi
  done
  bad_env_case "the aws CLI is not installed or not on PATH" "$CASE_DIR/e.env" PATH="$bin"
}
case_bad_many_problems_at_once() {
  sm_prepare
  write_env "$CASE_DIR/e.env" UAP_TOKEN_URL=http://uap.test/token LOG_RETENTION_DAYS=13 ENABLE_REST_APIS=maybe \
    UAP_PAYLOAD_FORMAT=json UAP_CONTENT_ENCODING=br MAX_BATCH_TRANSACTIONS=0
  printf 'this line is not a setting\n' >>"$CASE_DIR/e.env"
  local n
  n=$(wc -l <"$CASE_DIR/e.env")
  bad_env_case "e.env line $n: not a KEY=VALUE line" "$CASE_DIR/e.env"
  assert_contains "$OUT" "UAP_TOKEN_URL is not an https:// URL" "bad URL"
  assert_contains "$OUT" "LOG_RETENTION_DAYS must be one of" "bad retention"
  assert_contains "$OUT" "ENABLE_REST_APIS must be true or false" "bad boolean"
  assert_contains "$OUT" "UAP_PAYLOAD_FORMAT must be one of: edge native (got 'json')" "bad payload format"
  assert_contains "$OUT" "UAP_CONTENT_ENCODING must be one of: identity gzip (got 'br')" "bad content encoding"
  assert_contains "$OUT" "MAX_BATCH_TRANSACTIONS must be a whole number from 1 to 10000" "bad batch count"
  assert_contains "$OUT" "7 problem(s)" "problem count"
}
# The reference integration's names stand for ours: their values are checked as ours, and naming one setting twice
# (once by each name) is refused.
case_env_aliases() {
  sm_prepare
  write_env "$CASE_DIR/e.env" cequence_log_level=loud cequence_is_aws_organization_deployment=False \
    cequence_auth_endpoint_url=https://uap.test/other-token
  bad_env_case "LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL (got 'loud'" "$CASE_DIR/e.env"
  assert_contains "$OUT" "UAP_TOKEN_URL is already set on line" "an alias and our name for one setting"
  assert_contains "$OUT" "2 problem(s)" "False is read as false for ORGANIZATION_DEPLOYMENT; nothing else is wrong"
  [[ $OUT != *"unknown setting cequence_"* ]] || fail "an alias was reported as an unknown setting"
}

# A file that is not a CSV of accounts is never echoed: line numbers and the start of the first bad value only.
case_bad_accounts_not_csv() {
  sm_prepare
  printf 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n' \
    >"$CASE_DIR/passwd"
  write_env "$CASE_DIR/e.env" ACCOUNTS_FILE=passwd
  bad_env_case "ACCOUNTS_FILE: line(s) 1, 2, 3: not 12-digit account ids (the first bad value starts 'root:x:0:0:root:/root:/b')" "$CASE_DIR/e.env"
  assert_not_contains "$OUT" "daemon" "the second line is not echoed"
  assert_not_contains "$OUT" "/bin/bash" "the first line is not echoed whole"
}
# The client secret never stands on a command line (ps shows every process's arguments to every user).
case_secret_off_command_lines() {
  sm_prepare
  install_aws_shim
  printf '#!/usr/bin/env bash\nprintf "%%s\\n" "$*" >>"%s"\nexec "%s" "$@"\n' "$CASE_DIR/jq-calls.log" "$(command -v jq)" >"$CASE_DIR/shim/jq"
  chmod +x "$CASE_DIR/shim/jq"
  : >"$CASE_DIR/jq-calls.log"
  set +e
  OUT=$(PATH="$CASE_DIR/shim:$PATH" "$ROOT/scripts/enable.sh" --env "$SM_ENV" --yes 2>&1 </dev/null)
  RC=$?
  set -e
  assert_eq "$RC" 0 "enable.sh exit code"
  STATE=$(state)
  assert_eq "$(jq_state '.stacksets.apitap.parameters.UapClientSecret')" 's3cr3t value # with a hash' "the secret still reaches the StackSet"
  [[ -s $CASE_DIR/jq-calls.log ]] || fail "the jq shim was never called"
  assert_not_contains "$(cat "$CASE_DIR/jq-calls.log")" "s3cr3t value" "jq's command lines"
  assert_not_contains "$(cat "$CASE_DIR/aws-calls.jsonl")" "s3cr3t value" "aws' command lines"
}
# The shipped example parses (no malformed line, no unknown key) and its placeholders are refused.
case_env_example() {
  make_zip "$CASE_DIR/apitap.zip"
  sed "s|^PACKAGE_ZIP=.*|PACKAGE_ZIP=$CASE_DIR/apitap.zip|" "$ROOT/template/env.example" >"$CASE_DIR/example.env"
  cp "$ROOT/template/accounts.csv" "$CASE_DIR/accounts.csv"
  sed -i 's|^ACCOUNTS_FILE=.*|ACCOUNTS_FILE=accounts.csv|' "$CASE_DIR/example.env"
  bad_env_case "UAP_CLIENT_ID still holds a placeholder value" "$CASE_DIR/example.env"
  assert_contains "$OUT" "4 problem(s)" "only the four placeholders are problems"
  assert_contains "$OUT" "UAP_TRANSACTIONS_URL still holds a placeholder value" "URL placeholder"
  [[ $OUT != *"unknown setting"* && $OUT != *"not a KEY=VALUE"* ]] || fail "env.example has lines the parser does not understand"
}

case_missing_zip() {
  sm_prepare
  write_env "$CASE_DIR/e.env" PACKAGE_ZIP="$CASE_DIR/nope/apitap.zip"
  bad_env_case "the Lambda package $CASE_DIR/nope/apitap.zip does not exist" "$CASE_DIR/e.env"
}

case_upload_only() {
  sm_prepare
  write_env "$CASE_DIR/e.env" AUTO_CREATE_STACKSET=false AWS_REGIONS=eu-west-1 API_AUTO_DISCOVERY=false API_LIST_FILE="$ROOT/template/api-list.example.json"
  run_script enable.sh --env "$CASE_DIR/e.env" --yes
  assert_eq "$RC" 0 "enable.sh exit code"
  STATE=$(state)
  # The StackSet region's bucket holds the template the StackSet would read.
  assert_eq "$(jq_state '.buckets | keys | map(select(contains("#") | not)) | join(" ")')" "apitap-test-eu-west-1 apitap-test-us-east-1" "buckets"
  assert_eq "$(jq_state '.buckets["apitap-test-eu-west-1"] | has("apitap/api-list.json")')" true "API list uploaded"
  assert_eq "$(jq_state '.stacksets | length')" 0 "StackSets"
  assert_contains "$OUT" "template URL: https://apitap-test-us-east-1.s3.amazonaws.com/apitap/apitap.json" "console hint"
}

# ---------------------------------------------------------------- service-managed cases
# moto's service-managed StackSets create an instance for every account of the target OUs and of their
# direct child OUs; they ignore AccountFilterType (INTERSECTION/DIFFERENCE) and never skip the management
# account. So for the filters these cases check what enable.sh plans and what it asks CloudFormation for
# (the DeploymentTargets of the recorded create-stack-instances call), and that the instances moto made
# cover the planned accounts and nothing outside the targeted OU; moto cannot show the filtering itself.
# moto also fails service-managed instances whose template has a custom resource (it looks the hidden
# stack up in the wrong place), so these .env files say logging is already on: no Custom::EnableLogging.
ORG_JSON=""
org_prepare() { # org_prepare FILTER-TYPE [JQ-PATH-OF-A-FILTER-ACCOUNT...], e.g. '.accounts.workloads[1]'
  local ftype=$1 ou p
  shift
  make_zip "$CASE_DIR/apitap.zip"
  ORG_JSON=$(python3 "$HERE/moto_helper.py" org-setup)
  ou=$(jq -r .ous.workloads <<<"$ORG_JSON")
  printf 'ou_id\n%s\n' "$ou" >"$CASE_DIR/ous.csv"
  printf 'account_id\n' >"$CASE_DIR/filter.csv"
  for p in "$@"; do jq -r "$p" <<<"$ORG_JSON" >>"$CASE_DIR/filter.csv"; done
  write_env "$CASE_DIR/org.env" AWS_REGIONS=eu-west-1 STACKSET_REGION=eu-west-1 ORGANIZATION_DEPLOYMENT=true \
    ORGANIZATION_ID="$(jq -r .org_id <<<"$ORG_JSON")" OU_TARGETS_FILE=ous.csv ACCOUNTS_FILE= \
    ACCOUNT_FILTER_TYPE="$ftype" ACCOUNT_FILTER_FILE=filter.csv \
    REST_EXECUTION_LOGS_ALREADY_ENABLED=true HTTP_ACCESS_LOGS_ALREADY_ENABLED=true
  export STACKSET_REGION=eu-west-1 # where moto_helper.py state looks for StackSets
  install_aws_shim
  set +e
  OUT=$(PATH="$CASE_DIR/shim:$PATH" "$ROOT/scripts/enable.sh" --env "$CASE_DIR/org.env" --yes 2>&1 </dev/null)
  RC=$?
  set -e
  printf '%s\n' "$OUT"
  assert_eq "$RC" 0 "enable.sh (service-managed $ftype) exit code"
  STATE=$(state)
  assert_eq "$(jq_state '.stacksets.apitap.permission_model')" SERVICE_MANAGED "permission model"
  assert_eq "$(jq_state '.buckets["apitap-test-eu-west-1#policy"].Statement[0].Condition.StringEquals["aws:PrincipalOrgID"]')" \
    "$(jq -r .org_id <<<"$ORG_JSON")" "bucket policy scoped to the organization"
  assert_eq "$(jq_state '.buckets | keys | map(select(contains("#") | not)) | join(" ")')" apitap-test-eu-west-1 "buckets"
}
# sent_targets: the DeploymentTargets enable.sh sent with create-stack-instances.
sent_targets() {
  jq -c 'select(index("create-stack-instances")) | .[index("--deployment-targets") + 1] | fromjson' "$CASE_DIR/aws-calls.jsonl"
}
instance_accounts() { jq_state '[.stacksets.apitap.instances[] | split("/")[0]] | unique | join(" ")'; }
org() { jq -r "$1" <<<"$ORG_JSON"; }
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }

case_org_none() {
  org_prepare NONE
  local ou
  ou=$(org .ous.workloads)
  assert_contains "$OUT" "accounts that will get instances: $(sorted "$(org '.accounts.workloads[0]')" "$(org '.accounts.workloads[1]')" "$(org '.accounts.workloads[2]')")" "plan"
  assert_eq "$(sent_targets)" "{\"OrganizationalUnitIds\":[\"$ou\"]}" "DeploymentTargets sent"
  assert_eq "$(instance_accounts)" "$(org '.accounts.workloads | sort | join(" ")')" "accounts with instances"
  [[ " $(instance_accounts) " != *" $(org .management) "* ]] || fail "the management account got an instance"
  # Idempotent here too: a second run creates nothing.
  run_script enable.sh --env "$CASE_DIR/org.env" --yes
  assert_eq "$RC" 0 "second enable.sh"
  assert_contains "$OUT" "every planned account already has an instance in every region" "second run"
}

case_org_intersection() {
  # The filter names one account inside the OU and one outside it: only the first may get an instance.
  org_prepare INTERSECTION '.accounts.workloads[1]' '.accounts.other[0]'
  local w1 o0 ou
  w1=$(org '.accounts.workloads[1]') o0=$(org '.accounts.other[0]') ou=$(org .ous.workloads)
  assert_contains "$OUT" "accounts that will get instances: $w1"$'\n' "plan (only the listed account inside the OU)"
  assert_eq "$(sent_targets)" "{\"OrganizationalUnitIds\":[\"$ou\"],\"AccountFilterType\":\"INTERSECTION\",\"Accounts\":[\"$w1\",\"$o0\"]}" "DeploymentTargets sent"
  assert_contains " $(instance_accounts) " " $w1 " "the planned account has an instance"
  [[ " $(instance_accounts) " != *" $o0 "* ]] || fail "an account outside the OU got an instance"
}

case_org_difference() {
  org_prepare DIFFERENCE '.accounts.workloads[0]'
  local w0 ou
  w0=$(org '.accounts.workloads[0]') ou=$(org .ous.workloads)
  assert_contains "$OUT" "accounts that will get instances: $(sorted "$(org '.accounts.workloads[1]')" "$(org '.accounts.workloads[2]')")"$'\n' "plan (the OU minus the listed account)"
  assert_eq "$(sent_targets)" "{\"OrganizationalUnitIds\":[\"$ou\"],\"AccountFilterType\":\"DIFFERENCE\",\"Accounts\":[\"$w0\"]}" "DeploymentTargets sent"
  assert_contains " $(instance_accounts) " " $(org '.accounts.workloads[1]') " "planned account 1 has an instance"
  assert_contains " $(instance_accounts) " " $(org '.accounts.workloads[2]') " "planned account 2 has an instance"
  [[ " $(instance_accounts) " != *" $(org '.accounts.other[0]') "* ]] || fail "an account outside the OU got an instance"
}

# ---------------------------------------------------------------- plain stack
# moto never completes a stack whose custom resource gets no answer (nothing serves enable-logging here),
# so this stack says logging is already on: the template then has no custom resource.
case_plain_stack() {
  make_zip "$CASE_DIR/apitap.zip"
  printf 'account_id\n111111111111\n' >"$CASE_DIR/accounts.csv"
  write_env "$CASE_DIR/e.env" STACK_REGION=eu-west-1 STACK_NAME=apitap-mgmt \
    REST_EXECUTION_LOGS_ALREADY_ENABLED=true HTTP_ACCESS_LOGS_ALREADY_ENABLED=true
  run_script deploy-stack.sh --env "$CASE_DIR/e.env" --yes
  assert_eq "$RC" 0 "deploy-stack.sh exit code"
  assert_contains "$OUT" "stack apitap-mgmt: CREATE_COMPLETE" "stack status"
  local fns
  fns=$(python3 "$HERE/moto_helper.py" functions 123456789012 eu-west-1)
  assert_eq "$(jq -r 'keys | join(" ")' <<<"$fns")" "apitap-tick-eu-west-1" "functions in the management account"
  assert_eq "$(jq -r '.["apitap-tick-eu-west-1"].env | index("UAP_CLIENT_SECRET") == null' <<<"$fns")" true "no plain secret in the environment"
  run_script deploy-stack.sh --env "$CASE_DIR/e.env" --yes
  assert_eq "$RC" 0 "second deploy-stack.sh exit code"
  assert_contains "$OUT" "stack apitap-mgmt is up to date" "second run"
  run_script deploy-stack.sh --env "$CASE_DIR/e.env" --yes --delete
  assert_eq "$RC" 0 "deploy-stack.sh --delete exit code"
  fns=$(python3 "$HERE/moto_helper.py" functions 123456789012 eu-west-1)
  assert_eq "$fns" "{}" "functions after --delete"
}

# ---------------------------------------------------------------- replay-failures.sh
# moto cannot run a function (every invoke answers FunctionError=Handled): `aws lambda invoke` goes to a strict stub
# (lambda_invoke_stub.py; unless STUB_FUNCTION is empty) through an `aws` first on PATH that hands every other call to
# the real CLI and moto. The aws CLI v1 ignores AWS_ENDPOINT_URL for SQS (it keeps queue.amazonaws.com): the shim
# gives SQS calls --endpoint-url.
REPLAY_FN=apitap-awslogs-us-east-1
REPLAY_ARN=arn:aws:lambda:us-east-1:123456789012:function:apitap-awslogs-us-east-1
replay_stub_path() {
  mkdir -p "$CASE_DIR/bin"
  cat >"$CASE_DIR/bin/aws" <<EOF
#!/usr/bin/env bash
for ((i = 1; i < \$#; i++)); do
  j=\$((i + 1))
  if [[ \${!i} == lambda && \${!j} == invoke && -n \${STUB_FUNCTION:-} ]]; then exec python3 "$HERE/lambda_invoke_stub.py" "\$@"; fi
  if [[ \${!i} == sqs ]]; then exec "$REAL_AWS" --endpoint-url "\$AWS_ENDPOINT_URL" "\$@"; fi
done
exec "$REAL_AWS" "\$@"
EOF
  chmod +x "$CASE_DIR/bin/aws"
  export PATH="$CASE_DIR/bin:$PATH" STUB_FUNCTION=$REPLAY_FN STUB_LOG="$CASE_DIR/invocations.ndjson"
  : >"$STUB_LOG"
}
record() { python3 "$HERE/failure_records.py" "$@"; }
run_replay() { # run_replay ARGS...: scripts/replay-failures.sh; output in $OUT, exit code in $RC
  set +e
  OUT=$("$ROOT/scripts/replay-failures.sh" "$@" 2>&1 </dev/null)
  RC=$?
  set -e
  printf -- '--- replay-failures.sh %s (rc=%s)\n%s\n' "$*" "$RC" "$OUT"
}
queue_count() { # messages left, visible or not
  aws sqs get-queue-attributes --queue-url "$1" --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
    --query 'Attributes.[ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible]' --output text | awk '{print $1 + $2}'
}
replayed_groups() {
  local d
  jq -r '.payload.awslogs.data' "$STUB_LOG" | while read -r d; do base64 -d <<<"$d" | gzip -dc | jq -r .logGroup; done | sort | tr '\n' ' '
}

case_replay_sqs() {
  replay_stub_path
  local q a b p m
  q=$(aws sqs create-queue --queue-name apitap-tick-failures-us-east-1 --query QueueUrl --output text)
  a=$(record "$REPLAY_ARN" API-Gateway-Execution-Logs_a1/prod 3)
  b=$(record "$REPLAY_ARN" /aws/apigateway/apitap-http-access 2)
  p=$(record "$REPLAY_ARN" API-Gateway-Execution-Logs_a1/poison 1)
  for m in "$a" "$b" "$p" "$(record arn:aws:lambda:us-east-1:123456789012:function:apitap-tick-us-east-1 x)" 'not a record'; do
    aws sqs send-message --queue-url "$q" --message-body "$m" >/dev/null
  done
  run_replay --function "$REPLAY_FN" --queue-url "$q" --dry-run
  assert_eq "$RC" 0 "--dry-run exit code"
  assert_contains "$OUT" "log group API-Gateway-Execution-Logs_a1/prod, 3 event(s)" "listing of an awslogs record"
  assert_contains "$OUT" "RetriesExhausted" "listing shows the condition"
  assert_contains "$OUT" "a record of apitap-tick-us-east-1, not $REPLAY_FN: left in place" "another function's record"
  assert_contains "$OUT" "3 record(s) of $REPLAY_FN listed, 2 left alone" "dry-run summary"
  assert_eq "$(wc -l <"$STUB_LOG")" 0 "--dry-run invokes nothing"
  assert_eq "$(queue_count "$q")" 5 "--dry-run deletes nothing"

  run_replay --function "$REPLAY_ARN" --queue-url "$q" --region us-east-1
  assert_eq "$RC" 1 "exit code with one failed replay"
  assert_contains "$OUT" "2 replayed and deleted, 1 failed and kept, 2 left alone" "summary"
  assert_contains "$OUT" "Function.DeliveryFailed" "the failed invocation's error is shown"
  assert_eq "$(replayed_groups)" "/aws/apigateway/apitap-http-access API-Gateway-Execution-Logs_a1/poison API-Gateway-Execution-Logs_a1/prod " \
    "the invoked payloads are the records' awslogs events"
  assert_eq "$(jq -s -c --argjson a "$a" --argjson b "$b" '[.[].payload] - [$a.requestPayload, $b.requestPayload] | length' "$STUB_LOG")" 1 \
    "payloads sent exactly as recorded"
  assert_eq "$(queue_count "$q")" 3 "only the replayed messages are deleted (the failed one, another function's and the stray stay)"

  # The same record against moto's own Lambda, which cannot run code: the failure keeps the message.
  local q2
  q2=$(aws sqs create-queue --queue-name replay-moto --query QueueUrl --output text)
  aws sqs send-message --queue-url "$q2" --message-body "$a" >/dev/null
  make_zip "$CASE_DIR/fn.zip"
  aws iam create-role --role-name fn --assume-role-policy-document '{"Version":"2012-10-17","Statement":[]}' >/dev/null
  aws lambda create-function --function-name "$REPLAY_FN" --runtime provided.al2023 --handler awslogs \
    --role arn:aws:iam::123456789012:role/fn --zip-file "fileb://$CASE_DIR/fn.zip" >/dev/null
  set +e
  OUT=$(STUB_FUNCTION='' "$ROOT/scripts/replay-failures.sh" --function "$REPLAY_FN" --queue-url "$q2" 2>&1 </dev/null)
  RC=$?
  set -e
  printf -- '--- against moto lambda (rc=%s)\n%s\n' "$RC" "$OUT"
  assert_eq "$RC" 1 "exit code when moto's invoke reports a FunctionError"
  assert_contains "$OUT" "0 replayed and deleted, 1 failed and kept" "a FunctionError is a failure"
  assert_eq "$(queue_count "$q2")" 1 "the message stays"
}

case_replay_s3() {
  replay_stub_path
  aws s3 mb s3://apitap-failures >/dev/null
  record "$REPLAY_ARN" API-Gateway-Execution-Logs_a1/prod | aws s3 cp - s3://apitap-failures/failed/one.json >/dev/null
  record "$REPLAY_ARN" API-Gateway-Execution-Logs_a1/poison | aws s3 cp - s3://apitap-failures/failed/two.json >/dev/null
  record arn:aws:lambda:us-east-1:123456789012:function:other x | aws s3 cp - s3://apitap-failures/failed/three.json >/dev/null
  record "$REPLAY_ARN" API-Gateway-Execution-Logs_a1/elsewhere | aws s3 cp - s3://apitap-failures/other/four.json >/dev/null
  run_replay --function "$REPLAY_FN" --bucket arn:aws:s3:::apitap-failures --prefix failed/ --dry-run
  assert_eq "$RC" 0 "--dry-run exit code"
  assert_contains "$OUT" "2 record(s) of $REPLAY_FN listed, 1 left alone" "dry-run summary"
  run_replay --function "$REPLAY_FN" --bucket apitap-failures --prefix failed/
  assert_eq "$RC" 1 "exit code with one failed replay"
  assert_contains "$OUT" "1 replayed and deleted, 1 failed and kept, 1 left alone" "summary"
  assert_eq "$(replayed_groups)" "API-Gateway-Execution-Logs_a1/poison API-Gateway-Execution-Logs_a1/prod " "invoked payloads"
  assert_eq "$(aws s3api list-objects-v2 --bucket apitap-failures --query 'Contents[].Key' --output text | tr '\t' ' ')" \
    "failed/three.json failed/two.json other/four.json" "the replayed object is deleted; the failed one, another function's and one outside the prefix stay"
}

case_replay_bad_arguments() {
  run_replay --function 'apitap; rm -rf /' --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/q
  assert_eq "$RC" 2 "a function name with shell characters"
  assert_contains "$OUT" "--function must be a function name or ARN" "message"
  run_replay --function f --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/q --bucket b1
  assert_eq "$RC" 2 "both sources"
  assert_contains "$OUT" "give exactly one of --queue-url and --bucket" "message"
  run_replay --function f --queue-url 'file:///etc/passwd' --max 0 --region moon
  assert_eq "$RC" 2 "bad URL, count and region at once"
  assert_contains "$OUT" "--queue-url must be an SQS queue URL" "URL message"
  assert_contains "$OUT" "--max must be a number" "max message"
  assert_contains "$OUT" "--region: 'moon' is not a region name" "region message"
}

# Two lanes, each with its own moto_server, run side by side (the aws CLI costs ~0.5 s of CPU per call).
lane_a() {
  start_moto a || return 1
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
    "bad .env: missing file|case_bad_missing_file" \
    "bad .env: aws CLI missing from PATH|case_bad_aws_missing"
}

lane_b() {
  start_moto b || return 1
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
  local t0=$SECONDS lane pids=()
  for lane in a b; do
    (
      RESULTS="$TMP/results-$lane"
      : >"$RESULTS"
      "lane_$lane" || printf 'FAIL\tlane %s could not run\n' "$lane" >>"$RESULTS"
    ) >"$TMP/lane-$lane.out" 2>&1 &
    pids+=($!)
  done
  local pid
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  cat "$TMP/lane-a.out" "$TMP/lane-b.out"
  PASSED=$(cat "$TMP"/results-* | grep -c '^ok' || true)
  FAILED=$(cat "$TMP"/results-* | grep -c '^FAIL' || true)
  echo
  if ((FAILED)); then grep '^FAIL' "$TMP"/results-* | cut -f2- | sed 's/^/failed: /'; fi
  printf 'time: %ds\n' $((SECONDS - t0))
  printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
  ((FAILED == 0 && PASSED > 0))
}

fresh_case_dir() {
  CASE_DIR="$TMP/case-$RANDOM$RANDOM"
  mkdir -p "$CASE_DIR"
}

main "$@"
