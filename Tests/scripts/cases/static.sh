# shellcheck shell=bash disable=SC2154,SC2034  # sourced by Tests/scripts/run.sh, which sets ROOT, HERE and the helpers
# Static checks of template/ and scripts/: cfn-lint, shellcheck, IAM statements, template norms and contract.

case_cfn_lint() {
  local t templates=()
  for t in "$ROOT"/template/*.json; do
    jq -e 'type == "object" and has("Resources")' "$t" >/dev/null && templates+=("$t")
  done
  ((${#templates[@]} >= 1)) || case_fail "no template found"
  printf 'templates: %s\n' "${templates[*]}"
  cfn-lint --include-checks I -- "${templates[@]}"
}

case_shellcheck() {
  local files=()
  mapfile -t files < <(find "$ROOT/scripts" "$ROOT/Tests/scripts" -name '*.sh' -type f | sort)
  ((${#files[@]} >= 5)) || case_fail "expected the scripts, found ${#files[@]} files"
  printf '%s\n' "${files[@]}"
  (cd "$ROOT" && shellcheck -x "${files[@]}")
}

# Every IAM statement of both templates, with every combination of conditions: no wildcard action, no "*" resource
# beyond the log-delivery actions AWS allows only on "*" (checkov skips statements built with Fn::If).
case_iam_statements() {
  local out
  out=$(python3 "$HERE/iam_check.py" "$ROOT/template/apitap.json" "$ROOT/template/audit-export.json" "$ROOT/template/posture.json" 2>&1) ||
    case_fail "IAM statements: $out"
  assert_contains "$out" "0 problem(s)" "IAM check summary"
}

# KMS option, access logging, on-failure destinations: what cfn-lint and checkov do not check (issue 11).
case_template_norms() {
  local out
  out=$(cd "$HERE" && python3 template_norms.py "$ROOT/template/apitap.json" "$ROOT/template/audit-export.json" "$ROOT/template/posture.json" 2>&1) ||
    case_fail "template norms: $out"
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
