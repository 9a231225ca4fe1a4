#!/usr/bin/env bash
# Switches apitap off: one kind of API (REST or HTTP) by parameter update, or all of it by deleting the StackSet.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/lib" && pwd)
# shellcheck source=lib/common.sh
. "$LIB_DIR/common.sh"
# shellcheck source=lib/settings.sh
. "$LIB_DIR/settings.sh"
# shellcheck source=lib/aws.sh
. "$LIB_DIR/aws.sh"

main() {
  parse_common_args "$@"
  if ((${#EXTRA_ARGS[@]})); then
    usage_common ""
    log "With ENABLE_REST_APIS or ENABLE_HTTP_APIS false in the .env, that kind stops being collected;"
    log "with both false, every instance and the StackSet are deleted (the artifacts stay; teardown.sh removes them),"
    log "unless FLEX_SOURCE is on: then the StackSet stays for the Flex Gateway source with both kinds switched off."
    [[ ${EXTRA_ARGS[0]} == -h || ${EXTRA_ARGS[0]} == --help ]] && exit 0
    exit 2
  fi
  make_work_dir
  load_settings disable

  local rest http desc
  rest=$(cfg ENABLE_REST_APIS true)
  http=$(cfg ENABLE_HTTP_APIS true)
  if [[ $rest == true && $http == true ]]; then
    die "ENABLE_REST_APIS and ENABLE_HTTP_APIS are both true in $ENV_FILE: set the kind to switch off to false (both false removes the StackSet)"
  fi
  desc=$(ss_describe)
  if [[ -z $desc ]]; then
    info "StackSet $SS_NAME does not exist in $SS_REGION: nothing to disable"
    exit 0
  fi

  local flex deployed_flex
  flex=$(cfg FLEX_SOURCE none)
  deployed_flex=$(jq -r '.StackSet.Parameters[]? | select(.ParameterKey == "FlexSource") | .ParameterValue' <<<"$desc")
  if [[ $rest == false && $http == false && $flex != none ]]; then
    # The functions also read Flex Gateway's lines: removing the StackSet would stop that too.
    info "FLEX_SOURCE=$flex: the StackSet stays for the Flex Gateway source; REST and HTTP collection is switched off (set FLEX_SOURCE=none as well to remove the StackSet)"
    update_kinds "$desc" "$rest" "$http"
    return 0
  fi
  if [[ $rest == false && $http == false ]]; then
    if [[ -n $deployed_flex && $deployed_flex != none ]]; then
      warn "StackSet $SS_NAME also collects Flex Gateway logs (FlexSource=$deployed_flex); with FLEX_SOURCE=none in $ENV_FILE that stops too"
    fi
    confirm "Delete every instance of StackSet $SS_NAME (stacks not retained) and the StackSet itself?" ||
      die "cancelled; nothing was changed"
    delete_stack_set
    info "StackSet $SS_NAME removed; the artifacts in $BUCKET_PREFIX-<region> stay (teardown.sh removes them)"
    return 0
  fi
  update_kinds "$desc" "$rest" "$http"
}

# The StackSet's own parameters are changed (every other parameter keeps its previous value), not per-instance
# overrides: instances that auto-deployment adds later then get the same switch.
update_kinds() {
  local desc=$1 rest=$2 http=$3 have_rest have_http params op
  have_rest=$(jq -r '.StackSet.Parameters[]? | select(.ParameterKey == "EnableRestApis") | .ParameterValue' <<<"$desc")
  have_http=$(jq -r '.StackSet.Parameters[]? | select(.ParameterKey == "EnableHttpApis") | .ParameterValue' <<<"$desc")
  if [[ $have_rest == "$rest" && $have_http == "$http" ]]; then
    info "StackSet $SS_NAME already has EnableRestApis=$rest EnableHttpApis=$http"
    result_table
    return
  fi
  confirm "Update StackSet $SS_NAME to EnableRestApis=$rest EnableHttpApis=$http in every instance?" ||
    die "cancelled; nothing was changed"
  params=$(jq -c --arg rest "$rest" --arg http "$http" '[.StackSet.Parameters[] | .ParameterKey as $k |
      if $k == "EnableRestApis" then {ParameterKey: $k, ParameterValue: $rest}
      elif $k == "EnableHttpApis" then {ParameterKey: $k, ParameterValue: $http}
      else {ParameterKey: $k, UsePreviousValue: true} end]' <<<"$desc")
  printf '%s\n' "$params" >"$WORK_DIR/params.json"
  info "updating StackSet $SS_NAME: EnableRestApis=$rest EnableHttpApis=$http"
  op=$(ss_call update-stack-set --stack-set-name "$SS_NAME" "${CALL_AS_ARGS[@]}" --use-previous-template \
    --parameters "file://$WORK_DIR/params.json" --capabilities CAPABILITY_NAMED_IAM \
    --operation-preferences "$(operation_preferences)" | jq -r .OperationId)
  wait_operation "$op" "update StackSet"
  result_table
}

main "$@"
