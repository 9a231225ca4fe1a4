#!/usr/bin/env bash
# Tests of the packaged zip: its layout, that it runs in an empty root file system (no host library can be used),
# and that it serves invocations under ministack, a real Runtime API written independently of ours.
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
  for f in bootstrap bin/apitap lib/ld-linux-x86-64.so.2 lib/libc.so.6 lib/libcurl.so.4 lib/libz.so.1 certs/ca-bundle.crt; do
    grep -qx "$f" <<<"$listing" || missing+=("$f")
  done
  if [ "${#missing[@]}" -eq 0 ]; then pass "zip holds bootstrap, binary, loader, libc, libcurl, zlib and a CA bundle"
  else fail "zip layout" "missing: ${missing[*]}"; fi

  unzip -q -o "$zip_path" bootstrap -d "$work/layout"
  if file "$work/layout/bootstrap" | grep -q "statically linked"; then pass "bootstrap is a static executable (needs no loader of the image)"
  else fail "bootstrap is not static" "$(file "$work/layout/bootstrap")"; fi

  local size
  size=$(stat -c %s "$zip_path")
  if [ "$size" -le $((25 * 1024 * 1024)) ]; then pass "zip size $size bytes is within 25 MiB"
  else fail "zip size $size bytes exceeds 25 MiB"; fi
}

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
}

main() {
  [ -f "$zip_path" ] || { echo "no package at $zip_path: run make package" >&2; exit 1; }
  [ -x "$root/.build/release/apitap" ] || { echo "no release binary: run make package" >&2; exit 1; }
  test_zip_layout
  test_empty_root
  test_ministack
  summary
}

main "$@"
