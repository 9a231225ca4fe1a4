# shellcheck shell=bash
# Shared helpers of the shell test suites (sourced, not run): counting, background servers stopped by PID, ports.
# The including script sets `work` (a scratch directory) before sourcing; `pids` collects what to stop.
passed=0
failed=0
pids=()

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # KEEP_TEST_WORK=1 keeps the scratch directory (logs, records) for a failure to be looked at.
  if [ "${KEEP_TEST_WORK:-}" = 1 ]; then echo "kept ${work:?}" >&2; else rm -rf "${work:?}"; fi
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1"; [ $# -gt 1 ] && printf '    %s\n' "${@:2}"; return 0; }

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

# The closing line any runner can read.
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
