#!/usr/bin/env bash
# End-to-end tests of the Flex Gateway source: the release binary's tick against moto_server (a CloudWatch Logs group
# filled with Message Logging lines of two gateway replicas, found through a FLEX_LOG_GROUPS prefix) and the strict
# UAP Edge double over HTTPS with a test CA. API Gateway reading is off. The oracle is a tick of the same data written
# to a file (native format): delivery must match it by transaction id for every transaction Edge can express; a
# second tick delivers nothing; SIGKILL at random points and then a tick lose nothing and re-send identical objects;
# `apitap stitch --source flex-gateway` gives what the tick gives.
# Prints "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/.build/release/apitap"
work=$(mktemp -d /tmp/apitap-flex-test.XXXXXX)
# shellcheck source=Tests/lib.sh
. "$root/Tests/lib.sh"
group=/flex/e2e/access

# A UAP double for this suite's client (see start_edge_double in Tests/lib.sh); sets double_port.
start_double() { start_edge_double "$1" flex-client flex-secret; }

# The tick's settings: Flex from CloudWatch only, delivered to the double on $1, checkpoints in $work/state-$2.
flex_env() {
  printf '%s\n' "ENABLE_REST_APIS=false" "ENABLE_HTTP_APIS=false" "FLEX_SOURCE=cloudwatch" "FLEX_LOG_GROUPS=/flex/e2e/*" \
    "POLL_INITIAL_LOOKBACK_SECONDS=900" "STATE_URI=file://$work/state-$2" "SSL_CERT_FILE=$work/ca.pem" \
    "UAP_TRANSACTIONS_URL=https://127.0.0.1:$1/api-transactions" \
    "UAP_TOKEN_URL=https://127.0.0.1:$1/auth/realms/cequence/protocol/openid-connect/token" \
    "UAP_CLIENT_ID=flex-client" "UAP_CLIENT_SECRET=flex-secret" "MAX_BATCH_BYTES=65536"
}


keys() { edge_keys "$1"; }

main() {
  [ -x "$bin" ] || { echo "no release binary at $bin: run make package" >&2; exit 1; }
  make_ca || { echo "openssl could not make the test CA" >&2; exit 1; }
  start_moto || exit 1
  export AWS_LAMBDA_LOG_LEVEL=WARN
  python3 "$root/Tests/flex/seed_flex.py" --endpoint "$AWS_ENDPOINT_URL" --group "$group" --requests 2000 \
    --end-ms "$(( $(date +%s) * 1000 - 60000 ))" >"$work/seed.json"
  local apitap cequence events
  apitap=$(jq .apitap "$work/seed.json"); cequence=$(jq .cequence "$work/seed.json"); events=$(jq .events "$work/seed.json")

  # The oracle: the same lines, written to a file (native keeps what Edge cannot express).
  if tick oracle "ENABLE_REST_APIS=false" "ENABLE_HTTP_APIS=false" "FLEX_SOURCE=cloudwatch" "FLEX_LOG_GROUPS=/flex/e2e/*" \
       "POLL_INITIAL_LOOKBACK_SECONDS=900" "SEND_TO_UAP=false" "OUTPUT_FILE=$work/oracle.ndjson" "STATE_URI=file://$work/state-oracle"; then
    oracle_keys "$work/oracle.ndjson" >"$work/oracle.keys"
  else
    fail "oracle tick" "$(tail -5 "$work/oracle.log")"; finish
  fi
  local n all
  n=$(wc -l <"$work/oracle.keys")
  all=$(wc -l <"$work/oracle.ndjson")
  if [ "$n" -eq "$apitap" ] && [ "$all" -eq "$((apitap + cequence))" ] && [ "$(sort -u "$work/oracle.keys" | wc -l)" -eq "$n" ] &&
     jq -e --argjson e "$events" '.flex.eventsFetched == $e and .flex.pages > 1 and .flex.sources == 1 and .logGroups == 0' "$work/oracle.out" >/dev/null; then
    pass "oracle: $all transactions ($n in apitap's layout) from $events events over $(jq .flex.pages "$work/oracle.out") pages, the group found by prefix"
  else fail "oracle" "expressible=$n all=$all seeded apitap=$apitap cequence=$cequence" "$(jq -c .flex "$work/oracle.out" 2>&1 | head -c 400)"; fi

  # Clean delivery to the Edge double, then a second tick that must deliver nothing. The first runs as Lambda runs
  # it (the tick handler through the Runtime API loop, `apitap invoke`): only there are EMF metrics written.
  local port
  start_double clean; port=$double_port
  mapfile -t e < <(flex_env "$port" clean)
  if env "${e[@]}" "$bin" invoke --handler tick --event "$root/events/tick.json" >"$work/clean1.out" 2>"$work/clean1.log" && diff -q <(keys "$work/clean.ndjson") "$work/oracle.keys" >/dev/null; then
    pass "a tick delivers every Flex request exactly once (token, Edge schema, 64 KiB and 250-transaction batches checked by the double)"
  else fail "clean tick" "received $(wc -l <"$work/clean.ndjson") of $n" "$(tail -3 "$work/clean1.log")"; fi
  local not_encoded parsed ignored
  not_encoded=$(jq '[.flex.counters.traffic.encoding.notEncoded[]] | add // 0' "$work/clean1.out")
  parsed=$(jq '.flex.counters.traffic.linesParsed' "$work/clean1.out")
  ignored=$(jq '.flex.counters.linesIgnored."not-per-request" // 0' "$work/clean1.out")
  if [ "$not_encoded" -eq "$cequence" ] && [ "$(jq .traffic.linesParsed "$work/clean1.out")" -eq 0 ] && [ "$ignored" -eq 8 ] &&
     [ "$parsed" -eq "$((events - 8))" ] && jq -e '.flex.counters.layouts == {"apitap": '"$apitap"', "cequence": '"$cequence"'}' "$work/clean1.out" >/dev/null; then
    pass "the summary counts Flex apart: $parsed lines, $ignored ignored, $not_encoded transactions Edge cannot express (Cequence's layout)"
  else fail "summary counts" "$(jq -c '{traffic: .traffic.linesParsed, flex: .flex.counters}' "$work/clean1.out" | head -c 600)"; fi
  if grep -q '"FlexTransactionsDelivered":'"$n" "$work/clean1.log" && grep -q '"FlexLinesParsed":'"$parsed" "$work/clean1.log"; then
    pass "EMF carries the Flex metrics apart (FlexLinesParsed, FlexTransactionsDelivered)"
  else fail "EMF metrics" "$(grep -o '"Flex[A-Za-z]*":[0-9]*' "$work/clean1.log" | tr '\n' ' ')"; fi
  local rejected
  rejected=$(curl -s --cacert "$work/ca.pem" "https://127.0.0.1:$port/_stats" | jq -c .rejected)
  if [ "$rejected" = "{}" ]; then pass "the Edge double rejected nothing"; else fail "the double rejected posts" "$rejected"; fi
  local before
  before=$(wc -l <"$work/clean.ndjson")
  if tick clean2 "${e[@]}" && [ "$(wc -l <"$work/clean.ndjson")" -eq "$before" ] && jq -e '.flex.duplicatesSkipped > 0' "$work/clean2.out" >/dev/null; then
    pass "a second tick re-reads the overlap and delivers nothing new"
  else fail "second tick" "records went from $before to $(wc -l <"$work/clean.ndjson")"; fi

  # SIGKILL at random points, then ticks until one completes: nothing lost, re-sends keep their ids and content.
  start_double kills; port=$double_port
  mapfile -t e < <(flex_env "$port" kills)
  local tries=0 missing
  kill_ticks "$work/kills.log" "${e[@]}"
  until tick "kills-final$tries" "${e[@]}" || [ "$tries" -ge 3 ]; do tries=$((tries + 1)); done
  missing=$(comm -13 <(keys "$work/kills.ndjson" | sort -u) "$work/oracle.keys")
  if [ -n "$missing" ]; then
    fail "SIGKILL lost requests" "missing $(wc -l <<<"$missing")"
  else pass "SIGKILL at six random points, then a tick: nothing lost ($(wc -l <"$work/kills.ndjson") records for $n requests)"; fi
  local inconsistent
  inconsistent=$(jq -c '[."transaction-id", .request."http-method", .request."uri-query-fragment", .response."status-code", .request.body.data, .response.body.data]' \
    "$work/kills.ndjson" | sort -u | jq -r '.[0]' | uniq -d | wc -l)
  if [ "$inconsistent" -eq 0 ]; then pass "every re-sent transaction is identical to the original, id included"
  else fail "re-sends that differ from the original" "$inconsistent transaction ids"; fi

  # Offline: the same events exported as NDJSON give the same transactions.
  python3 - "$AWS_ENDPOINT_URL" "$group" >"$work/export.ndjson" <<'PY'
import json, sys, boto3
logs = boto3.client("logs", endpoint_url=sys.argv[1], region_name="us-east-1")
kw = {"logGroupName": sys.argv[2]}
while True:
    page = logs.filter_log_events(**kw)
    for e in page["events"]:
        print(json.dumps({k: e[k] for k in ("logStreamName", "timestamp", "message", "ingestionTime", "eventId")}))
    if not page.get("nextToken"):
        break
    kw["nextToken"] = page["nextToken"]
PY
  if "$bin" stitch --source flex-gateway --log-group "$group" --input "$work/export.ndjson" >"$work/stitch.ndjson" 2>"$work/stitch.log" &&
     diff -q <(jq -r .id "$work/stitch.ndjson" | sort) <(jq -r .id "$work/oracle.ndjson" | sort) >/dev/null &&
     grep -q '"layouts":{"apitap":'"$apitap"',"cequence":'"$cequence"'}' "$work/stitch.log"; then
    pass "apitap stitch --source flex-gateway gives the tick's transactions from the exported events"
  else fail "offline stitch" "$(tail -2 "$work/stitch.log" | head -c 400)"; fi

  finish
}

finish() {
  summary
  exit $?
}

main "$@"
