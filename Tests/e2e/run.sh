#!/usr/bin/env bash
# End-to-end tests of the deployment pieces, against real local peers (no fakes of our own on the AWS side):
#  moto       the enable-logging custom resource (`apitap invoke --handler enable-logging`) against moto_server's
#             API Gateway and S3, answering a local stand-in for CloudFormation's pre-signed ResponseURL;
#  ministack  template/apitap.json deployed as a plain stack in ministack (functions, roles, secret, schedule and the
#             custom resource, which ministack invokes and waits for), then `aws lambda invoke` of the tick: the
#             packaged bootstrap pulls logs seeded in moto and delivers them to the strict UAP double over HTTPS;
#             and template/audit-export.json, whose function exports the Anypoint double's entries to S3 (moto) and a file.
# Usage: Tests/e2e/run.sh [moto|ministack]   (default: both). Needs the release binary and the zip (make package);
# APITAP_BIN and APITAP_ZIP override their paths. Prints "N passed, N failed"; exits non-zero on any failure.
# shellcheck disable=SC2016  # jq and JMESPath programs are single-quoted on purpose
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/Tests/e2e"
bin="${APITAP_BIN:-$root/.build/release/apitap}"
zip_path="${APITAP_ZIP:-$root/.build/lambda/apitap.zip}"
work=$(mktemp -d /tmp/apitap-e2e-test.XXXXXX)
# shellcheck source=Tests/lib.sh
. "$root/Tests/lib.sh"

check() { # check NAME COMMAND...: pass when the command succeeds
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name" "${CHECK_DETAIL:-}"; fi
  CHECK_DETAIL=""
}
wait_port() { wait_for_port "$@"; }

# Helpers run in this shell (never inside $(...), whose `pids+=` would be lost) and report through STARTED.
STARTED=""
start_moto_here() { # sets STARTED to the endpoint (not lib.sh start_moto: the suite needs several servers)
  local port
  port=$(free_port)
  moto_server -H 127.0.0.1 -p "$port" >"$work/moto-$port.log" 2>&1 &
  pids+=("$!")
  wait_port "$port" || { echo "moto_server did not start: $(tail -3 "$work/moto-$port.log")" >&2; return 1; }
  STARTED="http://127.0.0.1:$port"
}

start_recorder() { # start_recorder NAME [FAIL-FIRST]: the ResponseURL stand-in; sets STARTED to its port; requests go to $work/NAME.ndjson
  local port
  port=$(free_port)
  : >"$work/$1.ndjson"
  python3 "$here/response_recorder.py" --port "$port" --out "$work/$1.ndjson" --fail-first "${2:-0}" >"$work/$1.log" 2>&1 &
  pids+=("$!")
  wait_port "$port" || { echo "the response recorder did not start" >&2; return 1; }
  STARTED=$port
}

# A custom-resource event. cr_event TYPE RESPONSE-URL [JQ-FILTER]: the properties are what the template passes.
cr_event() {
  jq -n --arg type "$1" --arg url "$2" '{
    RequestType: $type, ResponseURL: $url, RequestId: ("req-" + $type),
    StackId: "arn:aws:cloudformation:us-east-1:123456789012:stack/apitap-e2e/5b6f0c3e-0000-4000-8000-000000000001",
    LogicalResourceId: "StageLogging", ResourceType: "Custom::EnableLogging",
    ResourceProperties: {
      ServiceToken: "arn:aws:lambda:us-east-1:123456789012:function:apitap-enable-logging-us-east-1", ServiceTimeout: "600",
      EnableRestApis: "true", EnableHttpApis: "true", RestExecutionLogsAlreadyEnabled: "false",
      HttpAccessLogsAlreadyEnabled: "false", HttpAccessLogGroupName: "/aws/apigateway/apitap-http-access",
      HttpAccessLogGroupArn: "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/apitap-http-access:*",
      EnableDefaultStageLogging: "false", ApiGatewayCloudWatchRoleArn: "arn:aws:iam::123456789012:role/apitap-apigw-logs-us-east-1",
      StateBucket: "apitap-e2e-us-east-1", StateKey: "state/123456789012/enable-logging/previous-stage-settings.json"}}
    | if $type != "Create" then .PhysicalResourceId = "apitap-stage-logging" else . end
    | if $type == "Update" then .OldResourceProperties = .ResourceProperties else . end' | jq "${3:-.}"
}

invoke_cr() { # invoke_cr NAME EVENT-JSON [timeout]: runs the handler; output in $work/NAME.out, log in $work/NAME.log
  printf '%s\n' "$2" >"$work/$1.event.json"
  "$bin" invoke --handler enable-logging --event "$work/$1.event.json" --timeout "${3:-60}" >"$work/$1.out" 2>"$work/$1.log"
}

last_answer() { tail -n 1 "$work/$1.ndjson" | jq -c '.body | fromjson'; }
rest_stages() { python3 "$here/apigw_helper.py" rest-stages; }
stage_of() { jq -c --arg k "$2" '.[$k]' <<<"$1"; }

# moto_with_rest_stages: a fresh moto_server as AWS_ENDPOINT_URL, the state bucket, and four REST stages, three of
# them without execution logging at INFO (apigw_helper.py seed-rest).
moto_with_rest_stages() {
  start_moto_here || return 1
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ENDPOINT_URL="$STARTED"
  aws s3 mb s3://apitap-e2e-us-east-1 >/dev/null
  python3 "$here/apigw_helper.py" seed-rest >/dev/null
}

# ---------------------------------------------------------------- the Lambda side of enable-logging and api-refresh
# What the custom resource and the refresh change (stages, the S3 record, Update, Delete, bad properties, a missing
# bucket, someone else's change) is tested against moto in Swift (Tests/AWSTests/StageLoggingMotoTests.swift). Here:
# the packaged handlers through the Runtime API loop: the answer PUT to the ResponseURL, the deadline, a foreign event.
test_moto() {
  local rec url answer
  moto_with_rest_stages || { fail "moto_server did not start"; return; }
  start_recorder answers 1 || { fail "response recorder"; return; }
  rec=$STARTED
  url="http://127.0.0.1:$rec/cloudformation-custom-resource-response-useast1/arn%3Astack/StageLogging?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=e2e"

  invoke_cr create "$(cr_event Create "$url")" || true
  answer=$(last_answer answers)
  CHECK_DETAIL="$(cat "$work/answers.ndjson")"
  check "the answer is a PUT to the ResponseURL (path and signed query kept), retried after a 503, with no Content-Type" \
    jq -s -e --arg q "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=e2e" 'length == 2 and .[0].answered == 503 and
      all(.[]; .method == "PUT" and .query == $q and (.path | endswith("/StageLogging")) and ((.headers["content-type"] // "") == ""))' \
    "$work/answers.ndjson"
  CHECK_DETAIL="answer: $answer"
  check "the answer says SUCCESS and echoes RequestId, StackId and LogicalResourceId, with PhysicalResourceId apitap-stage-logging (3 stages turned on)" \
    jq -e '.Status == "SUCCESS" and .RequestId == "req-Create" and .LogicalResourceId == "StageLogging"
      and (.StackId | endswith("stack/apitap-e2e/5b6f0c3e-0000-4000-8000-000000000001"))
      and .PhysicalResourceId == "apitap-stage-logging" and (.Reason | length) > 0 and .Data.StagesTurnedOn == "3"' <<<"$answer"

  # An API that never answers: the work stops before the deadline and FAILED is still delivered in time.
  local hole started elapsed
  hole=$(free_port)
  python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); held=[]
while True: held.append(s.accept()[0])' "$hole" >/dev/null 2>&1 &
  pids+=("$!")
  wait_port "$hole" || true
  started=$(date +%s)
  AWS_ENDPOINT_URL="http://127.0.0.1:$hole" invoke_cr hang "$(cr_event Create "$url" '.RequestId = "req-hang"')" 12 || true
  elapsed=$(($(date +%s) - started))
  answer=$(last_answer answers)
  if [ "$elapsed" -le 13 ] && jq -e '.Status == "FAILED" and .RequestId == "req-hang"' >/dev/null <<<"$answer"; then
    pass "an AWS endpoint that never answers: FAILED is delivered before the 12 s deadline (after ${elapsed}s)"
  else fail "hanging endpoint" "elapsed ${elapsed}s" "$answer"; fi

  if ! invoke_cr no-url '{"RequestType":"Create","ResourceProperties":{}}' && grep -q "Function.InvalidEvent" "$work/no-url.log"; then
    pass "an event without a ResponseURL fails the invocation (Function.InvalidEvent): there is nothing to answer"
  else fail "event without ResponseURL" "$(cat "$work/no-url.out" "$work/no-url.log" | tail -3)"; fi

  # The api-refresh handler, as its schedule invokes it, turns on a stage created after the Create above.
  local added v1 out
  added=$(python3 "$here/apigw_helper.py" add-rest inventory v1)
  v1=$(jq -r '."inventory:v1"' <<<"$added")
  invoke_refresh refresh || true
  out=$(cat "$work/refresh.out")
  if [ "$(stage_of "$(rest_stages)" "$v1")" = '{"dataTrace":true,"loggingLevel":"INFO"}' ] &&
     jq -e '(.enabled | length) == 1 and (.failures | length) == 0' >/dev/null <<<"$out"; then
    pass "the api-refresh handler (apitap invoke with events/api-refresh.json) turns logging on for a stage created after the deployment"
  else fail "api-refresh through the runtime loop" "$out" "$(tail -3 "$work/refresh.log")"; fi
  unset AWS_ENDPOINT_URL
}

invoke_refresh() { # invoke_refresh NAME [ENV=VALUE...]: the api-refresh handler with the stack's settings
  local name=$1
  shift
  env ENABLE_REST_APIS=true ENABLE_HTTP_APIS=true ENABLE_DEFAULT_STAGE_LOGGING=false \
    HTTP_ACCESS_LOG_GROUP_ARN="arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/apitap-http-access" \
    STAGE_LOGGING_STATE_URI="s3://apitap-e2e-us-east-1/state/123456789012/enable-logging/previous-stage-settings.json" \
    "$@" "$bin" invoke --handler api-refresh --event "$root/events/api-refresh.json" --timeout 60 >"$work/$name.out" 2>"$work/$name.log"
}

# stack_settle NAME TRIES [deleting]: waits while stack NAME is in progress; sets status. While deleting, a stack
# that cannot be described is GONE; while creating, it is not there yet and the wait goes on.
stack_settle() {
  local _ missing=
  [ "${3:-}" = deleting ] && missing=GONE
  for _ in $(seq "$2"); do
    status=$("${aws[@]}" cloudformation describe-stacks --stack-name "$1" --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo "$missing")
    case "$status" in *_IN_PROGRESS | "") sleep 0.5 ;; *) break ;; esac
  done
}

# stack_create NAME TEMPLATE-FILE PARAMETERS-JSON CAPABILITY ERR-FILE: create-stack, then wait; sets status
# (fails with the CLI's error in ERR-FILE).
stack_create() {
  "${aws[@]}" cloudformation create-stack --stack-name "$1" --template-body "file://$2" --parameters "$3"     --capabilities "$4" >/dev/null 2>"$5" || return 1
  stack_settle "$1" 240
}

# ---------------------------------------------------------------- end to end in ministack
# ministack 1.5.33 evaluates conditions without Fn::Split/Fn::Sub (KeyError in its engine): the conditions that tell
# an ARN from a name (and a bucket from a queue) get their value for the parameters used here (names; the failure
# queue the stack creates). Nothing else changes. Compact, as --template-body takes at most 51,200 bytes (the scripts
# deploy by --template-url, which takes 1 MB). ministack_template OUT-FILE.
ministack_template() {
  jq -c '.Conditions.LambdaRoleIsArn = {"Fn::Equals": ["name", "arn"]} | .Conditions.SchedulerRoleIsArn = {"Fn::Equals": ["name", "arn"]}
      | .Conditions.KmsKeyIsArn = {"Fn::Equals": ["name", "arn"]} | .Conditions.UapClientSecretArnIsArn = {"Fn::Equals": ["name", "arn"]}
      | .Conditions.FailureDestinationIsBucket = {"Fn::Equals": ["sqs", "s3"]}' "$root/template/apitap.json" >"$1"
}

# Ids of what the Edge double received, and of the oracle's (native) transactions that Edge can express.
keys() { jq -r '."transaction-id"' "$1" | sort; }
oracle_keys() { jq -r 'select(.request.method != null and .request.path != null and .response.status != null) | .id' "$1" | sort; }

test_ministack() {
  local venv="$root/.venv-ministack" moto ms_port ms uap log="$work/ministack.log"
  if [ ! -x "$venv/bin/ministack" ]; then
    # Its own environment: it pins a botocore that conflicts with the aws CLI's.
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q ministack==1.5.33; }; then
      fail "ministack could not be installed"; return
    fi
  fi
  [ -f "$zip_path" ] || { fail "no package at $zip_path (make package)"; return; }
  make_ca || { fail "openssl could not make the test CA"; return; }
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  unset AWS_ENDPOINT_URL

  # moto holds what the functions read and write: API Gateway, CloudWatch Logs (ministack's FilterLogEvents never
  # pages), the state bucket. ministack runs the stack, the functions and the Secrets Manager secret.
  start_moto_here || { fail "moto_server did not start"; return; }
  moto=$STARTED
  AWS_ENDPOINT_URL=$moto aws s3 mb s3://apitap-e2e-us-east-1 >/dev/null
  python3 "$root/scripts/dev/seed_moto.py" --endpoint "$moto" --end-ms "$(($(date +%s) * 1000 - 40000))" >"$work/seed.json"

  uap=$(free_port)
  : >"$work/uap.ndjson"
  python3 "$root/Tests/Support/uap_edge_double.py" --port "$uap" --cert "$work/server.pem" --key "$work/server.key" \
    --schema "$root/docs/edge-transaction.schema.json" --records "$work/uap.ndjson" --client-id e2e-client \
    --client-secret e2e-secret-value --token-ttl 3600 >"$work/uap.log" 2>&1 &
  pids+=("$!")
  wait_port "$uap" || { fail "the UAP double did not start" "$(tail -3 "$work/uap.log")"; return; }

  # The oracle: the same binary's tick over the same logs, written to a file.
  if env AWS_ENDPOINT_URL="$moto" SEND_TO_UAP=false OUTPUT_FILE="$work/oracle.ndjson" STATE_URI="file://$work/state-oracle" \
       AWS_LAMBDA_LOG_LEVEL=WARN "$bin" tick --timeout 60 >"$work/oracle.out" 2>"$work/oracle.log"; then
    oracle_keys "$work/oracle.ndjson" >"$work/oracle.keys"
  else fail "oracle tick" "$(tail -3 "$work/oracle.log")"; return; fi

  # ministack hands its own environment to the bootstraps it starts (its AWS_ENDPOINT_URL even wins over the
  # function's): that is how the functions reach moto, ministack's Secrets Manager and trust the test CA, with a
  # template that has no test-only settings.
  ms_port=$(free_port)
  ms="http://127.0.0.1:$ms_port"
  env BIND_HOST=127.0.0.1 GATEWAY_PORT="$ms_port" LAMBDA_EXECUTOR=local AWS_ENDPOINT_URL="$moto" \
    AWS_ENDPOINT_URL_SECRETS_MANAGER="$ms" SSL_CERT_FILE="$work/ca.pem" \
    "$venv/bin/ministack" >"$log" 2>&1 &
  pids+=("$!")
  wait_port "$ms_port" 300 || { fail "ministack did not start" "$(tail -5 "$log")"; return; }
  local aws=(aws --endpoint-url "$ms" --region us-east-1)
  "${aws[@]}" s3 mb s3://apitap-e2e-us-east-1 >/dev/null
  "${aws[@]}" s3 cp --quiet "$zip_path" s3://apitap-e2e-us-east-1/apitap/apitap.zip

  ministack_template "$work/apitap-ministack.json"
  local params status
  params=$(jq -n --arg u "https://127.0.0.1:$uap" '[
    {ParameterKey: "ArtifactBucketPrefix", ParameterValue: "apitap-e2e"},
    {ParameterKey: "CodeKey", ParameterValue: "apitap/apitap.zip"},
    {ParameterKey: "UapTransactionsUrl", ParameterValue: ($u + "/api-transactions")},
    {ParameterKey: "UapTokenUrl", ParameterValue: ($u + "/auth/realms/cequence/protocol/openid-connect/token")},
    {ParameterKey: "UapClientId", ParameterValue: "e2e-client"},
    {ParameterKey: "UapClientSecret", ParameterValue: "e2e-secret-value"},
    {ParameterKey: "ScheduleExpression", ParameterValue: "rate(1 day)"}]')
  if ! stack_create apitap-e2e "$work/apitap-ministack.json" "$params" CAPABILITY_NAMED_IAM "$work/create-stack.err"; then
    fail "create-stack" "$(cat "$work/create-stack.err")"; return
  fi
  if [ "$status" = CREATE_COMPLETE ]; then
    pass "template/apitap.json deploys as a plain stack in ministack (CREATE_COMPLETE)"
  else
    fail "stack status $status" "$("${aws[@]}" cloudformation describe-stack-events --stack-name apitap-e2e \
      --query 'StackEvents[?contains(ResourceStatus, `FAILED`)].[LogicalResourceId,ResourceStatusReason]' --output text 2>&1 | head -5)"
    return
  fi
  local resources
  resources=$("${aws[@]}" cloudformation describe-stack-resources --stack-name apitap-e2e \
    --query 'StackResources[].[LogicalResourceId,ResourceStatus]' --output text | sort)
  CHECK_DETAIL="$resources"
  check "the stack has the tick, enable-logging and api-refresh functions, their schedules, the failure queue, the secret and the custom resource" \
    bash -c 'for r in TickFunction EnableLoggingFunction TickSchedule UapClientSecretValue StageLogging ApiGatewayCloudWatchRole \
      ApiRefreshFunction ApiRefreshTimer FailureQueue TickInvokeConfig; do
      grep -q "^$r[[:space:]]*CREATE_COMPLETE" <<<"$1" || exit 1; done' _ "$resources"
  check "DeliveryMode poll (the default): no awslogs function, permission or invoke configuration" \
    bash -c '! grep -q "^AwsLogs" <<<"$1"' _ "$resources"
  # The refresh, as the schedule invokes it: the custom resource's record exists, every stage is on already.
  "${aws[@]}" lambda invoke --function-name apitap-api-refresh-us-east-1 --payload fileb://"$root/events/api-refresh.json" \
    "$work/refresh.out" >"$work/refresh.meta" 2>&1 || true
  CHECK_DETAIL="$(cat "$work/refresh.meta" "$work/refresh.out" 2>&1)"
  check "the api-refresh function runs in ministack with the stack's settings: nothing new to turn on, no failure" \
    jq -e '(.failures | length) == 0 and (.enabled | length) == 0 and .alreadyOn > 0' "$work/refresh.out"
  local role
  role=$("${aws[@]}" iam get-role --role-name apitap-apigw-logs-us-east-1 --query Role.Arn --output text 2>/dev/null || echo none)
  CHECK_DETAIL="role $role; moto account: $(AWS_ENDPOINT_URL=$moto python3 "$here/apigw_helper.py" account)"
  check "ministack ran the custom resource through its ResponseURL: API Gateway's account role (in moto) is the stack's role" \
    test "$(AWS_ENDPOINT_URL=$moto python3 "$here/apigw_helper.py" account)" = "\"$role\""

  # The tick, invoked as Lambda invokes it: ministack starts the packaged bootstrap.
  local meta body
  meta=$("${aws[@]}" lambda invoke --function-name apitap-tick-us-east-1 --cli-read-timeout 120 --payload '{}' "$work/tick.json" 2>&1) || true
  body=$(cat "$work/tick.json" 2>/dev/null || true)
  if jq -e '.StatusCode == 200 and .FunctionError == null' >/dev/null 2>&1 <<<"$meta" && jq -e '.logGroups > 0 and .logGroupResults.committed == .logGroups' >/dev/null 2>&1 <<<"$body"; then
    pass "aws lambda invoke of the tick in ministack runs the packaged bootstrap ($(jq -r '"\(.eventsFetched) events from \(.logGroups) log groups, all committed"' <<<"$body"))"
  else fail "lambda invoke of the tick" "$meta" "$(head -c 600 <<<"$body")" "$(grep -i "error" "$log" | tail -3)"; fi
  if [ -s "$work/oracle.keys" ] && diff -q <(keys "$work/uap.ndjson") "$work/oracle.keys" >/dev/null; then
    pass "every request the oracle found arrived once at the UAP double ($(wc -l <"$work/oracle.keys") transactions; token from the secret in ministack)"
  else fail "delivery to the UAP double" "received $(wc -l <"$work/uap.ndjson"), oracle $(wc -l <"$work/oracle.keys" 2>/dev/null || echo 0)" \
    "$(tail -3 "$work/uap.log")"; fi
  local stats
  stats=$(curl -s --cacert "$work/ca.pem" "https://127.0.0.1:$uap/_stats")
  CHECK_DETAIL="$stats"
  check "the double accepted every post with a bearer token and rejected nothing" \
    jq -e '.rejected == {} and .tokensIssued >= 1 and .accepted >= 1' <<<"$stats"
  CHECK_DETAIL=$(AWS_ENDPOINT_URL=$moto aws s3 ls --recursive s3://apitap-e2e-us-east-1/state/ 2>&1)
  check "the tick's checkpoints are in the state bucket the template names" grep -q "checkpoint\|\.json" <<<"$CHECK_DETAIL"

  # HTTP API stages: v2 UpdateStage exists in ministack (moto answers 500), so the custom resource's HTTP path runs
  # there, with every other call going to moto.
  local http_ids api url rec answer settings
  http_ids=$(AWS_ENDPOINT_URL=$ms python3 "$here/apigw_helper.py" seed-http)
  api=$(jq -r .apiId <<<"$http_ids")
  start_recorder http-answers || { fail "response recorder"; return; }
  rec=$STARTED
  url="http://127.0.0.1:$rec/http-stage?X-Amz-Signature=e2e"
  AWS_ENDPOINT_URL=$moto AWS_ENDPOINT_URL_APIGATEWAYV2=$ms invoke_cr http-create \
    "$(cr_event Create "$url" '.ResourceProperties.EnableRestApis = "false" | .ResourceProperties.ApiGatewayCloudWatchRoleArn = ""')" || true
  settings=$(AWS_ENDPOINT_URL=$ms python3 "$here/apigw_helper.py" http-stage "$api" prod)
  answer=$(last_answer http-answers)
  if jq -e '.DestinationArn == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/apitap-http-access"
       and (.Format | fromjson | .requestId == "$context.requestId" and .path == "$context.path")' >/dev/null 2>&1 <<<"$settings" &&
     jq -e '.Status == "SUCCESS"' >/dev/null <<<"$answer"; then
    pass "HTTP API stage without access logs gets a JSON access log into HttpAccessLogGroupName (ministack's v2 UpdateStage)"
  else fail "HTTP API stage access log" "$settings" "$answer"; fi
  # Delete calls DeleteAccessLogSettings (DELETE .../stages/{stage}/accesslogsettings). ministack 1.5.33 routes that
  # path as DeleteStage and removes the whole stage, so only the answer is checked here, not the stage.
  AWS_ENDPOINT_URL=$moto AWS_ENDPOINT_URL_APIGATEWAYV2=$ms invoke_cr http-delete \
    "$(cr_event Delete "$url" '.ResourceProperties.EnableRestApis = "false"')" || true
  answer=$(last_answer http-answers)
  CHECK_DETAIL="answer: $answer"
  check "Delete restores that HTTP stage with DeleteAccessLogSettings and answers SUCCESS (stage not checked: ministack misroutes the call)" \
    jq -e '.Status == "SUCCESS" and .Data.StagesRestored == "1"' <<<"$answer"

  test_ministack_audit "$ms" "$moto"

  # Deleting the stack runs the custom resource's Delete in ministack: it removes the record the Create wrote.
  local records
  records=$(AWS_ENDPOINT_URL=$moto aws s3 ls --recursive s3://apitap-e2e-us-east-1/state/ 2>&1 | grep -c "enable-logging/previous-stage-settings.json" || true)
  CHECK_DETAIL="records: $records"
  check "the stack's custom resource recorded its changes (the account role) in the state bucket" test "$records" -eq 1
  "${aws[@]}" cloudformation delete-stack --stack-name apitap-e2e >/dev/null 2>&1 || true
  stack_settle apitap-e2e 120 deleting
  records=$(AWS_ENDPOINT_URL=$moto aws s3 ls --recursive s3://apitap-e2e-us-east-1/state/ 2>&1 | grep -c "enable-logging/previous-stage-settings.json" || true)
  if { [ "$status" = DELETE_COMPLETE ] || [ "$status" = GONE ]; } && [ "$records" -eq 0 ]; then
    pass "the stack deletes cleanly in ministack: the custom resource's Delete ran, removed its record and answered SUCCESS"
  else fail "delete-stack" "status $status, records left: $records"; fi
  test_ministack_options "$ms"
  test_ministack_subscription "$ms" "$moto" "$uap"
  unset AWS_ENDPOINT_URL
}

# DeliveryMode=subscription in ministack: the awslogs function, its permissions and on-failure destination are created;
# the custom resource (run by ministack, calling moto) puts apitap's filter on the seeded stages' log groups and records
# them; the tick leaves those groups to the push and says so; a push built from a group's events, invoked as CloudWatch
# invokes the function, reaches the UAP double; deleting the stack removes the filters. moto checks that a filter's
# Lambda destination exists, by name: the function ministack runs is mirrored there. Args: ministack, moto, UAP port.
test_ministack_subscription() {
  local ms=$1 moto=$2 uap=$3 aws params status resources filters record body meta before after group push
  aws=(aws --endpoint-url "$ms" --region us-east-1)
  AWS_ENDPOINT_URL=$moto python3 "$here/apigw_helper.py" mirror-function apitapsub-awslogs-us-east-1 >/dev/null
  ministack_template "$work/apitap-subs.json"
  params=$(jq -n --arg u "https://127.0.0.1:$uap" '[
    {ParameterKey: "NamePrefix", ParameterValue: "apitapsub"}, {ParameterKey: "ArtifactBucketPrefix", ParameterValue: "apitap-e2e"},
    {ParameterKey: "CodeKey", ParameterValue: "apitap/apitap.zip"}, {ParameterKey: "DeliveryMode", ParameterValue: "subscription"},
    {ParameterKey: "UapTransactionsUrl", ParameterValue: ($u + "/api-transactions")},
    {ParameterKey: "UapTokenUrl", ParameterValue: ($u + "/auth/realms/cequence/protocol/openid-connect/token")},
    {ParameterKey: "UapClientId", ParameterValue: "e2e-client"}, {ParameterKey: "UapClientSecret", ParameterValue: "e2e-secret-value"},
    {ParameterKey: "ApiRefreshSchedule", ParameterValue: "disabled"}, {ParameterKey: "ScheduleExpression", ParameterValue: "rate(1 day)"}]')
  if ! stack_create apitap-subs "$work/apitap-subs.json" "$params" CAPABILITY_NAMED_IAM "$work/subs.err"; then
    fail "create-stack with DeliveryMode subscription" "$(cat "$work/subs.err")"; return
  fi
  resources=$("${aws[@]}" cloudformation describe-stack-resources --stack-name apitap-subs \
    --query 'StackResources[].[LogicalResourceId,ResourceStatus]' --output text 2>&1 | sort)
  CHECK_DETAIL="status $status; $resources; $("${aws[@]}" cloudformation describe-stack-events --stack-name apitap-subs \
      --query 'StackEvents[?contains(ResourceStatus, `FAILED`)].[LogicalResourceId,ResourceStatusReason]' --output text 2>&1 | head -5)"
  check "DeliveryMode subscription deploys in ministack: the awslogs function, its role, log group, permissions and invoke configuration, and the custom resource" \
    bash -c '[ "$1" = CREATE_COMPLETE ] || exit 1
      for r in AwsLogsFunction AwsLogsRole AwsLogsLogGroup AwsLogsRestPermission AwsLogsHttpPermission AwsLogsInvokeConfig StageLogging FailureQueue; do
        grep -q "^$r[[:space:]]*CREATE_COMPLETE" <<<"$2" || exit 1; done' _ "$status" "$resources"
  [ "$status" = CREATE_COMPLETE ] || return
  local arn
  arn=$("${aws[@]}" lambda get-function-configuration --function-name apitapsub-awslogs-us-east-1 --query FunctionArn --output text)
  filters=$(AWS_ENDPOINT_URL=$moto python3 "$here/apigw_helper.py" filters)
  # The stack's own account (ministack's) names the record's key.
  record=$(AWS_ENDPOINT_URL=$moto aws s3 cp "s3://apitap-e2e-us-east-1/state/$(cut -d: -f5 <<<"$arn")/enable-logging/previous-stage-settings.json" - \
    2>/dev/null || echo '{}')
  CHECK_DETAIL="function $arn; filters $filters; record $record"
  check "the custom resource put apitap's filter (apitapsub-awslogs, to the awslogs function) on the seeded REST and HTTP log groups and recorded each" \
    jq -e --arg a "$arn" --argjson r "$record" '(to_entries | map(select(.value["apitapsub-awslogs"] == $a)) | length) == 2
      and ([$r.subscriptions[].logGroup] | sort) == (to_entries | map(select(.value["apitapsub-awslogs"] == $a) | .key) | sort)' <<<"$filters"

  "${aws[@]}" lambda invoke --function-name apitapsub-tick-us-east-1 --payload fileb://"$root/events/tick.json" \
    "$work/subs-tick.out" >"$work/subs-tick.meta" 2>&1 || true
  CHECK_DETAIL="$(cat "$work/subs-tick.meta" "$work/subs-tick.out" 2>&1 | head -c 1500)"
  check "the tick leaves the subscribed groups to the push and its summary says so" \
    jq -e --argjson r "$record" '.deliveryMode == "subscription" and .logGroupsPushed == ($r.subscriptions | length)
      and (.pushedLogGroups | sort) == ([$r.subscriptions[].logGroup] | sort)' "$work/subs-tick.out"

  group=$(jq -r '[.subscriptions[].logGroup | select(startswith("API-Gateway-Execution-Logs_"))][0]' <<<"$record")
  push="$work/push.json"
  AWS_ENDPOINT_URL=$moto python3 "$here/apigw_helper.py" awslogs-event "$group" >"$push"
  before=$(wc -l <"$work/uap.ndjson")
  meta=$("${aws[@]}" lambda invoke --function-name apitapsub-awslogs-us-east-1 --payload "fileb://$push" "$work/subs-push.out" 2>&1) || true
  body=$(cat "$work/subs-push.out" 2>/dev/null || true)
  after=$(wc -l <"$work/uap.ndjson")
  CHECK_DETAIL="$meta $(head -c 800 <<<"$body") received $before -> $after"
  check "a CloudWatch push of $group, invoked as CloudWatch invokes awslogs in ministack, reaches the UAP double" \
    bash -c 'jq -e ".StatusCode == 200 and .FunctionError == null" <<<"$1" >/dev/null && jq -e ".handler == \"awslogs\" and .delivery.recordsDelivered > 0" <<<"$2" >/dev/null && [ "$4" -gt "$3" ]' \
    _ "$meta" "$body" "$before" "$after"

  "${aws[@]}" cloudformation delete-stack --stack-name apitap-subs >/dev/null 2>&1 || true
  stack_settle apitap-subs 120 deleting
  filters=$(AWS_ENDPOINT_URL=$moto python3 "$here/apigw_helper.py" filters)
  CHECK_DETAIL="status $status; filters left: $filters"
  check "deleting the stack removes every filter apitap put (the custom resource's Delete)" \
    bash -c '{ [ "$1" = DELETE_COMPLETE ] || [ "$1" = GONE ]; } && [ "$2" = "{}" ]' _ "$status" "$filters"
}

# The template with every option the defaults leave off switched on (and the defaults' extras off): a customer-managed
# key, an existing secret by name, alarms to a topic, active tracing, no reserved concurrency, no failure queue, no
# refresh, logging already enabled (no custom resource).
test_ministack_options() {
  local ms=$1 aws key topic params status resources config
  aws=(aws --endpoint-url "$ms" --region us-east-1)
  key=$("${aws[@]}" kms create-key --query KeyMetadata.KeyId --output text 2>"$work/kms.err") || { fail "kms create-key" "$(cat "$work/kms.err")"; return; }
  topic=$("${aws[@]}" sns create-topic --name apitap-alarms --query TopicArn --output text)
  "${aws[@]}" secretsmanager create-secret --name apitap-e2e/uap-client-secret --secret-string e2e-secret-value >/dev/null
  ministack_template "$work/apitap-options.json"
  params=$(jq -n --arg k "$key" --arg t "$topic" '[
    {ParameterKey: "NamePrefix", ParameterValue: "apitapopt"}, {ParameterKey: "ArtifactBucketPrefix", ParameterValue: "apitap-e2e"},
    {ParameterKey: "CodeKey", ParameterValue: "apitap/apitap.zip"},
    {ParameterKey: "UapTransactionsUrl", ParameterValue: "https://127.0.0.1:9/api-transactions"},
    {ParameterKey: "UapTokenUrl", ParameterValue: "https://127.0.0.1:9/token"}, {ParameterKey: "UapClientId", ParameterValue: "e2e-client"},
    {ParameterKey: "UapClientSecretArn", ParameterValue: "apitap-e2e/uap-client-secret"},
    {ParameterKey: "KmsKey", ParameterValue: $k}, {ParameterKey: "AlarmTopicArn", ParameterValue: $t},
    {ParameterKey: "Tracing", ParameterValue: "Active"}, {ParameterKey: "ReservedConcurrency", ParameterValue: "none"},
    {ParameterKey: "FailureDestination", ParameterValue: "none"}, {ParameterKey: "ApiRefreshSchedule", ParameterValue: "disabled"},
    {ParameterKey: "LogLevel", ParameterValue: "DEBUG"},
    {ParameterKey: "RestExecutionLogsAlreadyEnabled", ParameterValue: "true"}, {ParameterKey: "HttpAccessLogsAlreadyEnabled", ParameterValue: "true"},
    {ParameterKey: "ScheduleExpression", ParameterValue: "rate(1 day)"}]')
  if ! stack_create apitap-options "$work/apitap-options.json" "$params" CAPABILITY_NAMED_IAM "$work/options.err"; then
    fail "create-stack with the options on" "$(cat "$work/options.err")"; return
  fi
  resources=$("${aws[@]}" cloudformation describe-stack-resources --stack-name apitap-options \
    --query 'StackResources[].LogicalResourceId' --output text 2>&1 | tr '\t' '\n' | sort | tr '\n' ' ')
  CHECK_DETAIL="status $status; resources: $resources"
  check "with a key, an existing secret, alarms, tracing and no reservation the template deploys; no secret, queue, refresh or custom resource is made" \
    bash -c '[ "$1" = CREATE_COMPLETE ] || exit 1
      for r in TickFunction TickErrorsAlarm TickLogGroupsFailedAlarm TickDeliveryFailuresAlarm TickNotRunningAlarm; do [[ " $2 " == *" $r "* ]] || exit 1; done
      for r in UapClientSecretValue FailureQueue ApiRefreshFunction StageLogging EnableLoggingFunction; do [[ " $2 " == *" $r "* ]] && exit 1; done; exit 0' _ "$status" "$resources"
  config=$("${aws[@]}" lambda get-function-configuration --function-name apitapopt-tick-us-east-1 2>&1)
  CHECK_DETAIL="$config"
  # ministack's CloudFormation does not pass KmsKeyArn on to the function (its configuration answers ""): the key is
  # checked on the template itself (Tests/scripts/template_norms.py), the rest here.
  check "the tick runs with active tracing, JSON logs at DEBUG and the existing secret's name" \
    jq -e '.TracingConfig.Mode == "Active" and .LoggingConfig.LogFormat == "JSON"
      and .LoggingConfig.ApplicationLogLevel == "DEBUG" and .Environment.Variables.UAP_CLIENT_SECRET_ARN == "apitap-e2e/uap-client-secret"' <<<"$config"
  "${aws[@]}" cloudformation delete-stack --stack-name apitap-options >/dev/null 2>&1 || true
}

# template/audit-export.json as a stack in ministack, its function invoked there against the Anypoint double (a
# process on loopback): the secret from ministack's Secrets Manager, the S3 archive and the checkpoints in moto
# (where ministack points the functions), a file sink as the extra sink. Args: ministack and moto endpoints.
test_ministack_audit() {
  local ms=$1 moto=$2 double_bin port status params bucket meta body check
  local aws=(aws --endpoint-url "$ms" --region us-east-1)
  (cd "$root" && swift build --product anypoint-double >"$work/double-build.log" 2>&1) || { fail "building anypoint-double" "$(tail -5 "$work/double-build.log")"; return; }
  double_bin="$(cd "$root" && swift build --show-bin-path)/anypoint-double"
  "$double_bin" --orgs org-a --entries 1000 --days 2 --expected "$work/audit-expected.txt" --stats "$work/audit-double.json" \
    >"$work/audit-double.out" 2>&1 &
  local double_pid=$!
  pids+=("$double_pid")
  for _ in $(seq 100); do grep -q '^ready ' "$work/audit-double.out" && break; sleep 0.1; done
  port=$(awk '/^ready /{print $2}' "$work/audit-double.out")
  [ -n "$port" ] || { fail "anypoint-double did not start" "$(cat "$work/audit-double.out")"; return; }

  # The control plane parameter allows the three real hosts only: the test lets it name the double.
  jq 'del(.Parameters.AnypointBaseUrl.AllowedValues) | .Conditions.KmsKeyIsArn = {"Fn::Equals": ["name", "arn"]}
      | .Conditions.AnypointClientSecretArnIsArn = {"Fn::Equals": ["name", "arn"]}' \
    "$root/template/audit-export.json" >"$work/audit-ministack.json"
  params=$(jq -n --arg u "http://127.0.0.1:$port" --arg f "file://$work/ms-audit.ndjson" '[
    {ParameterKey: "CodeBucket", ParameterValue: "apitap-e2e-us-east-1"}, {ParameterKey: "CodeKey", ParameterValue: "apitap/apitap.zip"},
    {ParameterKey: "AnypointBaseUrl", ParameterValue: $u}, {ParameterKey: "AnypointClientId", ParameterValue: "audit-client"},
    {ParameterKey: "AnypointClientSecret", ParameterValue: "audit-secret-value"}, {ParameterKey: "AuditSinks", ParameterValue: $f},
    {ParameterKey: "AuditStart", ParameterValue: "P3D"}, {ParameterKey: "ScheduleExpression", ParameterValue: "rate(1 day)"}]')
  if ! stack_create apitap-audit "$work/audit-ministack.json" "$params" CAPABILITY_IAM "$work/audit-stack.err"; then
    fail "create-stack of template/audit-export.json" "$(cat "$work/audit-stack.err")"; return
  fi
  if [ "$status" != CREATE_COMPLETE ]; then
    fail "audit-export stack status $status" "$("${aws[@]}" cloudformation describe-stack-events --stack-name apitap-audit \
      --query 'StackEvents[?contains(ResourceStatus, `FAILED`)].[LogicalResourceId,ResourceStatusReason]' --output text 2>&1 | head -5)"
    return
  fi
  bucket=$("${aws[@]}" cloudformation describe-stacks --stack-name apitap-audit --query "Stacks[0].Outputs[?OutputKey=='AuditBucketName'].OutputValue" --output text)
  # The function's S3 calls go to moto (ministack's AWS_ENDPOINT_URL): the stack's bucket must exist there too.
  AWS_ENDPOINT_URL=$moto aws s3 mb "s3://$bucket" >/dev/null
  meta=$("${aws[@]}" lambda invoke --function-name apitap-audit-audit-export --cli-read-timeout 120 --payload '{}' "$work/audit-invoke.json" 2>&1) || true
  body=$(cat "$work/audit-invoke.json" 2>/dev/null || true)
  if jq -e '.StatusCode == 200 and .FunctionError == null' >/dev/null 2>&1 <<<"$meta" && jq -e '.exported == 1000' >/dev/null 2>&1 <<<"$body" &&
     check=$(python3 "$root/Tests/audit/check_export.py" "$work/audit-expected.txt" "$work/ms-audit.ndjson" 2>&1); then
    pass "template/audit-export.json deploys in ministack and aws lambda invoke exports all 1,000 entries once ($check; secret from ministack)"
  else fail "lambda invoke of audit-export" "$meta" "$(head -c 600 <<<"$body")" "${check:-}" "$(grep -i "error" "$log" | tail -3)"; fi
  CHECK_DETAIL=$(AWS_ENDPOINT_URL=$moto aws s3 ls --recursive "s3://$bucket/" 2>&1)
  check "the S3 archive (audit/org-a/YYYY/MM/DD/HH/...ndjson.gz) and the checkpoint (state/audit-org-a) are in the stack's bucket" \
    bash -c 'grep -qE " audit/org-a/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/entry-.*\.ndjson\.gz$" <<<"$1" && grep -q " state/audit-org-a" <<<"$1"' _ "$CHECK_DETAIL"
  meta=$("${aws[@]}" lambda invoke --function-name apitap-audit-audit-export --cli-read-timeout 120 --payload '{}' "$work/audit-invoke2.json" 2>&1) || true
  CHECK_DETAIL="$meta $(head -c 400 "$work/audit-invoke2.json" 2>/dev/null)"
  check "a second invocation reads its checkpoint from S3 and exports nothing again" jq -e '.exported == 0' "$work/audit-invoke2.json"
  kill -TERM "$double_pid" 2>/dev/null; wait "$double_pid" 2>/dev/null || true
  CHECK_DETAIL=$(cat "$work/audit-double.json" 2>/dev/null)
  check "the strict Anypoint double refused nothing" jq -e '.badRequests == [] and .tokensIssued >= 1' "$work/audit-double.json"
  "${aws[@]}" cloudformation delete-stack --stack-name apitap-audit >/dev/null 2>&1 || true
}

main() {
  local only=${1:-all}
  [ -x "$bin" ] || { echo "no apitap binary at $bin: run make package (or set APITAP_BIN)" >&2; exit 1; }
  export AWS_LAMBDA_LOG_LEVEL=${AWS_LAMBDA_LOG_LEVEL:-INFO}
  case "$only" in all | moto) test_moto ;; esac
  case "$only" in all | ministack) test_ministack ;; esac
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

main "$@"
