# shellcheck shell=bash
# Shared helpers of the shell test suites (sourced, not run): counting, background servers stopped by PID, ports,
# moto_server and the UAP Edge double. The including script sets `work` (a scratch directory), `root` (the repository)
# and, for kill_ticks, `bin` before sourcing; `pids` collects what to stop.
passed=0
failed=0
pids=()

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local pid f
  # Servers started in subshells (parallel lanes) leave their PID in $work/*.pid: those are stopped too.
  for f in "${work:?}"/*.pid; do [ -e "$f" ] && pids+=("$(<"$f")"); done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # KEEP_TEST_WORK=1 keeps the scratch directory (logs, records) for a failure to be looked at.
  if [ "${KEEP_TEST_WORK:-}" = 1 ]; then echo "kept ${work:?}" >&2; else rm -rf "${work:?}"; fi
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1"; [ $# -gt 1 ] && printf '    %s\n' "${@:2}"; return 0; }

# Cases, one subshell each: run_case NAME FUNCTION runs FUNCTION with errexit in $CASE_DIR (its working directory;
# fresh_case_dir makes a new one, steps of one scenario share it), output in a log beside it. The first failed
# assertion (case_fail, assert_*) or command ends the case, so nothing after it can pass by accident. Prints and
# counts "ok - NAME" or "not ok - NAME" with the log's last lines. CASE_FILTER runs only names that contain it.
case_seq=0
CASE_DIR=""
fresh_case_dir() {
  case_seq=$((case_seq + 1))
  CASE_DIR="${work:?}/case-$BASHPID-$case_seq"
  mkdir -p "$CASE_DIR"
}
run_case() {
  local name=$1 fn=$2 rc t0=$SECONDS log errexit=false
  if [ -n "${CASE_FILTER:-}" ] && [[ $name != *"$CASE_FILTER"* ]]; then return 0; fi
  [ -n "$CASE_DIR" ] || fresh_case_dir
  case_seq=$((case_seq + 1))
  log="$CASE_DIR-$case_seq.log"
  [[ $- == *e* ]] && errexit=true
  set +e
  (
    set -euo pipefail
    cd "$CASE_DIR"
    "$fn"
  ) >"$log" 2>&1
  rc=$?
  if $errexit; then set -e; fi
  if [ "$rc" -eq 0 ]; then
    pass "$name ($((SECONDS - t0)) s)"
  else
    local lines=()
    mapfile -t lines < <(tail -n 40 "$log")
    fail "$name ($((SECONDS - t0)) s)" "${lines[@]/#/| }"
  fi
}
case_fail() { echo "ASSERTION FAILED: $*" >&2; exit 1; }
assert_eq() { [[ $1 == "$2" ]] || case_fail "$3: expected '$2', got '$1'"; }
assert_contains() { [[ $1 == *"$2"* ]] || case_fail "$3: output does not contain '$2'"; }
assert_not_contains() { [[ $1 != *"$2"* ]] || case_fail "$3: output contains '$2'"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# wait_for_port PORT [TRIES]: until something accepts on 127.0.0.1:PORT (0.1 s between tries).
wait_for_port() {
  local port=$1 tries=${2:-150}
  while [ "$tries" -gt 0 ]; do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
    tries=$((tries - 1))
  done
  return 1
}

# launch_double BIN NAME ARGS...: a double process in this shell (its PID reaches the cleanup list), its output in
# $work/NAME.out and .err, its counters in $work/NAME-stats.json; sets launched_pid, and launched_port once the double
# says "ready PORT".
# shellcheck disable=SC2034  # launched_pid and launched_port are read by the including suite
launch_double() {
  local bin=$1 name=$2 tries=100
  shift 2
  "$bin" "$@" --stats "$work/$name-stats.json" >"$work/$name.out" 2>"$work/$name.err" &
  launched_pid=$!
  pids+=("$launched_pid")
  while [ "$tries" -gt 0 ] && ! grep -q '^ready ' "$work/$name.out" 2>/dev/null; do sleep 0.1; tries=$((tries - 1)); done
  grep -q '^ready ' "$work/$name.out" || { echo "${bin##*/} did not start: $(cat "$work/$name.err")" >&2; return 1; }
  launched_port=$(awk '/^ready /{print $2}' "$work/$name.out")
}

# make_ca: a test CA and a server certificate for 127.0.0.1 signed by it, in $work (ca.pem, server.pem, server.key).
make_ca() {
  (cd "$work" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=apitap e2e CA' &&
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' &&
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >ext.cnf &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf) >/dev/null 2>&1
}

# start_moto: moto_server on a free loopback port, in this shell (never in $(...): its PID must reach the cleanup
# list); exports the AWS settings that point at it. Output in $work/moto.log. start_named_moto NAME: the same for one
# of several (parallel lanes): output in $work/moto-NAME.log, and its PID also in $work/moto-NAME.pid, so that one
# started in a subshell is stopped too.
start_moto() { start_named_moto ""; }
start_named_moto() {
  local port suffix=${1:+-$1}
  port=$(free_port)
  moto_server -H 127.0.0.1 -p "$port" >"$work/moto$suffix.log" 2>&1 &
  pids+=("$!")
  [ -z "$suffix" ] || echo "$!" >"$work/moto$suffix.pid"
  wait_for_port "$port" || { echo "moto_server did not start: $(tail -5 "$work/moto$suffix.log")" >&2; return 1; }
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port"
}

# start_edge_double NAME CLIENT_ID CLIENT_SECRET [FAULTS]: the strict UAP Edge double over HTTPS with the test CA
# (make_ca first), in this shell; accepted records go to $work/NAME.ndjson; sets double_port.
# shellcheck disable=SC2154,SC2034  # root is the including script's; double_port is read by it
start_edge_double() {
  local name=$1 id=$2 secret=$3 faults=${4:-} port
  port=$(free_port)
  : >"$work/$name.ndjson"
  python3 "$root/Tests/Support/uap_edge_double.py" --port "$port" --cert "$work/server.pem" --key "$work/server.key" \
    --schema "$root/docs/edge-transaction.schema.json" --records "$work/$name.ndjson" --client-id "$id" \
    --client-secret "$secret" --token-ttl 3600 --max-batch-bytes 65536 --max-batch-transactions 250 \
    --faults "$faults" --slow-seconds 4 >"$work/$name.double.log" 2>&1 &
  pids+=("$!")
  wait_for_port "$port" || { echo "the UAP double did not start: $(cat "$work/$name.double.log")" >&2; return 1; }
  double_port=$port
}

# Ids of what an Edge double received, and of a native oracle's transactions that Edge can express.
edge_keys() { jq -r '."transaction-id"' "$1" | sort; }
oracle_keys() { jq -r 'select(.request.method != null and .request.path != null and .response.status != null) | .id' "$1" | sort; }

# tick NAME ENV-LINES...: one run of `$bin tick` with those settings; stdout in $work/NAME.out, stderr in $work/NAME.log.
# shellcheck disable=SC2154  # bin is the including script's
tick() {
  local name=$1; shift
  env "$@" "$bin" tick --timeout 120 >"$work/$name.out" 2>"$work/$name.log"
}

# kill_ticks LOG ENV-LINES...: six ticks of $bin killed with SIGKILL at random points (stderr appended to LOG).
# shellcheck disable=SC2154  # bin is the including script's
kill_ticks() {
  local log=$1 pid delay
  shift
  for _ in 1 2 3 4 5 6; do
    env "$@" "$bin" tick --timeout 120 >/dev/null 2>>"$log" &
    pid=$!
    delay=$(python3 -c "import random; print(round(random.uniform(0.05, 0.8), 3))")
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# The closing line any runner can read.
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
