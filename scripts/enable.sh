#!/usr/bin/env bash
# Rolls apitap out: artifact buckets and uploads per region, then the StackSet and its instances.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/lib" && pwd)
# shellcheck source=lib/common.sh
. "$LIB_DIR/common.sh"
# shellcheck source=lib/settings.sh
. "$LIB_DIR/settings.sh"
# shellcheck source=lib/aws.sh
. "$LIB_DIR/aws.sh"

FORCE_UPDATE=false

main() {
  parse_common_args "$@"
  local a
  for a in "${EXTRA_ARGS[@]}"; do
    case $a in
      --force-update) FORCE_UPDATE=true ;;
      -h | --help)
        usage_common " [--force-update]"
        log "  --force-update  update the StackSet even when nothing seems to differ (e.g. a new UAP_CLIENT_SECRET)"
        exit 0
        ;;
      *)
        usage_common " [--force-update]"
        exit 2
        ;;
    esac
  done
  make_work_dir
  load_settings enable

  local planned=()
  if $ORG; then
    mapfile -t planned < <(planned_org_accounts)
  fi
  show_plan "${planned[@]}"
  confirm "Proceed?" || die "cancelled; nothing was changed"

  local r
  for r in "${BUCKET_REGIONS[@]}"; do
    info "artifacts in $r"
    ensure_bucket "$r"
    ensure_bucket_policy "$r"
    upload_artifacts "$r"
  done

  if ! is_true AUTO_CREATE_STACKSET true; then
    info "AUTO_CREATE_STACKSET=false: artifacts uploaded; create the StackSet yourself with:"
    log "    template URL: $(template_url "$SS_REGION")"
    log "    parameters:   ArtifactBucketPrefix=$BUCKET_PREFIX CodeKey=$(code_key) (see docs/operations.md for the others)"
    exit 0
  fi

  stack_parameters_json >"$WORK_DIR/params.json"
  ensure_stack_set
  if $ORG; then
    ensure_org_instances "${planned[@]}"
  else
    ensure_self_instances
  fi
  result_table
}

show_plan() {
  info "account $ACCOUNT_ID; StackSet $SS_NAME in $SS_REGION ($(if $ORG; then printf 'SERVICE_MANAGED, call as %s' "$(cfg CALL_AS SELF)"; else printf 'SELF_MANAGED'; fi))"
  log "    regions: ${REGIONS[*]}"
  log "    artifact buckets: $BUCKET_PREFIX-<region>$(is_true MANAGE_BUCKETS true && printf ' (created when missing)')"
  log "    collect: REST=$(cfg ENABLE_REST_APIS true) HTTP=$(cfg ENABLE_HTTP_APIS true)"
  if $ORG; then
    log "    targets: OUs ${OU_TARGETS[*]}, filter $FILTER_TYPE${FILTER_ACCOUNTS[*]:+ (${FILTER_ACCOUNTS[*]})}"
    log "    accounts that will get instances: ${*:-none}"
    log "    (StackSets never deploy to the organization's management account: use deploy-stack.sh there)"
  else
    log "    target accounts: ${TARGET_ACCOUNTS[*]}"
  fi
}

ensure_stack_set() {
  local desc prefs op
  desc=$(ss_describe)
  prefs=$(operation_preferences)
  if [[ -z $desc ]]; then
    info "creating StackSet $SS_NAME"
    local model=(--permission-model SELF_MANAGED)
    if $ORG; then
      model=(--permission-model SERVICE_MANAGED --auto-deployment "Enabled=true,RetainStacksOnAccountRemoval=false")
    fi
    ss_call create-stack-set --stack-set-name "$SS_NAME" "${CALL_AS_ARGS[@]}" \
      --description "apitap: API Gateway logs to Cequence UAP" \
      --template-url "$(template_url "$SS_REGION")" --parameters "file://$WORK_DIR/params.json" \
      --capabilities CAPABILITY_NAMED_IAM "${model[@]}" --tags Key=apitap,Value=stackset >/dev/null
    return 0
  fi
  local have_model want_model=SELF_MANAGED
  $ORG && want_model=SERVICE_MANAGED
  have_model=$(jq -r '.StackSet.PermissionModel // "SELF_MANAGED"' <<<"$desc")
  [[ $have_model == "$want_model" ]] ||
    die "StackSet $SS_NAME is $have_model but ORGANIZATION_DEPLOYMENT asks for $want_model; run disable.sh with the old settings first"

  local same_template same_params
  same_template=false
  same_params=false
  if [[ $(jq -S '.StackSet.TemplateBody | fromjson' <<<"$desc" 2>/dev/null) == "$(jq -S . "$TEMPLATE_FILE")" ]]; then
    same_template=true
  fi
  if jq '.StackSet.Parameters // []' <<<"$desc" | params_match "$WORK_DIR/params.json"; then
    same_params=true
  fi
  if $same_template && $same_params && ! $FORCE_UPDATE; then
    info "StackSet $SS_NAME is up to date"
    return 0
  fi
  info "updating StackSet $SS_NAME (template $($same_template && echo unchanged || echo changed), parameters $($same_params && echo unchanged || echo changed))"
  op=$(ss_call update-stack-set --stack-set-name "$SS_NAME" "${CALL_AS_ARGS[@]}" \
    --template-url "$(template_url "$SS_REGION")" --parameters "file://$WORK_DIR/params.json" \
    --capabilities CAPABILITY_NAMED_IAM --operation-preferences "$prefs" | jq -r .OperationId)
  wait_operation "$op" "update StackSet"
}

# Self-managed: create the missing account/region pairs, one call per group of accounts missing the same regions.
ensure_self_instances() {
  local rows account r missing groups=() g prefs op
  rows=$(list_instances)
  prefs=$(operation_preferences)
  local -A by_regions=()
  for account in "${TARGET_ACCOUNTS[@]}"; do
    missing=""
    for r in "${REGIONS[@]}"; do
      if [[ -z $(jq -r --arg a "$account" --arg r "$r" 'select(.Account == $a and .Region == $r) | .Account' <<<"$rows") ]]; then
        missing+="$r "
      fi
    done
    [[ -z $missing ]] && continue
    by_regions[$missing]+="$account "
  done
  warn_foreign_instances "$rows"
  if ((${#by_regions[@]} == 0)); then
    info "every target account already has an instance in every region"
    return 0
  fi
  for g in "${!by_regions[@]}"; do groups+=("$g"); done
  for g in "${groups[@]}"; do
    local accounts=() regions=()
    read -r -a accounts <<<"${by_regions[$g]}"
    read -r -a regions <<<"$g"
    info "creating instances: accounts ${accounts[*]}, regions ${regions[*]}"
    op=$(ss_call create-stack-instances --stack-set-name "$SS_NAME" --accounts "${accounts[@]}" --regions "${regions[@]}" \
      --operation-preferences "$prefs" | jq -r .OperationId)
    wait_operation "$op" "create instances" || return 1
  done
}

warn_foreign_instances() {
  local extra
  extra=$(jq -r '[.Account, .Region] | @tsv' <<<"$1" | while IFS=$'\t' read -r a r; do
    [[ -z $a ]] && continue
    if [[ " ${TARGET_ACCOUNTS[*]} " != *" $a "* || " ${REGIONS[*]} " != *" $r "* ]]; then printf '%s/%s ' "$a" "$r"; fi
  done)
  [[ -z $extra ]] || warn "instances outside the .env's targets are left alone: $extra(disable.sh removes every instance)"
}

# Service-managed: create instances for the OU targets in the regions where a planned account has none yet.
ensure_org_instances() {
  local planned=("$@") rows r a regions=() targets prefs op
  if ((${#planned[@]} == 0)); then
    warn "no account of the target OUs passes the filter; no instance to create"
    return 0
  fi
  rows=$(list_instances)
  for r in "${REGIONS[@]}"; do
    for a in "${planned[@]}"; do
      if [[ -z $(jq -r --arg a "$a" --arg r "$r" 'select(.Account == $a and .Region == $r) | .Account' <<<"$rows") ]]; then
        regions+=("$r")
        break
      fi
    done
  done
  if ((${#regions[@]} == 0)); then
    info "every planned account already has an instance in every region"
    return 0
  fi
  local ous=()
  mapfile -t ous < <(resolve_ou_ids)
  targets=$(jq -n -c --arg f "$FILTER_TYPE" --argjson accounts "$(printf '%s\n' "${FILTER_ACCOUNTS[@]}" | jq -R 'select(. != "")' | jq -s -c .)" \
    '{OrganizationalUnitIds: $ARGS.positional} + (if $f == "NONE" then {} else {AccountFilterType: $f, Accounts: $accounts} end)' \
    --args "${ous[@]}")
  prefs=$(operation_preferences)
  info "creating instances: targets $targets, regions ${regions[*]}"
  op=$(ss_call create-stack-instances --stack-set-name "$SS_NAME" "${CALL_AS_ARGS[@]}" --deployment-targets "$targets" \
    --regions "${regions[@]}" --operation-preferences "$prefs" | jq -r .OperationId)
  wait_operation "$op" "create instances"
}

main "$@"
