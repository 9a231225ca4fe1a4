#!/usr/bin/env bash
# `make run`: the tick, locally, with no AWS account. Starts moto_server on loopback, seeds it with an API Gateway
# REST API and HTTP APIs and their sample logs (events/sample-logs/), runs one tick with SEND_TO_UAP=false, shows
# the transactions (apitap's native format) and one in the Edge format UAP receives, then runs a second tick to show
# that nothing is delivered twice.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.build/local-run"
moto_pid=""

cleanup() { if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

main() {
  local port bin
  rm -rf "$out" && mkdir -p "$out"
  bin="$(cd "$root" && swift build --show-bin-path)/apitap"
  [ -x "$bin" ] || { echo "run: no apitap binary at $bin (make build)" >&2; exit 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  moto_server -H 127.0.0.1 -p "$port" >"$out/moto.log" 2>&1 &
  moto_pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  echo "== seeding moto_server on 127.0.0.1:$port with sample API Gateway logs"
  python3 "$root/scripts/dev/seed_moto.py" --endpoint "$AWS_ENDPOINT_URL" | tee "$out/seed.json"

  export SEND_TO_UAP=false OUTPUT_FILE="$out/transactions.ndjson" STATE_URI="file://$out/state"
  echo "== tick 1"
  "$bin" tick >"$out/summary-1.json" 2>"$out/tick-1.log"
  show_transactions "$out/transactions.ndjson"
  show_summary "$out/summary-1.json"
  echo "== tick 2 (the same logs again: nothing new may be delivered)"
  "$bin" tick >"$out/summary-2.json" 2>"$out/tick-2.log"
  show_summary "$out/summary-2.json"
  echo "== what UAP receives: the same REST requests in API Edge's format (apitap stitch --format edge over the sample logs), the first one:"
  "$bin" stitch --log-group API-Gateway-Execution-Logs_a1b2c3d4e5/prod --input "$root/events/sample-logs/rest-execution.ndjson" \
    --format edge 2>"$out/stitch-edge.log" | tee "$out/edge.ndjson" | head -n 1 | jq .
  echo "== files: $out/transactions.ndjson (the tick's output in apitap's native format, docs/transaction-format.md;"
  echo "   with SEND_TO_UAP=true the tick posts the Edge format, as in $out/edge.ndjson), $out/state/ (checkpoints), logs in $out/"
}

show_transactions() {
  echo "-- $(wc -l <"$1") transactions:"
  jq -r '[.source.type, (.response.status // "-" | tostring), .request.method // "-", (.request.host // "") + (.request.path // ""),
          (if .incomplete then "incomplete" else "" end), .id] | @tsv' "$1" | { column -t -s $'\t' 2>/dev/null || cat; }
}

show_summary() {
  jq -c '{logGroups, logGroupResults, eventsFetched, duplicatesSkipped, transactions: .traffic.transactionsEmitted,
          written: .written.records, notes}' "$1"
}

main "$@"
