#!/usr/bin/env bash
# Deploys the same template as a plain stack in one account and region (StackSets never reach the management account).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/lib" && pwd)
# shellcheck source=lib/common.sh
. "$LIB_DIR/common.sh"
# shellcheck source=lib/settings.sh
. "$LIB_DIR/settings.sh"
# shellcheck source=lib/aws.sh
. "$LIB_DIR/aws.sh"
# shellcheck source=lib/stack.sh
. "$LIB_DIR/stack.sh"

FORCE_UPDATE=false
DELETE=false

usage() {
  usage_common " [--delete] [--force-update]"
  log "  --delete        delete the stack instead (the artifacts stay; teardown.sh removes them)"
  log "  --force-update  update the stack even when nothing seems to differ (e.g. a new UAP_CLIENT_SECRET)"
  log "The stack is STACK_NAME (default apitap) in STACK_REGION (default STACKSET_REGION), in the current account."
}

main() {
  parse_common_args "$@"
  local a
  for a in "${EXTRA_ARGS[@]}"; do
    case $a in
      --delete) DELETE=true ;;
      --force-update) FORCE_UPDATE=true ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage
        exit 2
        ;;
    esac
  done
  make_work_dir
  if $DELETE; then
    load_settings teardown
    plain_stack_settings
    confirm "Delete stack $STACK_NAME in $STACK_REGION (account $ACCOUNT_ID)?" || die "cancelled; nothing was changed"
    delete_plain_stack
    return
  fi
  load_settings stack
  plain_stack_settings
  info "account $ACCOUNT_ID; plain stack $STACK_NAME in $STACK_REGION; collect REST=$(cfg ENABLE_REST_APIS true) HTTP=$(cfg ENABLE_HTTP_APIS true)"
  confirm "Proceed?" || die "cancelled; nothing was changed"

  info "artifacts in $STACK_REGION"
  ensure_bucket "$STACK_REGION"
  upload_artifacts "$STACK_REGION"
  stack_parameters_json >"$WORK_DIR/params.json"

  local status
  status=$(stack_status)
  case $status in
    "")
      info "creating stack $STACK_NAME"
      aws --region "$STACK_REGION" cloudformation create-stack --stack-name "$STACK_NAME" \
        --template-url "$(template_url "$STACK_REGION")" --parameters "file://$WORK_DIR/params.json" \
        --capabilities CAPABILITY_NAMED_IAM --tags Key=apitap,Value=stack >/dev/null
      ;;
    ROLLBACK_COMPLETE)
      die "stack $STACK_NAME is ROLLBACK_COMPLETE (its first creation failed); delete it with --delete, fix the cause, run again"
      ;;
    *_IN_PROGRESS)
      die "stack $STACK_NAME is $status; wait for it to finish and run again"
      ;;
    *)
      if stack_is_current && ! $FORCE_UPDATE; then
        info "stack $STACK_NAME is up to date ($status)"
        return 0
      fi
      info "updating stack $STACK_NAME"
      local out
      if ! out=$(aws --region "$STACK_REGION" cloudformation update-stack --stack-name "$STACK_NAME" \
        --template-url "$(template_url "$STACK_REGION")" --parameters "file://$WORK_DIR/params.json" \
        --capabilities CAPABILITY_NAMED_IAM 2>&1); then
        if [[ $out == *"No updates are to be performed"* ]]; then
          info "stack $STACK_NAME: no updates to perform"
          return 0
        fi
        die "update-stack failed: $out"
      fi
      ;;
  esac
  wait_stack
}

stack_is_current() {
  local have_t
  have_t=$(aws --region "$STACK_REGION" cloudformation get-template --stack-name "$STACK_NAME" --template-stage Original \
    --output json | jq -S '.TemplateBody | if type == "string" then fromjson else . end' 2>/dev/null) || return 1
  [[ $have_t == "$(jq -S . "$TEMPLATE_FILE")" ]] || return 1
  aws --region "$STACK_REGION" cloudformation describe-stacks --stack-name "$STACK_NAME" --output json |
    jq '.Stacks[0].Parameters // []' | params_match "$WORK_DIR/params.json"
}

main "$@"
