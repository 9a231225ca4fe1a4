#!/usr/bin/env bash
# Tests of the packaged zip: its layout, that it runs in an empty root file system (no host library can be used),
# and that it serves invocations under ministack, a real Runtime API written independently of ours; in both, an
# audit export to a real rsyslogd over RELP proves that the librelp the zip carries (opened with dlopen, so no ldd
# of the binary shows it) loads from lib/ and delivers.
# Prints "N passed, N failed"; exits non-zero on any failure. Needs root (mknod, chroot) and the zip (make package).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
zip_path="$root/.build/lambda/apitap.zip"
work=$(mktemp -d /tmp/apitap-package-test.XXXXXX)
# shellcheck source=Tests/lib.sh
. "$root/Tests/lib.sh"

apitap_cli() { "$root/.build/release/apitap" "$@"; }

test_zip_layout() {
  local listing
  listing=$(unzip -Z1 "$zip_path")
  local f missing=()
  for f in bootstrap bin/apitap lib/ld-linux-x86-64.so.2 lib/libc.so.6 lib/libcurl.so.4 lib/libz.so.1 lib/librelp.so.0 \
    lib/libgnutls.so.30 certs/ca-bundle.crt; do
    grep -qx "$f" <<<"$listing" || missing+=("$f")
  done
  if [ "${#missing[@]}" -eq 0 ]; then pass "zip holds bootstrap, binary, loader, libc, libcurl, zlib, librelp (+ GnuTLS) and a CA bundle"
  else fail "zip layout" "missing: ${missing[*]}"; fi

  unzip -q -o "$zip_path" bootstrap -d "$work/layout"
  if file "$work/layout/bootstrap" | grep -q "statically linked"; then pass "bootstrap is a static executable (needs no loader of the image)"
  else fail "bootstrap is not static" "$(file "$work/layout/bootstrap")"; fi

  local size
  size=$(stat -c %s "$zip_path")
  if [ "$size" -le $((25 * 1024 * 1024)) ]; then pass "zip size $size bytes is within 25 MiB"
  else fail "zip size $size bytes exceeds 25 MiB"; fi
}

# Every object that librelp.so.0 needs resolves inside lib/ alone (as the loader does under bootstrap).
test_relp_closure() {
  local listing count
  unzip -q -o "$zip_path" 'lib/*' -d "$work/libs"
  listing=$(env -i "$work/libs/lib/ld-linux-x86-64.so.2" --library-path "$work/libs/lib" --list "$work/libs/lib/librelp.so.0" 2>&1) || true
  count=$(find "$work/libs/lib" -type f | wc -l)
  if grep -q "not found" <<<"$listing" || grep "=> /" <<<"$listing" | grep -vq "$work/libs/lib/"; then
    fail "librelp's closure is not complete in lib/" "$listing"
  else pass "librelp.so.0 and its closure resolve inside lib/ alone ($count shared objects in lib/)"; fi
}

# start_relp_receiver: an unprivileged rsyslogd with one imrelp input on a free port; sets relp_port. It writes
# $work/relp/relp.log, one line per message.
start_relp_receiver() {
  local dir="$work/relp"
  # rsyslogd runs as nobody: it must be able to pass through the (mktemp, 0700) scratch directory to its own.
  chmod 711 "$work"
  mkdir -p "$dir"
  chmod 777 "$dir"
  relp_port=$(free_port)
  cat >"$dir/rsyslog.conf" <<EOF
global(workDirectory="$dir" maxMessageSize="256k")
module(load="imrelp")
template(name="fields" type="string" string="%protocol-version%|%app-name%|%msg%\\n")
ruleset(name="relp") { action(type="omfile" file="$dir/relp.log" template="fields") }
input(type="imrelp" address="127.0.0.1" port="$relp_port" ruleset="relp" maxDataSize="256k")
EOF
  chmod 644 "$dir/rsyslog.conf"
  setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/sbin/rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" \
    >"$dir/rsyslogd.out" 2>&1 &
  pids+=("$!")
  wait_for_port "$relp_port" 100
}

# start_double: the Anypoint double (1,000 entries in org-1) as a process; sets double_port.
start_double() {
  local double tries=100
  (cd "$root" && swift build --product anypoint-double >"$work/double-build.log" 2>&1) || return 1
  double="$(cd "$root" && swift build --show-bin-path)/anypoint-double"
  "$double" --orgs org-1 --entries 1000 --days 3 >"$work/double.out" 2>"$work/double.err" &
  pids+=("$!")
  while [ "$tries" -gt 0 ] && ! grep -q '^ready ' "$work/double.out"; do sleep 0.1; tries=$((tries - 1)); done
  double_port=$(awk '/^ready /{print $2}' "$work/double.out")
  [ -n "$double_port" ]
}

relp_lines() { if [ -f "$work/relp/relp.log" ]; then wc -l <"$work/relp/relp.log"; else echo 0; fi; }

# The audit export's settings with checkpoints in state directory $1 (one VAR=value a line).
audit_settings() {
  printf '%s\n' "ANYPOINT_BASE_URL=http://127.0.0.1:$double_port" "ANYPOINT_CLIENT_ID=audit-client" \
    "ANYPOINT_CLIENT_SECRET=audit-secret-value" "ANYPOINT_ORG_IDS=org-1" "AUDIT_START=P5D" "AUDIT_LAG_SECONDS=0" \
    "AUDIT_RATE_LIMIT_PER_MINUTE=100000" "AUDIT_SINKS=syslog+relp://127.0.0.1:$relp_port" "STATE_URI=file://$1"
}

# relp_delivered ANSWER_JSON: records the RELP sink delivered, per the export summary.
relp_delivered() { jq -r '[.sinks | to_entries[] | select(.key | startswith("syslog+relp")) | .value.delivered][0] // empty' <<<"$1" 2>/dev/null || true; }

# An empty root: only var/task (the zip), tmp/ and the device nodes; no /lib, no /usr, no /proc, no /bin/sh.
test_empty_root() {
  if [ "$(id -u)" -ne 0 ]; then fail "empty-root run needs root (mknod, chroot)"; return; fi
  local rootfs="$work/rootfs" port out
  mkdir -p "$rootfs/var/task" "$rootfs/tmp" "$rootfs/dev"
  unzip -q "$zip_path" -d "$rootfs/var/task"
  mknod -m 666 "$rootfs/dev/null" c 1 3
  mknod -m 666 "$rootfs/dev/zero" c 1 5
  mknod -m 666 "$rootfs/dev/random" c 1 8
  mknod -m 666 "$rootfs/dev/urandom" c 1 9
  port=$(free_port)
  apitap_cli runtime-api --event "$root/events/health.json" --port "$port" --timeout 30 >"$work/chroot.out" 2>"$work/chroot.err" &
  local api=$!
  pids+=("$api")
  wait_for_port "$port" || { fail "runtime-api did not start"; return; }
  env -i AWS_LAMBDA_RUNTIME_API="127.0.0.1:$port" _HANDLER=health LAMBDA_TASK_ROOT=/var/task AWS_LAMBDA_LOG_FORMAT=JSON \
    "$(command -v chroot)" "$rootfs" /var/task/bootstrap >"$work/bootstrap.out" 2>"$work/bootstrap.err" || true
  wait "$api" || true
  out=$(cat "$work/chroot.out")
  if jq -e '.status == "ok" and (.handlers | index("health")) != null' >/dev/null 2>&1 <<<"$out"; then
    pass "bootstrap serves an invocation in an empty root file system"
  else
    fail "bootstrap in an empty root file system" "response: $out" "runtime: $(head -c 600 "$work/bootstrap.err")"
  fi
  if [ -z "$(find "$rootfs" -mindepth 1 -maxdepth 1 ! -name var ! -name tmp ! -name dev)" ]; then
    pass "the empty root stayed empty (nothing but var, tmp, dev)"
  else fail "unexpected files appeared in the root" "$(ls "$rootfs")"; fi

  # The audit export to rsyslog over RELP from the same empty root: librelp and GnuTLS come from lib/ or nowhere.
  if [ -z "${relp_port:-}" ] || [ -z "${double_port:-}" ]; then fail "empty-root RELP export: no receiver or no double"; return; fi
  local before after delivered settings=()
  mapfile -t settings < <(audit_settings /tmp/state)
  port=$(free_port)
  apitap_cli runtime-api --event "$root/events/audit-export.json" --port "$port" --timeout 60 >"$work/chroot-relp.out" 2>"$work/chroot-relp.err" &
  api=$!
  pids+=("$api")
  wait_for_port "$port" || { fail "runtime-api (RELP) did not start"; return; }
  before=$(relp_lines)
  env -i AWS_LAMBDA_RUNTIME_API="127.0.0.1:$port" _HANDLER=audit-export LAMBDA_TASK_ROOT=/var/task LOG_FORMAT=text "${settings[@]}" \
    "$(command -v chroot)" "$rootfs" /var/task/bootstrap >"$work/bootstrap-relp.out" 2>"$work/bootstrap-relp.err" || true
  wait "$api" || true
  out=$(cat "$work/chroot-relp.out")
  delivered=$(relp_delivered "$out")
  sleep 0.5
  after=$(relp_lines)
  if jq -e '.exported == 1000' >/dev/null 2>&1 <<<"$out" && [ -n "$delivered" ] && [ $((after - before)) -ge "$delivered" ]; then
    pass "in the empty root, audit-export delivers all 1,000 entries to rsyslog over RELP ($delivered records with alerts; librelp from lib/)"
  else
    fail "empty-root audit export over RELP" "delivered=$delivered lines=$((after - before))" "response: ${out:0:600}" \
      "runtime: $(tail -c 600 "$work/bootstrap-relp.err")"
  fi
}

test_ministack() {
  local venv="$root/.venv-ministack" port endpoint log="$work/ministack.log"
  if [ ! -x "$venv/bin/ministack" ]; then
    # Its own environment: it pins a botocore that conflicts with the aws CLI's.
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q ministack==1.5.33; }; then
      fail "ministack could not be installed"; return
    fi
  fi
  port=$(free_port)
  endpoint="http://127.0.0.1:$port"
  BIND_HOST=127.0.0.1 GATEWAY_PORT="$port" LAMBDA_EXECUTOR=local "$venv/bin/ministack" >"$log" 2>&1 &
  pids+=("$!")
  wait_for_port "$port" 200 || { fail "ministack did not start" "$(tail -5 "$log")"; return; }

  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
  local aws=(aws --endpoint-url "$endpoint" --region us-east-1)
  "${aws[@]}" lambda create-function --function-name apitap-health --runtime provided.al2023 --handler health \
    --role arn:aws:iam::000000000000:role/apitap --zip-file "fileb://$zip_path" --architectures x86_64 --timeout 30 >/dev/null \
    || { fail "create-function failed"; return; }

  local meta1 meta2 body1 body2
  meta1=$("${aws[@]}" lambda invoke --function-name apitap-health --payload "fileb://$root/events/health.json" "$work/r1.json")
  meta2=$("${aws[@]}" lambda invoke --function-name apitap-health --payload "fileb://$root/events/health.json" "$work/r2.json")
  body1=$(cat "$work/r1.json"); body2=$(cat "$work/r2.json")
  if jq -e '.FunctionError == null and .StatusCode == 200' >/dev/null <<<"$meta1" && jq -e '.status == "ok" and .configuration._HANDLER == "health"' >/dev/null <<<"$body1"; then
    pass "ministack: first (cold) invocation answers the health summary"
  else fail "ministack: first invocation" "$meta1" "$body1"; fi
  if jq -e '.FunctionError == null' >/dev/null <<<"$meta2" && jq -e '.status == "ok"' >/dev/null <<<"$body2" \
     && [ "$(jq -r .requestId <<<"$body1")" != "$(jq -r .requestId <<<"$body2")" ]; then
    pass "ministack: second invocation answers with its own request id"
  else fail "ministack: second invocation" "$meta2" "$body2"; fi
  local starts
  starts=$(grep -c "apitap-health (cold start)" "$log" || true)
  if [ "$starts" -eq 1 ]; then pass "ministack: the second invocation was warm (one process start for two invocations)"
  else fail "ministack: expected one cold start, saw $starts"; fi

  "${aws[@]}" lambda create-function --function-name apitap-nope --runtime provided.al2023 --handler no-such-handler \
    --role arn:aws:iam::000000000000:role/apitap --zip-file "fileb://$zip_path" --timeout 10 >/dev/null || { fail "create-function (nope) failed"; return; }
  local meta3 body3
  meta3=$("${aws[@]}" lambda invoke --function-name apitap-nope --payload "fileb://$root/events/health.json" "$work/r3.json")
  body3=$(cat "$work/r3.json")
  # ministack wraps init errors as Runtime.Unknown with our posted body in the message.
  if jq -e '.FunctionError == "Unhandled"' >/dev/null <<<"$meta3" && grep -q "Runtime.NoSuchHandler" <<<"$body3" && grep -q "no-such-handler" <<<"$body3"; then
    pass "ministack: an unknown handler is reported as Runtime.NoSuchHandler"
  else fail "ministack: unknown handler" "$meta3" "$body3"; fi

  # audit-export to rsyslog over RELP under ministack (the function's environment carries the settings).
  if [ -z "${relp_port:-}" ] || [ -z "${double_port:-}" ]; then fail "ministack RELP export: no receiver or no double"; return; fi
  local environment before after meta4 body4 delivered
  environment=$(audit_settings "$work/ministack-state" | jq -R 'split("=") | {(.[0]): (.[1:] | join("="))}' | jq -cs '{Variables: add}')
  "${aws[@]}" lambda create-function --function-name apitap-audit --runtime provided.al2023 --handler audit-export \
    --role arn:aws:iam::000000000000:role/apitap --zip-file "fileb://$zip_path" --timeout 60 --environment "$environment" >/dev/null \
    || { fail "create-function (audit) failed"; return; }
  before=$(relp_lines)
  meta4=$("${aws[@]}" lambda invoke --function-name apitap-audit --payload "fileb://$root/events/audit-export.json" "$work/r4.json")
  body4=$(cat "$work/r4.json")
  delivered=$(relp_delivered "$body4")
  sleep 0.5
  after=$(relp_lines)
  if jq -e '.FunctionError == null' >/dev/null <<<"$meta4" && jq -e '.exported == 1000' >/dev/null 2>&1 <<<"$body4" &&
    [ -n "$delivered" ] && [ $((after - before)) -ge "$delivered" ]; then
    pass "ministack: audit-export delivers all 1,000 entries to rsyslog over RELP ($delivered records with alerts)"
  else fail "ministack: audit export over RELP" "$meta4" "${body4:0:600}" "lines: $((after - before))"; fi
}

main() {
  [ -f "$zip_path" ] || { echo "no package at $zip_path: run make package" >&2; exit 1; }
  [ -x "$root/.build/release/apitap" ] || { echo "no release binary: run make package" >&2; exit 1; }
  test_zip_layout
  test_relp_closure
  start_relp_receiver || fail "rsyslogd with imrelp did not start" "$(cat "$work/relp/rsyslogd.out" 2>/dev/null)"
  start_double || fail "anypoint-double did not start" "$(tail -5 "$work/double-build.log" "$work/double.err" 2>/dev/null)"
  test_empty_root
  test_ministack
  summary
}

main "$@"
