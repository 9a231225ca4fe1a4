# shellcheck shell=bash disable=SC2154,SC2034  # sourced by Tests/scripts/run.sh, which sets ROOT, HERE and the helpers
# The self-managed StackSet scenario, step by step on one moto state, and teardown after a partial failure.

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
    case_fail "the second enable changed something"
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
  [[ -e $CASE_DIR/shim-failed ]] || case_fail "the OperationInProgressException was not injected"
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
  [[ $RC != 0 ]] || case_fail "teardown.sh without --yes and without a terminal succeeded"
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

# With the Flex Gateway source on, switching both API Gateway kinds off keeps the StackSet (its functions read
# Flex's lines too); FLEX_SOURCE=none as well removes it.
case_disable_keeps_flex() {
  sm_prepare
  local env="$CASE_DIR/flex.env" off="$CASE_DIR/flex-off.env" none="$CASE_DIR/none.env"
  write_env "$env" FLEX_SOURCE=cloudwatch
  write_env "$off" FLEX_SOURCE=cloudwatch ENABLE_REST_APIS=false ENABLE_HTTP_APIS=false
  write_env "$none" FLEX_SOURCE=none ENABLE_REST_APIS=false ENABLE_HTTP_APIS=false
  run_script enable.sh --env "$env" --yes
  assert_eq "$RC" 0 "enable.sh with FLEX_SOURCE=cloudwatch"
  run_script disable.sh --env "$off" --yes
  assert_eq "$RC" 0 "disable.sh, both kinds off, Flex on"
  assert_contains "$OUT" "the StackSet stays for the Flex Gateway source" "message"
  STATE=$(state)
  assert_eq "$(jq_state '.stacksets.apitap.parameters | [.EnableRestApis, .EnableHttpApis, .FlexSource] | join(" ")')" \
    "false false cloudwatch" "parameters after disable"
  assert_eq "$(jq_state '.stacksets.apitap.instances | length')" 4 "instances kept"
  run_script disable.sh --env "$none" --yes
  assert_eq "$RC" 0 "disable.sh, both kinds off, FLEX_SOURCE=none"
  assert_contains "$OUT" "also collects Flex Gateway logs (FlexSource=cloudwatch)" "warning"
  STATE=$(state)
  assert_eq "$(jq_state '.stacksets | keys | length')" 0 "StackSets left"
}
