# shellcheck shell=bash disable=SC2154,SC2034  # sourced by Tests/scripts/run.sh, which sets ROOT, HERE and the helpers
# Bad .env files: every problem reported at once, nothing created; aliases, secrets off command lines, env.example.

bad_env_case() { # bad_env_case EXPECTED-MESSAGE ENV-FILE [EXTRA-ENV...]
  local expect=$1 env=$2
  shift 2
  set +e
  OUT=$(env "$@" "$ROOT/scripts/enable.sh" --env "$env" --yes 2>&1 </dev/null)
  RC=$?
  set -e
  printf '%s\n' "$OUT"
  [[ $RC != 0 ]] || case_fail "enable.sh accepted a bad .env"
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
  [[ $OUT != *"unknown setting cequence_"* ]] || case_fail "an alias was reported as an unknown setting"
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
  [[ -s $CASE_DIR/jq-calls.log ]] || case_fail "the jq shim was never called"
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
  [[ $OUT != *"unknown setting"* && $OUT != *"not a KEY=VALUE"* ]] || case_fail "env.example has lines the parser does not understand"
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
