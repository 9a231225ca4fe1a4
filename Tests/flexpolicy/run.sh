#!/usr/bin/env bash
# scripts/flex-policy.sh against the strict API Manager double (a separate process; 3 environments, 6 APIs each with
# their own policies, Message Logging automated policies of someone else in Staging and Production): apply twice is
# one policy (automated, then per API instance in the three listing shapes); the applied configuration is the table
# of docs/flex-gateway.md; a new asset version is a PATCH; remove deletes ours and nothing else (foreign policies
# compared before and after); show; a bad .env reports every problem and makes no request; an unknown API id, a
# refused second automated policy, a Connected App without Manage Policies and a missing terminal change nothing;
# 429s are waited out, a 503 that persists is a clear error; without View APIs Configuration only the automated
# policy is managed; the secret from Secrets Manager (moto); the secret and
# the token never appear in any output nor on any command line.
# Prints "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/apitap-flexpolicy-test.XXXXXX)
# shellcheck source=Tests/lib.sh
. "$root/Tests/lib.sh"
script="$root/scripts/flex-policy.sh"
label=apitap-message-logging
secret="fp-writer-$RANDOM$RANDOM-secret"
printf '%s\n' "$secret" >"$work/needles"
# What the command-line sampler keeps: the secret, the double's tokens, bearer headers, and curl (to show it saw them).
printf '%s\n' "$secret" amtok- Bearer curl >"$work/patterns"
export AM_CLIENT_ID=flex-writer AM_CLIENT_SECRET=$secret FLEX_POLICY_RETRY_SECONDS=0.1

# write_env FILE PORT ENV [LINES...]: a .env for the double on PORT and environment ENV, plus LINES.
write_env() {
  local file=$1 port=$2 env=$3
  shift 3
  printf '%s\n' "ANYPOINT_CLIENT_ID=flex-writer" "ANYPOINT_ORG_ID=org-posture" "ANYPOINT_ENV_ID=$env" \
    "ANYPOINT_BASE_URL=http://127.0.0.1:$port" "$@" >"$file"
}

# run NAME ENV-FILE ACTION: the script with --yes, the secret in its environment (RUN_SECRET, default the writer's;
# empty: none); exit status in $status, stdout in $work/NAME.out, stderr in $work/NAME.err.
RUN_SECRET=$secret
RUN_YES=--yes
run() {
  local name=$1 file=$2 action=$3
  status=0
  (
    if [ -n "$RUN_SECRET" ]; then export ANYPOINT_CLIENT_SECRET=$RUN_SECRET; else unset ANYPOINT_CLIENT_SECRET; fi
    exec setsid -w "$script" "$action" --env-file "$file" ${RUN_YES:+"$RUN_YES"} </dev/null
  ) >"$work/$name.out" 2>"$work/$name.err" || status=$?
}

am() { python3 "$root/Tests/flexpolicy/am.py" "$@"; }

# stop PID: stops a double started in this shell (its stats file is then written).
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# A snapshot without the policies carrying our label: what must stay exactly as it was.
foreign_only() {
  jq -S --arg l "$label" '
    map_values(.automated |= map(select((.configurationData.loggingConfiguration // []) as $i
                                 | ($i | length > 0 and all($i[]; .itemName | startswith($l + ":"))) | not))
               | .apis |= map_values(map(select(.label != $l))))'
}

test_automated_apply_twice() {
  write_env "$work/dev.env" "$port" env-dev
  run apply-1 "$work/dev.env" apply
  local s1=$status
  run apply-2 "$work/dev.env" apply
  local ours
  ours=$(am ours "$port" env-dev "$label")
  if [ "$s1" -eq 0 ] && [ "$status" -eq 0 ] && jq -e '(.automated | length) == 1 and (.apis | length) == 0' <<<"$ours" >/dev/null &&
    grep -q 'create the automated policy of environment env-dev' "$work/apply-1.err" && grep -q '^==> nothing to change' "$work/apply-2.err" &&
    grep -Eq "^[0-9]+ +environment env-dev \(automated\) +message-logging +2\.0\.2 +$label +current *$" "$work/apply-2.out"; then
    pass "apply twice (FLEX_APIS=all): one automated policy for the environment, the second run changes nothing"
  else
    fail "automated apply twice" "exit $s1/$status, ours: $ours" "$(cat "$work/apply-1.err" "$work/apply-2.err" | tail -6)"
  fi
}

test_layout_is_the_documented_one() {
  local out
  if out=$(am layout "$port" env-dev "$label" "$root/docs/flex-gateway.md" 2>&1); then
    pass "the applied configurationData is the table of docs/flex-gateway.md, item for item ($out)"
  else
    fail "layout against the docs" "$out"
  fi
}

test_new_version_is_a_patch() {
  local before after
  before=$(am ours "$port" env-dev "$label" | jq -c '.automated[0].id')
  write_env "$work/dev-203.env" "$port" env-dev FLEX_POLICY_ASSET_VERSION=2.0.3
  run apply-203 "$work/dev-203.env" apply
  after=$(am ours "$port" env-dev "$label")
  if [ "$status" -eq 0 ] && jq -e --argjson id "$before" '(.automated | length) == 1 and .automated[0].id == $id and .automated[0].assetVersion == "2.0.3"' \
    <<<"$after" >/dev/null && grep -q "update the automated policy of environment env-dev (id $before)" "$work/apply-203.err"; then
    pass "a new FLEX_POLICY_ASSET_VERSION updates our automated policy in place (PATCH, same id)"
  else
    fail "version change" "exit $status, before id $before, after $after" "$(tail -4 "$work/apply-203.err")"
  fi
}

test_per_api_apply_twice() {
  # 10001, 10002 and 10003 list their policies in the three shapes (full array, wrapped, compact).
  write_env "$work/apis.env" "$port" env-dev FLEX_APIS=10001,10002,10003
  run apis-1 "$work/apis.env" apply
  local s1=$status ours
  run apis-2 "$work/apis.env" apply
  ours=$(am ours "$port" env-dev "$label")
  if [ "$s1" -eq 0 ] && [ "$status" -eq 0 ] &&
    jq -e '(.automated | length) == 0 and (.apis | keys) == ["10001", "10002", "10003"] and all(.apis[]; length == 1)' <<<"$ours" >/dev/null &&
    grep -q 'delete the automated policy of environment env-dev' "$work/apis-1.err" && grep -q '^==> nothing to change' "$work/apis-2.err"; then
    pass "per-API apply twice (FLEX_APIS=10001,10002,10003): one policy on each listed API, our automated policy removed, the second run changes nothing"
  else
    fail "per-API apply twice" "exit $s1/$status, ours: $ours" "$(cat "$work/apis-1.err" "$work/apis-2.err" | tail -8)"
  fi
  # A shorter list moves the policy: the API no longer listed loses ours.
  write_env "$work/apis-2.env" "$port" env-dev FLEX_APIS=10001,10002
  run apis-3 "$work/apis-2.env" apply
  ours=$(am ours "$port" env-dev "$label")
  if [ "$status" -eq 0 ] && jq -e '(.apis | keys) == ["10001", "10002"]' <<<"$ours" >/dev/null; then
    pass "an API dropped from FLEX_APIS loses our policy on the next apply"
  else
    fail "shorter FLEX_APIS" "exit $status, ours: $ours" "$(tail -4 "$work/apis-3.err")"
  fi
  # Ours disabled by hand: show says so, apply enables it again in place.
  local id after
  id=$(jq '.apis["10001"][0].id' <<<"$ours")
  am disable "$port" env-dev 10001 "$id"
  run show-disabled "$work/apis-2.env" show
  run apis-4 "$work/apis-2.env" apply
  after=$(am ours "$port" env-dev "$label")
  if [ "$status" -eq 0 ] && grep -Eq "^$id +api 10001 .* disabled *$" "$work/show-disabled.out" &&
    grep -q "update the policy on API instance 10001 (id $id)" "$work/apis-4.err" &&
    jq -e --argjson id "$id" '.apis["10001"] == [{"id": $id, "assetVersion": "2.0.2", "disabled": false}]' <<<"$after" >/dev/null; then
    pass "ours disabled by hand: show says disabled, apply enables the same policy again (no second one)"
  else
    fail "disabled policy" "exit $status, ours: $after" "$(cat "$work/show-disabled.out")" "$(tail -4 "$work/apis-4.err")"
  fi
}

test_show() {
  run show "$work/apis-2.env" show
  local rows
  rows=$(grep -Ec "^[0-9]+ +api 1000[12] +message-logging +2\.0\.2 +$label +current *$" "$work/show.out" || true)
  if [ "$status" -eq 0 ] && [ "$rows" -eq 2 ] && [ "$(wc -l <"$work/show.out")" -eq 3 ] && head -1 "$work/show.out" | grep -Eq '^ID +SCOPE +ASSET +VERSION +LABEL +STATE'; then
    pass "show lists our two per-API policies (id, scope, asset, version, label, state) under a header"
  else
    fail "show" "exit $status" "$(cat "$work/show.out" "$work/show.err")"
  fi
  # The names of Cequence's policy script's .env stand for ours.
  printf '%s\n' 'anypoint_client_id="flex-writer"' 'organization="org-posture"' 'environment="env-dev"' \
    "base_url=\"http://127.0.0.1:$port\"" FLEX_APIS=10001,10002 >"$work/cequence.env"
  run show-cequence "$work/cequence.env" show
  if [ "$status" -eq 0 ] && cmp -s "$work/show.out" "$work/show-cequence.out" && ! grep -q 'unknown setting' "$work/show-cequence.err"; then
    pass "an .env with the names of Cequence's policy script (anypoint_client_id, organization, environment, base_url) works as ours"
  else
    fail "Cequence names" "exit $status" "$(cat "$work/show-cequence.out" "$work/show-cequence.err")"
  fi
}

test_remove_leaves_foreign_policies() {
  local ids before after ours
  ids=$(am foreign "$port" env-dev 10001)
  am snapshot "$port" | foreign_only >"$work/before.json"
  run remove "$work/apis-2.env" remove
  local s1=$status
  am snapshot "$port" | jq -S . >"$work/after.json"
  ours=$(am ours "$port" env-dev "$label")
  run show-after "$work/apis-2.env" show
  if [ "$s1" -eq 0 ] && cmp -s "$work/before.json" "$work/after.json" && jq -e '(.automated | length) == 0 and (.apis | length) == 0' <<<"$ours" >/dev/null &&
    [ "$(wc -l <"$work/show-after.out")" -eq 1 ] && grep -q "api 10001: ${ids#* }" "$work/show-after.err"; then
    pass "remove deletes our per-API policies and nothing else (every other policy of the 3 environments as before, a foreign Message Logging one included)"
  else
    fail "remove (per API)" "exit $s1, ours after: $ours, foreign ids: $ids" "$(diff <(jq . "$work/before.json") <(jq . "$work/after.json") | head -10)" "$(tail -4 "$work/remove.err")"
  fi
  # The same for the automated policy, next to a foreign automated policy of the same environment.
  run apply-again "$work/dev.env" apply
  am snapshot "$port" | foreign_only >"$work/before2.json"
  run remove-2 "$work/dev.env" remove
  am snapshot "$port" | jq -S . >"$work/after2.json"
  ours=$(am ours "$port" env-dev "$label")
  if [ "$status" -eq 0 ] && cmp -s "$work/before2.json" "$work/after2.json" && jq -e '(.automated | length) == 0' <<<"$ours" >/dev/null &&
    grep -q 'delete the automated policy of environment env-dev' "$work/remove-2.err"; then
    pass "remove deletes our automated policy and leaves the foreign automated policy of the environment"
  else
    fail "remove (automated)" "exit $status, ours after: $ours" "$(tail -4 "$work/remove-2.err")"
  fi
}

# Failures after the .env was read: each changes nothing (the whole organization compared before and after).
test_refusals_change_nothing() {
  am snapshot "$port" >"$work/snap-0.json"
  local results=() s
  write_env "$work/unknown.env" "$port" env-dev FLEX_APIS=10001,99999,99998
  run unknown "$work/unknown.env" apply
  s=$status
  grep -q 'API instance 99999 is not in environment env-dev' "$work/unknown.err" && grep -q 'API instance 99998 is not in environment env-dev' "$work/unknown.err" &&
    [ "$s" -eq 1 ] || results+=("unknown API ids: exit $s: $(tail -3 "$work/unknown.err")")

  write_env "$work/stg.env" "$port" env-stg
  run conflict "$work/stg.env" apply
  s=$status
  grep -q 'already has a Message Logging automated policy that is not labelled' "$work/conflict.err" && grep -q 'nothing was changed' "$work/conflict.err" &&
    [ "$s" -eq 1 ] || results+=("409 conflict: exit $s: $(tail -3 "$work/conflict.err")")

  write_env "$work/reader.env" "$port" env-dev FLEX_APIS=10004 && sed -i 's/=flex-writer$/=posture-client/' "$work/reader.env"
  RUN_SECRET=posture-client-secret-value run reader "$work/reader.env" apply
  s=$status
  grep -q 'HTTP 403: .*Manage Policies' "$work/reader.err" && grep -q 'nothing was changed' "$work/reader.err" && [ "$s" -eq 1 ] ||
    results+=("read-only app: exit $s: $(tail -3 "$work/reader.err")")

  RUN_YES="" run notty "$work/apis.env" apply
  s=$status
  grep -q 'no terminal to ask on' "$work/notty.err" && [ "$s" -eq 1 ] || results+=("no terminal: exit $s: $(tail -3 "$work/notty.err")")

  RUN_SECRET=wrong-secret run badsecret "$work/dev.env" apply
  s=$status
  grep -q "refused the Connected App's credentials (HTTP 401" "$work/badsecret.err" && [ "$s" -eq 1 ] || results+=("bad secret: exit $s: $(tail -3 "$work/badsecret.err")")

  am snapshot "$port" >"$work/snap-1.json"
  cmp -s "$work/snap-0.json" "$work/snap-1.json" || results+=("the organization changed")
  if [ "${#results[@]}" -eq 0 ]; then
    pass "an unknown API id (both named), a refused second automated policy (409), a read-only Connected App (403), no terminal to confirm on and a wrong secret: each a clear error, nothing changed"
  else
    fail "refusals" "${results[@]}"
  fi
}

test_bad_env_makes_no_request() {
  launch_double "$double" bad --apis 2 --client "flex-writer:$secret:all"
  local pid=$launched_pid p=$launched_port n missing=()
  printf '%s\n' "ANYPOINT_CLIENT_ID=" "ANYPOINT_ORG_ID=org posture" "ANYPOINT_ENV_ID=CHANGE_ME" "ANYPOINT_BASE_URL=http://127.0.0.1:$p" \
    "ANYPOINT_CLIENT_SECRET_NAME=apitap/flex" "FLEX_APIS=10001,abc" "FLEX_POLICY_LABEL=:bad" "FLEX_POLICY_ASSET_VERSION=latest" \
    "this line is not a setting" >"$work/bad.env"
  run bad "$work/bad.env" apply
  local s1=$status
  printf '%s\n' "ANYPOINT_CLIENT_ID=flex-writer" "ANYPOINT_ORG_ID=org-posture" "ANYPOINT_ENV_ID=env-dev" "ANYPOINT_BASE_URL=https://anypoint.example.com" >"$work/bad-url.env"
  run bad-url "$work/bad-url.env" apply
  stop "$pid"
  n=$(grep -c '^  - ' "$work/bad.err" || true)
  for m in 'line 9: not a KEY=VALUE line' 'ANYPOINT_CLIENT_ID is empty' 'ANYPOINT_ORG_ID must be an Anypoint id' 'ANYPOINT_ENV_ID still holds a placeholder' \
    'ANYPOINT_CLIENT_SECRET and ANYPOINT_CLIENT_SECRET_NAME are both set' "FLEX_APIS: 'abc' is not an API instance id" 'FLEX_POLICY_LABEL must be' \
    'FLEX_POLICY_ASSET_VERSION must be'; do
    grep -qF -- "$m" "$work/bad.err" || missing+=("$m")
  done
  if [ "$s1" -eq 1 ] && [ "$n" -eq 8 ] && [ "${#missing[@]}" -eq 0 ] && grep -q '^error: 8 problem(s)' "$work/bad.err" &&
    [ "$status" -eq 1 ] && grep -q 'ANYPOINT_BASE_URL must be one of https://anypoint.mulesoft.com' "$work/bad-url.err" &&
    jq -e '.requests == 0 and .tokensIssued == 0' "$work/bad-stats.json" >/dev/null; then
    pass "a bad .env reports its 8 problems at once, a control plane outside US/EU/Gov is refused, and the double saw no request at all"
  else
    fail "bad .env" "exit $s1/$status, $n problems, missing: ${missing[*]}" "stats: $(cat "$work/bad-stats.json" 2>&1)" "$(cat "$work/bad.err")"
  fi
}

test_throttled_and_no_secret_on_command_lines() {
  # Every 3rd call is a 429; meanwhile every process's command line is sampled for the secret and the token.
  launch_double "$double" throttled --apis 3 --throttle-every 3 --client "flex-writer:$secret:all"
  local pid=$launched_pid p=$launched_port sampler seen ours
  write_env "$work/throttled.env" "$p" env-dev FLEX_APIS=10001,10002
  : >"$work/sampling"
  # The doubles have the writer's secret on their own command lines (--client): not looked at.
  python3 "$root/Tests/flexpolicy/cmdlines.py" "$work/sampling" "$work/patterns" "$work/cmdlines" "$pid" "$main_pid" &
  sampler=$!
  pids+=("$sampler")
  run throttled-1 "$work/throttled.env" apply
  local s1=$status
  run throttled-2 "$work/throttled.env" apply
  local s2=$status
  rm -f "$work/sampling"
  wait "$sampler" 2>/dev/null || true
  ours=$(AM_CLIENT_ID=flex-writer am ours "$p" env-dev "$label" 2>&1 || true)
  stop "$pid"
  seen=$(grep -c "curl .*127.0.0.1:$p" "$work/cmdlines" || true)
  if [ "$s1" -eq 0 ] && [ "$s2" -eq 0 ] && jq -e '(.apis | keys) == ["10001", "10002"]' <<<"$ours" >/dev/null &&
    jq -e '.throttled > 2' "$work/throttled-stats.json" >/dev/null && grep -q 'HTTP 429 from Anypoint; retrying' "$work/throttled-1.err"; then
    pass "429s are waited out: apply twice through $(jq .throttled "$work/throttled-stats.json") throttled calls still makes one policy per API"
  else
    fail "429s" "exit $s1/$s2, ours: $ours" "$(tail -4 "$work/throttled-1.err")"
  fi
  # Tokens are looked for in the command lines that talk to this double (other processes on the machine are not ours).
  if [ "$seen" -gt 0 ] && ! grep -F -q -f "$work/needles" "$work/cmdlines" && ! grep -F "127.0.0.1:$p" "$work/cmdlines" | grep -q -e 'amtok-' -e 'Bearer'; then
    pass "neither the secret nor the token is on any command line ($seen curl command lines sampled during the runs)"
  else
    fail "command lines" "curl command lines seen: $seen" "$(grep -F -f "$work/needles" -e amtok- -e Bearer "$work/cmdlines" | head -3 | cut -c1-200)"
  fi
}

test_without_view_apis_scope() {
  launch_double "$double" noview --apis 2 --client "flex-writer:$secret:view-policies,manage-policies"
  local pid=$launched_pid p=$launched_port s1
  write_env "$work/noview.env" "$p" env-dev
  run noview-all "$work/noview.env" apply
  s1=$status
  write_env "$work/noview-apis.env" "$p" env-dev FLEX_APIS=10001
  run noview-apis "$work/noview-apis.env" apply
  stop "$pid"
  if [ "$s1" -eq 0 ] && grep -q 'per-API policies are not looked at' "$work/noview-all.err" && [ "$status" -eq 1 ] &&
    grep -q 'HTTP 403: .*View APIs Configuration.*nothing was changed$' "$work/noview-apis.err"; then
    pass "without View APIs Configuration: the automated policy is applied (with a warning), per-API apply is a clear 403 and changes nothing"
  else
    fail "without View APIs Configuration" "exit $s1/$status" "$(tail -3 "$work/noview-all.err" "$work/noview-apis.err")"
  fi
}

test_persistent_503() {
  launch_double "$double" failing --apis 2 --fail-env env-dev:503 --client "flex-writer:$secret:all"
  local pid=$launched_pid p=$launched_port
  write_env "$work/failing.env" "$p" env-dev
  run failing "$work/failing.env" apply
  stop "$pid"
  if [ "$status" -eq 1 ] && [ "$(grep -c 'HTTP 503 from Anypoint; retrying' "$work/failing.err")" -eq 4 ] &&
    grep -q '^error: listing the automated policies of environment env-dev: HTTP 503: .*nothing was changed$' "$work/failing.err" &&
    jq -e '[.byRoute | keys[] | select(test("create|patch|delete"))] | length == 0' "$work/failing-stats.json" >/dev/null; then
    pass "a 503 that persists: four retries, then one clear error; no write reached the double"
  else
    fail "persistent 503" "exit $status" "$(cat "$work/failing.err")" "$(cat "$work/failing-stats.json")"
  fi
}

test_secret_from_secrets_manager() {
  if ! start_moto; then
    fail "moto_server did not start" "$(tail -5 "$work/moto.log")"
    return
  fi
  printf '%s' "$secret" >"$work/secret.txt"
  if ! aws secretsmanager create-secret --region "$AWS_REGION" --name apitap/flex-writer --secret-string "file://$work/secret.txt" \
    >/dev/null 2>"$work/create-secret.err"; then
    fail "creating the secret in moto" "$(cat "$work/create-secret.err")"
    return
  fi
  rm -f "$work/secret.txt"
  write_env "$work/sm.env" "$port" env-dev ANYPOINT_CLIENT_SECRET_NAME=apitap/flex-writer FLEX_APIS=10005
  RUN_SECRET="" run sm "$work/sm.env" apply
  local s1=$status ours
  ours=$(am ours "$port" env-dev "$label")
  write_env "$work/sm-missing.env" "$port" env-dev ANYPOINT_CLIENT_SECRET_NAME=apitap/none
  RUN_SECRET="" run sm-missing "$work/sm-missing.env" remove
  if [ "$s1" -eq 0 ] && jq -e '(.apis | keys) == ["10005"]' <<<"$ours" >/dev/null && [ "$status" -eq 1 ] &&
    grep -q '^error: cannot read the client secret from Secrets Manager (apitap/none: .*nothing was changed$' "$work/sm-missing.err" &&
    [ "$(am ours "$port" env-dev "$label" | jq '.apis | length')" -eq 1 ]; then
    pass "the secret read from Secrets Manager (ANYPOINT_CLIENT_SECRET_NAME, moto) applies; a missing secret is a clear error and removes nothing"
  else
    fail "Secrets Manager" "exit $s1/$status, ours: $ours" "$(tail -3 "$work/sm.err" "$work/sm-missing.err")"
  fi
}

test_no_secret_in_output() {
  local leaks
  leaks=$(grep -l -F -f "$work/needles" -e posture-client-secret-value -e amtok- "$work"/*.out "$work"/*.err 2>/dev/null || true)
  if [ -z "$leaks" ]; then
    pass "no secret and no token in any output of any run ($(find "$work" -maxdepth 1 -name '*.err' | wc -l) runs)"
  else
    fail "secret in output" "$leaks"
  fi
}

main() {
  (cd "$root" && swift build --product api-manager-double >"$work/build.log" 2>&1) || { cat "$work/build.log" >&2; exit 1; }
  double="$(cd "$root" && swift build --show-bin-path)/api-manager-double"
  launch_double "$double" double --apis 6 --client "flex-writer:$secret:all" || exit 1
  port=$launched_port
  main_pid=$launched_pid
  test_automated_apply_twice
  test_layout_is_the_documented_one
  test_new_version_is_a_patch
  test_per_api_apply_twice
  test_show
  test_remove_leaves_foreign_policies
  test_refusals_change_nothing
  test_bad_env_makes_no_request
  test_throttled_and_no_secret_on_command_lines
  test_without_view_apis_scope
  test_persistent_503
  test_secret_from_secrets_manager
  test_no_secret_in_output
  summary
}

main "$@"
