# shellcheck shell=bash disable=SC2154,SC2034  # sourced by Tests/scripts/run.sh, which sets ROOT, HERE and the helpers
# scripts/replay-failures.sh: failed pushes kept in SQS or S3, replayed and deleted only after a good invoke.

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
