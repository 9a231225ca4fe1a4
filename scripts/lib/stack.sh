# shellcheck shell=bash disable=SC2034,SC2153  # globals here are read by the scripts that source this file
# The plain (non-StackSet) stack: create, update, wait, delete. Used by deploy-stack.sh and teardown.sh.

STACK_NAME=""
STACK_REGION=""

plain_stack_settings() {
  STACK_NAME=$(cfg STACK_NAME apitap)
  STACK_REGION=$(cfg STACK_REGION "$(cfg STACKSET_REGION us-east-1)")
}

# stack_status: the stack's status, or nothing when it does not exist.
stack_status() {
  local out errf="$WORK_DIR/stack.err"
  if out=$(aws --region "$STACK_REGION" cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query 'Stacks[0].StackStatus' --output text 2>"$errf"); then
    [[ $out == DELETE_COMPLETE ]] || printf '%s' "$out"
    return 0
  fi
  grep -q 'does not exist' "$errf" && return 0
  cat "$errf" >&2
  return 1
}

# wait_stack: until the stack leaves *_IN_PROGRESS; true on CREATE_COMPLETE/UPDATE_COMPLETE/gone.
wait_stack() {
  local status deadline
  deadline=$(($(date +%s) + 60 * $(cfg OPERATION_TIMEOUT_MINUTES 60)))
  while true; do
    status=$(stack_status)
    case $status in
      "" | DELETE_COMPLETE)
        info "stack $STACK_NAME: deleted"
        return 0
        ;;
      CREATE_COMPLETE | UPDATE_COMPLETE)
        info "stack $STACK_NAME: $status"
        return 0
        ;;
      *_IN_PROGRESS) ;;
      *)
        log "error: stack $STACK_NAME in $STACK_REGION: $status"
        aws --region "$STACK_REGION" cloudformation describe-stack-events --stack-name "$STACK_NAME" --output json 2>/dev/null |
          jq -r '.StackEvents[] | select(.ResourceStatus | test("FAILED")) | [.LogicalResourceId, .ResourceStatus, (.ResourceStatusReason // "")] | @tsv' |
          head -n 10 | print_table >&2 || true
        return 1
        ;;
    esac
    if (($(date +%s) > deadline)); then
      log "error: stack $STACK_NAME still $status after $(cfg OPERATION_TIMEOUT_MINUTES 60) minutes"
      return 1
    fi
    sleep "$POLL_SECONDS"
  done
}

delete_plain_stack() {
  local status
  status=$(stack_status) || return 1
  if [[ -z $status ]]; then
    info "stack $STACK_NAME does not exist in $STACK_REGION"
    return 0
  fi
  info "deleting stack $STACK_NAME in $STACK_REGION"
  aws --region "$STACK_REGION" cloudformation delete-stack --stack-name "$STACK_NAME"
  wait_stack
}
