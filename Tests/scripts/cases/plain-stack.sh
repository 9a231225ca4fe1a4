# shellcheck shell=bash disable=SC2154,SC2034  # sourced by Tests/scripts/run.sh, which sets ROOT, HERE and the helpers
# deploy-stack.sh: a plain stack in one account.

# moto never completes a stack whose custom resource gets no answer (nothing serves enable-logging here),
# so this stack says logging is already on: the template then has no custom resource.
case_plain_stack() {
  make_zip "$CASE_DIR/apitap.zip"
  printf 'account_id\n111111111111\n' >"$CASE_DIR/accounts.csv"
  write_env "$CASE_DIR/e.env" STACK_REGION=eu-west-1 STACK_NAME=apitap-mgmt \
    REST_EXECUTION_LOGS_ALREADY_ENABLED=true HTTP_ACCESS_LOGS_ALREADY_ENABLED=true
  run_script deploy-stack.sh --env "$CASE_DIR/e.env" --yes
  assert_eq "$RC" 0 "deploy-stack.sh exit code"
  assert_contains "$OUT" "stack apitap-mgmt: CREATE_COMPLETE" "stack status"
  local fns
  fns=$(python3 "$HERE/moto_helper.py" functions 123456789012 eu-west-1)
  assert_eq "$(jq -r 'keys | join(" ")' <<<"$fns")" "apitap-tick-eu-west-1" "functions in the management account"
  assert_eq "$(jq -r '.["apitap-tick-eu-west-1"].env | index("UAP_CLIENT_SECRET") == null' <<<"$fns")" true "no plain secret in the environment"
  run_script deploy-stack.sh --env "$CASE_DIR/e.env" --yes
  assert_eq "$RC" 0 "second deploy-stack.sh exit code"
  assert_contains "$OUT" "stack apitap-mgmt is up to date" "second run"
  run_script deploy-stack.sh --env "$CASE_DIR/e.env" --yes --delete
  assert_eq "$RC" 0 "deploy-stack.sh --delete exit code"
  fns=$(python3 "$HERE/moto_helper.py" functions 123456789012 eu-west-1)
  assert_eq "$fns" "{}" "functions after --delete"
}
