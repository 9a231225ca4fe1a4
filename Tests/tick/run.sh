#!/usr/bin/env bash
# End-to-end tests of the tick: the release binary against moto_server (real CloudWatch Logs and API Gateway APIs)
# and the strict UAP Edge double over HTTPS with a test CA. Several REST stages and an HTTP API, more events than one
# FilterLogEvents page; clean delivery, a second tick, injected faults, and kill -9 at random points.
# The oracle is a tick of the same data written to a file (native format): delivery must match it, by transaction id,
# for every transaction the Edge format can express (a method, a path and a status).
# Prints "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.build/release/apitap"
work=$(mktemp -d /tmp/apitap-tick-test.XXXXXX)
# shellcheck source=Tests/lib.sh
. "$root/Tests/lib.sh"

# A UAP double for this suite's client (see start_edge_double in Tests/lib.sh); sets double_port.
start_double() { start_edge_double "$1" e2e-client e2e-secret "${2:-}"; }

# Environment of a tick delivering to the double on $1, with checkpoints in $work/state-$2.
uap_env() {
  printf '%s\n' "SSL_CERT_FILE=$work/ca.pem" "UAP_TRANSACTIONS_URL=https://127.0.0.1:$1/api-transactions" \
    "UAP_TOKEN_URL=https://127.0.0.1:$1/auth/realms/cequence/protocol/openid-connect/token" "UAP_CLIENT_ID=e2e-client" "UAP_CLIENT_SECRET=e2e-secret" \
    "MAX_BATCH_BYTES=65536" "STATE_URI=file://$work/state-$2" "POLL_INITIAL_LOOKBACK_SECONDS=900"
}


keys() { edge_keys "$1"; }

main() {
  [ -x "$bin" ] || { echo "no release binary at $bin: run make package" >&2; exit 1; }
  make_ca || { echo "openssl could not make the test CA" >&2; exit 1; }
  start_moto || exit 1
  export AWS_LAMBDA_LOG_LEVEL=WARN
  python3 "$root/scripts/dev/seed_moto.py" --endpoint "$AWS_ENDPOINT_URL" --stages prod,staging --copies 40 --end-ms "$(( $(date +%s) * 1000 - 60000 ))" >"$work/seed.json"

  # The oracle: the same logs, written to a file.
  if tick oracle SEND_TO_UAP=false OUTPUT_FILE="$work/oracle.ndjson" STATE_URI="file://$work/state-oracle" POLL_INITIAL_LOOKBACK_SECONDS=900; then
    oracle_keys "$work/oracle.ndjson" >"$work/oracle.keys"
  else
    fail "oracle tick" "$(tail -5 "$work/oracle.log")"; finish
  fi
  local n events pages
  n=$(wc -l <"$work/oracle.keys")
  events=$(jq -r .eventsFetched "$work/oracle.out")
  pages=$(jq -r .pages "$work/oracle.out")
  if [ "$n" -gt 1000 ] && [ "$(sort -u "$work/oracle.keys" | wc -l)" -eq "$n" ] && [ "${events:-0}" -gt 10000 ] && [ "${pages:-0}" -gt 3 ]; then
    pass "oracle: $n distinct requests from $events events over $pages pages, three log groups"
  else fail "oracle" "requests=$n events=$events pages=$pages"; fi

  # Clean delivery, then a second tick that must deliver nothing.
  local port
  start_double clean; port=$double_port
  mapfile -t e < <(uap_env "$port" clean)
  if tick clean1 "${e[@]}" && diff -q <(keys "$work/clean.ndjson") "$work/oracle.keys" >/dev/null; then
    pass "a tick delivers every request exactly once (token, Edge schema, 64 KiB and 250-transaction batches checked by the double)"
  else fail "clean tick" "received $(wc -l <"$work/clean.ndjson") of $n" "$(tail -3 "$work/clean1.log")"; fi
  local all not_encoded
  all=$(wc -l <"$work/oracle.ndjson")
  not_encoded=$(jq '[.traffic.encoding.notEncoded[]] | add // 0' "$work/clean1.out")
  if [ "$((all - n))" -eq "${not_encoded:-x}" ]; then
    pass "the $not_encoded transactions Edge cannot express (no method, path or status) are counted in the summary"
  else fail "not-encoded count" "oracle $all, expressible $n, summary says $not_encoded"; fi
  local rejected
  rejected=$(curl -s --cacert "$work/ca.pem" "https://127.0.0.1:$port/_stats" | jq -c .rejected)
  if [ "$rejected" = "{}" ]; then pass "the double rejected nothing"; else fail "the double rejected posts" "$rejected"; fi
  local before
  before=$(wc -l <"$work/clean.ndjson")
  if tick clean2 "${e[@]}" && [ "$(wc -l <"$work/clean.ndjson")" -eq "$before" ]; then
    pass "a second tick delivers nothing new"
  else fail "second tick" "records went from $before to $(wc -l <"$work/clean.ndjson")"; fi

  # --dry-run: the same reading and stitching, but no token, no post and no checkpoint; the summary says what would go.
  start_double dry; port=$double_port
  mapfile -t e < <(uap_env "$port" dry)
  if env "${e[@]}" "$bin" tick --timeout 120 --dry-run >"$work/dry.out" 2>"$work/dry.log" &&
     [ ! -s "$work/dry.ndjson" ] &&
     [ "$(curl -s --cacert "$work/ca.pem" "https://127.0.0.1:$port/_stats" | jq .tokensIssued)" = 0 ] &&
     [ -z "$(find "$work/state-dry" -type f 2>/dev/null)" ] &&
     jq -e --argjson n "$n" '.sink == "dry-run" and .wouldDeliver.records == $n and .delivery == null
         and .logGroupResults["would-commit"] == 3 and .logGroupResults.committed == null' "$work/dry.out" >/dev/null; then
    pass "a dry run reads and stitches all $n requests, asks for no token, posts nothing and writes no checkpoint"
  else fail "dry run" "$(jq -c '{sink, wouldDeliver, logGroupResults}' "$work/dry.out" 2>&1 | head -c 400)" "$(tail -3 "$work/dry.log")"; fi

  # At a terminal (or --output table) the summary is a few lines of text, printed once; the JSON is the same run's.
  if env SEND_TO_UAP=false OUTPUT_FILE="$work/table.ndjson" STATE_URI="file://$work/state-table" POLL_INITIAL_LOOKBACK_SECONDS=900 \
       "$bin" tick --timeout 120 --output table >"$work/table.out" 2>"$work/table.log" &&
     grep -q "^apitap tick: 3 of 3 log groups committed" "$work/table.out" &&
     grep -qE "^  written +$(wc -l <"$work/oracle.ndjson" | sed 's/\B\(...\)$/,\1/') transactions" "$work/table.out" &&
     [ "$(grep -c . "$work/table.out")" -lt 20 ] && ! grep -q '"handler"' "$work/table.out" "$work/table.log"; then
    pass "--output table prints one short text summary (and no JSON summary or metrics line)"
  else fail "table summary" "$(head -c 600 "$work/table.out")" "$(tail -3 "$work/table.log")"; fi

  # Faults: 500s, 429 with Retry-After, a slow answer, dropped connections and an expired token lose nothing.
  start_double faults "500,429,drop,slow,expire,500,reset,429"; port=$double_port
  mapfile -t e < <(uap_env "$port" faults)
  local tries=0
  until tick "faults$tries" "${e[@]}" || [ "$tries" -ge 3 ]; do tries=$((tries + 1)); done
  local missing
  # Captured first: `comm | grep -q` under pipefail would read as "nothing missing" when comm is cut off by SIGPIPE.
  missing=$(comm -13 <(keys "$work/faults.ndjson" | sort -u) "$work/oracle.keys")
  if [ -n "$missing" ]; then
    fail "faults lost requests" "missing $(wc -l <<<"$missing")"
  else pass "with injected 500/429/slow/drop/reset/expired-token faults nothing is lost (ticks needed: $((tries + 1)))"; fi
  local tokens
  tokens=$(curl -s --cacert "$work/ca.pem" "https://127.0.0.1:$port/_stats" | jq .tokensIssued)
  if [ "$tokens" -ge 2 ]; then pass "the expired token was replaced ($tokens tokens issued)"; else fail "token renewal" "tokens=$tokens"; fi

  # kill -9 at random points, then ticks until one completes: nothing lost, re-sends keep their ids.
  start_double kills; port=$double_port
  mapfile -t e < <(uap_env "$port" kills)
  kill_ticks "$work/kills.log" "${e[@]}"
  tries=0
  until tick "kills-final$tries" "${e[@]}" || [ "$tries" -ge 3 ]; do tries=$((tries + 1)); done
  missing=$(comm -13 <(keys "$work/kills.ndjson" | sort -u) "$work/oracle.keys")
  if [ -n "$missing" ]; then
    fail "kill -9 lost requests" "missing $(wc -l <<<"$missing")"
  else pass "kill -9 at six random points, then a tick: nothing lost ($(wc -l <"$work/kills.ndjson") records for $n requests)"; fi
  local inconsistent
  inconsistent=$(jq -c '[."transaction-id", .request."http-method", .request."uri-query-fragment", .response."status-code", .request.body.data]' \
    "$work/kills.ndjson" | sort -u | jq -r '.[0]' | uniq -d | wc -l)
  if [ "$inconsistent" -eq 0 ]; then pass "every re-sent transaction is identical to the original, id included"
  else fail "re-sends that differ from the original" "$inconsistent transaction ids"; fi

  # A stage whose logging was just turned on has no log group until its first logged request: an empty source.
  local rest_api fresh_group
  rest_api=$(jq -r .restApiId "$work/seed.json")
  fresh_group="API-Gateway-Execution-Logs_$rest_api/fresh"
  python3 - "$AWS_ENDPOINT_URL" "$rest_api" <<'PY'
import sys, boto3
ag = boto3.client("apigateway", endpoint_url=sys.argv[1], region_name="us-east-1")
ag.create_deployment(restApiId=sys.argv[2], stageName="fresh")
ag.update_stage(restApiId=sys.argv[2], stageName="fresh", patchOperations=[
    {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"},
    {"op": "replace", "path": "/*/*/logging/dataTrace", "value": "true"}])
PY
  if tick fresh SEND_TO_UAP=false OUTPUT_FILE="$work/fresh.ndjson" STATE_URI="file://$work/state-oracle" &&
     jq -e --arg g "$fresh_group" '(.notes | any(contains($g) and contains("does not exist yet"))) and .logGroupResults.failed == null' \
       "$work/fresh.out" >/dev/null; then
    pass "a discovered stage whose log group does not exist yet is an empty source, noted in the summary; the tick succeeds"
  else fail "stage without a log group" "$(jq -c '{notes, logGroupResults, errors}' "$work/fresh.out" 2>&1 | head -c 600)" "$(tail -3 "$work/fresh.log")"; fi

  # The tick takes {} or a scheduled event; anything else is an invocation error, not a silent run.
  if env SEND_TO_UAP=false OUTPUT_FILE="$work/ev.ndjson" STATE_URI="file://$work/state-ev" "$bin" invoke --handler tick \
       --event "$root/events/tick.json" >"$work/ev-ok.out" 2>"$work/ev-ok.log" &&
     printf '{"awslogs":{"data":"x"}}' >"$work/wrong-event.json" &&
     ! env SEND_TO_UAP=false OUTPUT_FILE="$work/ev.ndjson" STATE_URI="file://$work/state-ev" "$bin" invoke --handler tick \
       --event "$work/wrong-event.json" >"$work/ev-bad.out" 2>"$work/ev-bad.log" &&
     grep -q "Function.InvalidEvent" "$work/ev-bad.log"; then
    pass "the tick runs on events/tick.json and refuses a foreign event with Function.InvalidEvent"
  else fail "tick events" "$(tail -2 "$work/ev-ok.log")" "$(tail -2 "$work/ev-bad.log")"; fi

  # awslogs through the binary with a real subscription payload (gzip + base64 by the system tools).
  local group payload
  group=$(jq -r .restLogGroup "$work/seed.json")
  jq -c --arg g "$group" -s '{messageType:"DATA_MESSAGE",owner:"123456789012",logGroup:$g,logStream:.[0].logStreamName,
      subscriptionFilters:["apitap"],logEvents:[.[] | select(.logStreamName == "e4da3b7fbbce2345d7772b0674a318d5") | {id:.eventId,timestamp,message}]}' \
      "$root/events/sample-logs/rest-execution.ndjson" >"$work/sub.json"
  payload=$(gzip -c "$work/sub.json" | base64 -w0)
  printf '{"awslogs":{"data":"%s"}}' "$payload" >"$work/awslogs-event.json"
  if env SEND_TO_UAP=false OUTPUT_FILE="$work/awslogs.ndjson" "$bin" invoke --handler awslogs --event "$work/awslogs-event.json" >"$work/awslogs.out" 2>&1 \
     && grep -qx "Vts2pH6ArPEFcuQ=" <<<"$(jq -r .id "$work/awslogs.ndjson")" \
     && [ "$(wc -l <"$work/awslogs.ndjson")" -eq "$(jq -r .traffic.transactionsEmitted "$work/awslogs.out")" ] \
     && [ "$(wc -l <"$work/awslogs.ndjson")" -gt 1 ]; then
    pass "awslogs: a gzip+base64 subscription event is stitched and written (native)"
  else fail "awslogs" "$(tail -3 "$work/awslogs.out")"; fi
  # The same payload to the Edge double: the transactions of the native run that Edge can express arrive, by id.
  start_double awslogs-edge; port=$double_port
  mapfile -t e < <(uap_env "$port" awslogs)
  env "${e[@]}" "$bin" invoke --handler awslogs --event "$work/awslogs-event.json" >"$work/awslogs-edge.out" 2>&1 || true
  rejected=$(curl -s --cacert "$work/ca.pem" "https://127.0.0.1:$port/_stats" | jq -c .rejected)
  if [ -s "$work/awslogs-edge.ndjson" ] && [ "$rejected" = "{}" ] &&
     diff -q <(keys "$work/awslogs-edge.ndjson") <(oracle_keys "$work/awslogs.ndjson") >/dev/null; then
    pass "awslogs delivers the same transactions to the Edge double ($(wc -l <"$work/awslogs-edge.ndjson") posted, none refused)"
  else fail "awslogs to the Edge double" "received $(wc -l <"$work/awslogs-edge.ndjson"), rejected $rejected" "$(tail -3 "$work/awslogs-edge.out")"; fi

  finish
}

finish() {
  summary
  exit $?
}

main "$@"
