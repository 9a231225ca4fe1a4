# shellcheck shell=bash disable=SC2154,SC2034  # sourced by Tests/scripts/run.sh, which sets ROOT, HERE and the helpers
# Service-managed StackSets through Organizations: OU targets and account filters.

# moto's service-managed StackSets create an instance for every account of the target OUs and of their
# direct child OUs; they ignore AccountFilterType (INTERSECTION/DIFFERENCE) and never skip the management
# account. So for the filters these cases check what enable.sh plans and what it asks CloudFormation for
# (the DeploymentTargets of the recorded create-stack-instances call), and that the instances moto made
# cover the planned accounts and nothing outside the targeted OU; moto cannot show the filtering itself.
# moto also fails service-managed instances whose template has a custom resource (it looks the hidden
# stack up in the wrong place), so these .env files say logging is already on: no Custom::EnableLogging.
ORG_JSON=""
org_prepare() { # org_prepare FILTER-TYPE [JQ-PATH-OF-A-FILTER-ACCOUNT...], e.g. '.accounts.workloads[1]'
  local ftype=$1 ou p
  shift
  make_zip "$CASE_DIR/apitap.zip"
  ORG_JSON=$(python3 "$HERE/moto_helper.py" org-setup)
  ou=$(jq -r .ous.workloads <<<"$ORG_JSON")
  printf 'ou_id\n%s\n' "$ou" >"$CASE_DIR/ous.csv"
  printf 'account_id\n' >"$CASE_DIR/filter.csv"
  for p in "$@"; do jq -r "$p" <<<"$ORG_JSON" >>"$CASE_DIR/filter.csv"; done
  write_env "$CASE_DIR/org.env" AWS_REGIONS=eu-west-1 STACKSET_REGION=eu-west-1 ORGANIZATION_DEPLOYMENT=true \
    ORGANIZATION_ID="$(jq -r .org_id <<<"$ORG_JSON")" OU_TARGETS_FILE=ous.csv ACCOUNTS_FILE= \
    ACCOUNT_FILTER_TYPE="$ftype" ACCOUNT_FILTER_FILE=filter.csv \
    REST_EXECUTION_LOGS_ALREADY_ENABLED=true HTTP_ACCESS_LOGS_ALREADY_ENABLED=true
  export STACKSET_REGION=eu-west-1 # where moto_helper.py state looks for StackSets
  install_aws_shim
  set +e
  OUT=$(PATH="$CASE_DIR/shim:$PATH" "$ROOT/scripts/enable.sh" --env "$CASE_DIR/org.env" --yes 2>&1 </dev/null)
  RC=$?
  set -e
  printf '%s\n' "$OUT"
  assert_eq "$RC" 0 "enable.sh (service-managed $ftype) exit code"
  STATE=$(state)
  assert_eq "$(jq_state '.stacksets.apitap.permission_model')" SERVICE_MANAGED "permission model"
  assert_eq "$(jq_state '.buckets["apitap-test-eu-west-1#policy"].Statement[0].Condition.StringEquals["aws:PrincipalOrgID"]')" \
    "$(jq -r .org_id <<<"$ORG_JSON")" "bucket policy scoped to the organization"
  assert_eq "$(jq_state '.buckets | keys | map(select(contains("#") | not)) | join(" ")')" apitap-test-eu-west-1 "buckets"
}
# sent_targets: the DeploymentTargets enable.sh sent with create-stack-instances.
sent_targets() {
  jq -c 'select(index("create-stack-instances")) | .[index("--deployment-targets") + 1] | fromjson' "$CASE_DIR/aws-calls.jsonl"
}
instance_accounts() { jq_state '[.stacksets.apitap.instances[] | split("/")[0]] | unique | join(" ")'; }
org() { jq -r "$1" <<<"$ORG_JSON"; }
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }

case_org_none() {
  org_prepare NONE
  local ou
  ou=$(org .ous.workloads)
  assert_contains "$OUT" "accounts that will get instances: $(sorted "$(org '.accounts.workloads[0]')" "$(org '.accounts.workloads[1]')" "$(org '.accounts.workloads[2]')")" "plan"
  assert_eq "$(sent_targets)" "{\"OrganizationalUnitIds\":[\"$ou\"]}" "DeploymentTargets sent"
  assert_eq "$(instance_accounts)" "$(org '.accounts.workloads | sort | join(" ")')" "accounts with instances"
  [[ " $(instance_accounts) " != *" $(org .management) "* ]] || case_fail "the management account got an instance"
  # Idempotent here too: a second run creates nothing.
  run_script enable.sh --env "$CASE_DIR/org.env" --yes
  assert_eq "$RC" 0 "second enable.sh"
  assert_contains "$OUT" "every planned account already has an instance in every region" "second run"
}

case_org_intersection() {
  # The filter names one account inside the OU and one outside it: only the first may get an instance.
  org_prepare INTERSECTION '.accounts.workloads[1]' '.accounts.other[0]'
  local w1 o0 ou
  w1=$(org '.accounts.workloads[1]') o0=$(org '.accounts.other[0]') ou=$(org .ous.workloads)
  assert_contains "$OUT" "accounts that will get instances: $w1"$'\n' "plan (only the listed account inside the OU)"
  assert_eq "$(sent_targets)" "{\"OrganizationalUnitIds\":[\"$ou\"],\"AccountFilterType\":\"INTERSECTION\",\"Accounts\":[\"$w1\",\"$o0\"]}" "DeploymentTargets sent"
  assert_contains " $(instance_accounts) " " $w1 " "the planned account has an instance"
  [[ " $(instance_accounts) " != *" $o0 "* ]] || case_fail "an account outside the OU got an instance"
}

case_org_difference() {
  org_prepare DIFFERENCE '.accounts.workloads[0]'
  local w0 ou
  w0=$(org '.accounts.workloads[0]') ou=$(org .ous.workloads)
  assert_contains "$OUT" "accounts that will get instances: $(sorted "$(org '.accounts.workloads[1]')" "$(org '.accounts.workloads[2]')")"$'\n' "plan (the OU minus the listed account)"
  assert_eq "$(sent_targets)" "{\"OrganizationalUnitIds\":[\"$ou\"],\"AccountFilterType\":\"DIFFERENCE\",\"Accounts\":[\"$w0\"]}" "DeploymentTargets sent"
  assert_contains " $(instance_accounts) " " $(org '.accounts.workloads[1]') " "planned account 1 has an instance"
  assert_contains " $(instance_accounts) " " $(org '.accounts.workloads[2]') " "planned account 2 has an instance"
  [[ " $(instance_accounts) " != *" $(org '.accounts.other[0]') "* ]] || case_fail "an account outside the OU got an instance"
}
